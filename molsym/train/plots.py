"""PNG figures of training: the learning curve and parity plots (matplotlib, Agg)."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from molsym.files import atomic_path

__all__ = ["plot_learning_curve", "plot_parity", "save_figure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path) -> Path:
    """Write ``fig`` as PNG atomically (:func:`molsym.files.atomic_path`)."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:  # savefig infers the format from the name
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _read_metrics(csv_path) -> Dict[str, List[tuple]]:
    """``metrics.csv`` of Lightning's CSVLogger → {column: [(epoch, value), ...]}."""
    series: Dict[str, List[tuple]] = {}
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            epoch = row.get("epoch")
            if epoch in (None, ""):
                continue
            for key, value in row.items():
                if key in ("epoch", "step") or value in (None, ""):
                    continue
                series.setdefault(key, []).append((int(float(epoch)), float(value)))
    return series


def plot_learning_curve(csv_path, png_path) -> Optional[Path]:
    """Plot loss and validation RMSEs against epoch from a CSVLogger file.

    Parameters
    ----------
    csv_path : path
        ``metrics.csv`` written by :class:`lightning.pytorch.loggers.CSVLogger`.
    png_path : path
        Output PNG.

    Returns
    -------
    Path or None
        The PNG, or None when the CSV holds no epoch-level values yet.
    """
    series = _read_metrics(csv_path)
    panels = [
        ("loss", ["train/loss_epoch", "val/loss"], True),
        ("energy RMSE (meV)", ["train/energy_rmse", "val/energy_rmse"], True),
        ("force RMSE (meV/Å)", ["train/forces_rmse", "val/forces_rmse"], True),
        ("stress RMSE (eV/Å³)", ["train/stress_rmse", "val/stress_rmse"], True),
    ]
    panels = [p for p in panels if any(k in series for k in p[1])]
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (label, keys, log) in zip(axes[0], panels):
        for key in keys:
            if key in series:
                x, y = zip(*series[key])
                ax.plot(x, y, marker=".", label=key.split("/")[0])
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, png_path)


def plot_parity(energy_ref: np.ndarray, energy_pred: np.ndarray, forces_ref: Optional[np.ndarray],
                forces_pred: Optional[np.ndarray], png_path, title: str = "",
                stress_ref: Optional[np.ndarray] = None, stress_pred: Optional[np.ndarray] = None) -> Path:
    """Parity plot: predicted against reference energy (per atom), force and stress components.

    Parameters
    ----------
    energy_ref, energy_pred : [B] arrays
        Energies per atom, eV/atom.
    forces_ref, forces_pred : [N, 3] arrays or None
        Forces, eV/Å.
    stress_ref, stress_pred : [P, 3, 3] arrays or None
        Stress of the periodic frames, eV/Å³; a third panel when given.
    """
    from molsym.train.metrics import EV_PER_A3_TO_GPA

    plt = _pyplot()

    def milli(rmse, unit):
        return f"RMSE {1000 * rmse:.2f} m{unit}"

    pairs = [("energy (eV/atom)", energy_ref, energy_pred, lambda r: milli(r, "eV/atom"))]
    if forces_ref is not None and len(forces_ref):
        pairs.append(("force component (eV/Å)", np.ravel(forces_ref), np.ravel(forces_pred),
                      lambda r: milli(r, "eV/Å")))
    if stress_ref is not None and len(stress_ref):
        pairs.append(("stress component (eV/Å³)", np.ravel(stress_ref), np.ravel(stress_pred),
                      lambda r: f"RMSE {r:.5f} eV/Å³ = {EV_PER_A3_TO_GPA * r:.3f} GPa"))
    n = len(pairs)
    fig, axes = plt.subplots(1, n, figsize=(4.3 * n, 4.0), squeeze=False)
    for ax, (label, ref, pred, rmse_title) in zip(axes[0], pairs):
        ref, pred = np.asarray(ref, float), np.asarray(pred, float)
        lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
        pad = 0.02 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=1)
        ax.scatter(ref, pred, s=4, alpha=0.5)
        ax.set_title(rmse_title(math.sqrt(float(np.mean((pred - ref) ** 2)))), fontsize=10)
        ax.set_xlabel(f"reference {label}")
        ax.set_ylabel(f"predicted {label}")
        ax.set_aspect("equal")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, png_path)
