"""Evaluate a force field on labelled frames: metrics, per-frame errors, parity plot.

Frames go through the same frame → graph path as training
(:func:`molsym.data.graph.frame_to_graph`, :func:`molsym.data.collate.collate`).
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
from molsym.train.metrics import METRIC_UNITS, ForceFieldMetrics, frame_errors
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
        in meV and meV/Å), ``energy_pred``/``energy_ref`` [B] eV,
        ``num_atoms`` [B], ``forces_pred``/``forces_ref`` [N, 3] eV/Å (None
        when the frames have no forces).
    """
    model.eval()
    dtype = _model_dtype(model)
    metric = ForceFieldMetrics()
    rows: List[Dict[str, Any]] = []
    e_pred, e_ref, n_at, f_pred, f_ref = [], [], [], [], []
    starts = range(0, len(frames), batch_size)
    for start in tqdm(starts, desc="evaluating", unit="batch", disable=not progress):
        chunk = frames[start:start + batch_size]
        batch = collate([frame_to_graph(f, model.cutoff, dtype) for f in chunk])
        out = model(batch, compute_forces=True)
        pred = {k: v.detach() for k, v in out.items()}
        metric.update(pred, batch)
        errs = frame_errors(pred, batch)
        for i in range(len(chunk)):
            row = {"index": start + i, "n_atoms": int(batch[K.NUM_ATOMS][i]),
                   "energy_pred_eV": float(pred[K.ENERGY][i])}
            if K.ENERGY in batch:
                row["energy_ref_eV"] = float(batch[K.ENERGY][i])
            row.update({f"{k}": float(v[i]) for k, v in errs.items()})
            rows.append(row)
        e_pred.append(pred[K.ENERGY].double().numpy())
        n_at.append(batch[K.NUM_ATOMS].numpy())
        if K.ENERGY in batch:
            e_ref.append(batch[K.ENERGY].double().numpy())
        if K.FORCES in batch:
            f_pred.append(pred[K.FORCES].double().numpy())
            f_ref.append(batch[K.FORCES].double().numpy())
    return {
        "metrics": {k: float(v) for k, v in metric.compute().items()},
        "per_frame": rows,
        "energy_pred": np.concatenate(e_pred), "energy_ref": np.concatenate(e_ref) if e_ref else None,
        "num_atoms": np.concatenate(n_at),
        "forces_pred": np.concatenate(f_pred) if f_pred else None,
        "forces_ref": np.concatenate(f_ref) if f_ref else None,
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
    atomic_write_text(files["json"], json.dumps({"metrics": result["metrics"], "units": METRIC_UNITS}, indent=2))
    if result["energy_ref"] is not None:
        n = result["num_atoms"]
        files["png"] = plot_parity(result["energy_ref"] / n, result["energy_pred"] / n,
                                   result["forces_ref"], result["forces_pred"], out / f"{name}_parity.png",
                                   title=name)
    return files


def format_table(metrics_by_split: Dict[str, Dict[str, float]]) -> str:
    """A plain-text table: one row per split, MAE/RMSE columns in meV and meV/Å."""
    cols = [("E MAE", "energy_mae"), ("E RMSE", "energy_rmse"), ("E/atom MAE", "energy_per_atom_mae"),
            ("E/atom RMSE", "energy_per_atom_rmse"), ("F MAE", "forces_mae"), ("F RMSE", "forces_rmse")]
    width = max([5] + [len(s) for s in metrics_by_split])
    head = f"{'split':<{width}}  " + "  ".join(f"{c:>11}" for c, _ in cols)
    units = f"{'':<{width}}  " + "  ".join(f"{METRIC_UNITS[k]:>11}" for _, k in cols)
    lines = [head, units]
    for split, m in metrics_by_split.items():
        cells = [f"{m[k]:11.3f}" if k in m else f"{'-':>11}" for _, k in cols]
        lines.append(f"{split:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)
