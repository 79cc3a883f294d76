"""Evaluate a force field on labelled frames: metrics, per-frame errors, parity plot.

Frames go through the same frame → graph path as training
(:func:`molsym.data.graph.frame_to_graph`, :func:`molsym.data.collate.collate`).
Stress is predicted, and its errors reported (eV/Å³ and GPa), when the
frames carry a ``stress`` label; only periodic frames count
(:func:`molsym.train.metrics.periodic_graphs`).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from molsym.data import keys as K
from molsym.data.collate import collate
from molsym.data.graph import frame_to_graph
from molsym.files import atomic_path, atomic_write_text
from molsym.train.metrics import METRIC_UNITS, ForceFieldMetrics, frame_errors, periodic_graphs
from molsym.train.plots import plot_parity

__all__ = ["predict", "evaluate_frames", "write_report", "format_table"]


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    dt = getattr(model, "dtype", None)
    if isinstance(dt, torch.dtype):
        return dt
    if isinstance(dt, str):
        return getattr(torch, dt)
    return next(model.parameters()).dtype


def predict(model: torch.nn.Module, frames: Sequence[Dict[str, Any]], batch_size: int = 16,
            progress: bool = True) -> Dict[str, Any]:
    """Run ``model`` on ``frames``; return predictions, references and metrics.

    Returns
    -------
    dict
        ``metrics`` (see :class:`~molsym.train.metrics.ForceFieldMetrics`),
        ``per_frame`` (list of dicts: index, n_atoms, energies in eV, errors
        in meV and meV/Å, stress errors in eV/Å³ and GPa for periodic frames
        with stress), ``energy_pred``/``energy_ref`` [B] eV,
        ``num_atoms`` [B], ``forces_pred``/``forces_ref`` [N, 3] eV/Å (None
        when the frames have no forces), ``stress_pred``/``stress_ref``
        [P, 3, 3] eV/Å³ of the P periodic frames (None without stress labels
        or periodic frames).
    """
    model.eval()
    dtype = _model_dtype(model)
    metric = ForceFieldMetrics()
    rows: List[Dict[str, Any]] = []
    e_pred, e_ref, n_at, f_pred, f_ref, s_pred, s_ref = [], [], [], [], [], [], []
    starts = range(0, len(frames), batch_size)
    for start in tqdm(starts, desc="evaluating", unit="batch", disable=not progress):
        chunk = frames[start:start + batch_size]
        batch = collate([frame_to_graph(f, model.cutoff, dtype) for f in chunk])
        out = model(batch, compute_forces=True, compute_stress=K.STRESS in batch)
        pred = {k: v.detach() for k, v in out.items()}
        metric.update(pred, batch)
        errs = frame_errors(pred, batch)
        for i in range(len(chunk)):
            row = {"index": start + i, "n_atoms": int(batch[K.NUM_ATOMS][i]),
                   "energy_pred_eV": float(pred[K.ENERGY][i])}
            if K.ENERGY in batch:
                row["energy_ref_eV"] = float(batch[K.ENERGY][i])
            # a frame without stress (not periodic) leaves its stress cells empty
            row.update({k: float(v[i]) for k, v in errs.items()
                        if not (k.startswith("stress") and torch.isnan(v[i]))})
            rows.append(row)
        e_pred.append(pred[K.ENERGY].double().numpy())
        n_at.append(batch[K.NUM_ATOMS].numpy())
        if K.ENERGY in batch:
            e_ref.append(batch[K.ENERGY].double().numpy())
        if K.FORCES in batch:
            f_pred.append(pred[K.FORCES].double().numpy())
            f_ref.append(batch[K.FORCES].double().numpy())
        if K.STRESS in batch:
            periodic = periodic_graphs(batch)
            s_pred.append(pred[K.STRESS][periodic].double().numpy())
            s_ref.append(batch[K.STRESS][periodic].double().numpy())
    stress_pred = np.concatenate(s_pred) if s_pred else None
    if stress_pred is not None and len(stress_pred) == 0:
        stress_pred = None
    return {
        "metrics": {k: float(v) for k, v in metric.compute().items()},
        "per_frame": rows,
        "energy_pred": np.concatenate(e_pred), "energy_ref": np.concatenate(e_ref) if e_ref else None,
        "num_atoms": np.concatenate(n_at),
        "forces_pred": np.concatenate(f_pred) if f_pred else None,
        "forces_ref": np.concatenate(f_ref) if f_ref else None,
        "stress_pred": stress_pred,
        "stress_ref": np.concatenate(s_ref) if stress_pred is not None else None,
    }


def evaluate_frames(model: torch.nn.Module, frames: Sequence[Dict[str, Any]], out_dir, name: str = "eval",
                    batch_size: int = 16, progress: bool = True) -> Dict[str, Any]:
    """:func:`predict` and :func:`write_report` in one call."""
    result = predict(model, frames, batch_size=batch_size, progress=progress)
    result["files"] = write_report(result, out_dir, name)
    return result


def write_report(result: Dict[str, Any], out_dir, name: str = "eval") -> Dict[str, Path]:
    """Write ``<name>_errors.csv``, ``<name>_metrics.json`` and ``<name>_parity.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": out / f"{name}_errors.csv", "json": out / f"{name}_metrics.json"}
    rows = result["per_frame"]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(files["csv"]) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    units = {k: METRIC_UNITS[k] for k in result["metrics"] if k in METRIC_UNITS}
    atomic_write_text(files["json"], json.dumps({"metrics": result["metrics"], "units": units}, indent=2))
    if result["energy_ref"] is not None:
        n = result["num_atoms"]
        files["png"] = plot_parity(result["energy_ref"] / n, result["energy_pred"] / n,
                                   result["forces_ref"], result["forces_pred"], out / f"{name}_parity.png",
                                   title=name, stress_ref=result.get("stress_ref"),
                                   stress_pred=result.get("stress_pred"))
    return files


#: Columns of :func:`format_table`: (heading, metric, decimals).
TABLE_COLUMNS = [("E MAE", "energy_mae", 3), ("E RMSE", "energy_rmse", 3),
                 ("E/atom MAE", "energy_per_atom_mae", 3), ("E/atom RMSE", "energy_per_atom_rmse", 3),
                 ("F MAE", "forces_mae", 3), ("F RMSE", "forces_rmse", 3)]
#: Stress columns, shown when some split has stress errors.
STRESS_COLUMNS = [("S MAE", "stress_mae", 5), ("S RMSE", "stress_rmse", 5),
                  ("S MAE", "stress_mae_GPa", 3), ("S RMSE", "stress_rmse_GPa", 3)]


def format_table(metrics_by_split: Dict[str, Dict[str, float]], label: str = "split") -> str:
    """A plain-text table: one row per split (or per ``label``: committee members), MAE/RMSE columns in
    meV and meV/Å, and stress in eV/Å³ and GPa when some row has stress errors; ``-`` where a row has
    no value."""
    cols = list(TABLE_COLUMNS)
    if any("stress_mae" in m for m in metrics_by_split.values()):
        cols += STRESS_COLUMNS
    width = max([len(label)] + [len(s) for s in metrics_by_split])
    head = f"{label:<{width}}  " + "  ".join(f"{c:>11}" for c, _, _ in cols)
    units = f"{'':<{width}}  " + "  ".join(f"{METRIC_UNITS[k]:>11}" for _, k, _ in cols)
    lines = [head, units]
    for split, m in metrics_by_split.items():
        cells = [f"{m[k]:11.{d}f}" if k in m else f"{'-':>11}" for _, k, d in cols]
        lines.append(f"{split:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)
