"""Error metrics of a force field over a whole split.

:class:`ForceFieldMetrics` accumulates sums of absolute and squared errors
batch by batch (synchronised across DDP processes by torchmetrics) and reports

================================  ==========================================
name                              meaning
================================  ==========================================
``energy_mae`` / ``energy_rmse``  total energy error, meV
``energy_per_atom_mae`` / _rmse   energy error divided by atom count, meV/atom
``forces_mae`` / ``forces_rmse``  per force component, meV/Å
================================  ==========================================

Arguments are always ``(pred, target)``.
"""
from __future__ import annotations

from typing import Dict, Mapping

import torch
from torchmetrics import Metric

from molsym.data import keys as K

__all__ = ["ForceFieldMetrics", "frame_errors", "METRIC_UNITS", "EV_TO_MEV"]

#: eV → meV.
EV_TO_MEV = 1000.0

METRIC_UNITS = {
    "energy_mae": "meV", "energy_rmse": "meV",
    "energy_per_atom_mae": "meV/atom", "energy_per_atom_rmse": "meV/atom",
    "forces_mae": "meV/Å", "forces_rmse": "meV/Å",
}


class ForceFieldMetrics(Metric):
    """Energy and force MAE/RMSE over every batch seen since the last reset.

    Example
    -------
    >>> import torch
    >>> m = ForceFieldMetrics()
    >>> m.update({"energy": torch.tensor([0.001])},
    ...          {"energy": torch.tensor([0.0]), "num_atoms": torch.tensor([2])})
    >>> round(float(m.compute()["energy_mae"]), 6)
    1.0
    """

    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        for name in ("e_abs", "e_sq", "epa_abs", "epa_sq", "n_graphs", "f_abs", "f_sq", "n_comp"):
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> None:
        """Add one batch: ``pred``/``target`` hold ``energy`` [B] eV and/or ``forces`` [N, 3] eV/Å."""
        if K.ENERGY in pred and K.ENERGY in target:
            err = (pred[K.ENERGY].detach() - target[K.ENERGY]).double()
            per_atom = err / target[K.NUM_ATOMS].double()
            self.e_abs += err.abs().sum()
            self.e_sq += err.square().sum()
            self.epa_abs += per_atom.abs().sum()
            self.epa_sq += per_atom.square().sum()
            self.n_graphs += err.numel()
        if K.FORCES in pred and K.FORCES in target:
            err = (pred[K.FORCES].detach() - target[K.FORCES]).double()
            self.f_abs += err.abs().sum()
            self.f_sq += err.square().sum()
            self.n_comp += err.numel()

    def compute(self) -> Dict[str, torch.Tensor]:
        """Return the metrics in meV and meV/Å (see the module table)."""
        out: Dict[str, torch.Tensor] = {}
        if self.n_graphs > 0:
            out["energy_mae"] = EV_TO_MEV * self.e_abs / self.n_graphs
            out["energy_rmse"] = EV_TO_MEV * torch.sqrt(self.e_sq / self.n_graphs)
            out["energy_per_atom_mae"] = EV_TO_MEV * self.epa_abs / self.n_graphs
            out["energy_per_atom_rmse"] = EV_TO_MEV * torch.sqrt(self.epa_sq / self.n_graphs)
        if self.n_comp > 0:
            out["forces_mae"] = EV_TO_MEV * self.f_abs / self.n_comp
            out["forces_rmse"] = EV_TO_MEV * torch.sqrt(self.f_sq / self.n_comp)
        return out


def frame_errors(pred: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Per-frame errors of one batch, for tables and CSV files.

    Returns
    -------
    dict of [B] tensors
        ``energy_error`` (pred − target, meV), ``energy_error_per_atom``
        (meV/atom), ``forces_rmse`` and ``forces_mae`` (meV/Å, over the
        frame's components); only those whose labels are present.
    """
    out: Dict[str, torch.Tensor] = {}
    n = target[K.NUM_ATOMS]
    if K.ENERGY in pred and K.ENERGY in target:
        err = (pred[K.ENERGY].detach() - target[K.ENERGY]).double() * EV_TO_MEV
        out["energy_error"] = err
        out["energy_error_per_atom"] = err / n.double()
    if K.FORCES in pred and K.FORCES in target:
        err = (pred[K.FORCES].detach() - target[K.FORCES]).double() * EV_TO_MEV
        b = target[K.BATCH]
        sq = torch.zeros(len(n), dtype=torch.float64).index_add_(0, b, err.square().sum(1))
        ab = torch.zeros(len(n), dtype=torch.float64).index_add_(0, b, err.abs().sum(1))
        out["forces_rmse"] = torch.sqrt(sq / (3 * n.double()))
        out["forces_mae"] = ab / (3 * n.double())
    return out
