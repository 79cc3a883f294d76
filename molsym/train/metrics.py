"""Error metrics of a force field over a whole split.

:class:`ForceFieldMetrics` accumulates sums of absolute and squared errors
batch by batch (synchronised across DDP processes by torchmetrics) and reports

================================  ==========================================
name                              meaning
================================  ==========================================
``energy_mae`` / ``energy_rmse``  total energy error, meV
``energy_per_atom_mae`` / _rmse   energy error divided by atom count, meV/atom
``forces_mae`` / ``forces_rmse``  per force component, meV/Å
``stress_mae`` / ``stress_rmse``  per stress component (all 9), eV/Å³
``stress_mae_GPa`` / ..._GPa      the same in GPa (:data:`EV_PER_A3_TO_GPA`)
================================  ==========================================

Stress errors count only periodic graphs (``pbc`` along some axis and a
cell of non-zero volume: where :mod:`molsym.nn.grad` defines the stress),
and only when both the prediction and the batch carry ``stress``; without
them no stress metric is reported (never a zero).

Arguments are always ``(pred, target)``.
"""
from __future__ import annotations

from typing import Dict, Mapping

import torch
from ase import units as _ase_units
from torchmetrics import Metric

from molsym.data import keys as K

__all__ = ["ForceFieldMetrics", "frame_errors", "periodic_graphs", "METRIC_UNITS", "EV_TO_MEV",
           "EV_PER_A3_TO_GPA"]

#: eV → meV.
EV_TO_MEV = 1000.0
#: 1 eV/Å³ in GPa (160.21766...).
EV_PER_A3_TO_GPA = 1.0 / float(_ase_units.GPa)

METRIC_UNITS = {
    "energy_mae": "meV", "energy_rmse": "meV",
    "energy_per_atom_mae": "meV/atom", "energy_per_atom_rmse": "meV/atom",
    "forces_mae": "meV/Å", "forces_rmse": "meV/Å",
    "stress_mae": "eV/Å³", "stress_rmse": "eV/Å³",
    "stress_mae_GPa": "GPa", "stress_rmse_GPa": "GPa",
}


def periodic_graphs(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``[B]`` bool: graphs whose stress is defined (periodic, cell of non-zero volume).

    The rule of :func:`molsym.nn.grad.attach_gradients`; a batch without
    ``cell`` has none.
    """
    n = batch[K.NUM_ATOMS].shape[0]
    if K.CELL not in batch:
        return torch.zeros(n, dtype=torch.bool)
    periodic = torch.linalg.det(batch[K.CELL].double()).abs() > 0
    if K.PBC in batch:
        periodic = periodic & batch[K.PBC].any(dim=1)
    return periodic


def _stress_error(pred: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]):
    """``(err [B, 3, 3] eV/Å³, periodic [B])``, or None without stress in both."""
    if K.STRESS not in pred or K.STRESS not in target:
        return None
    err = (pred[K.STRESS].detach() - target[K.STRESS]).double()
    return err, periodic_graphs(target).to(err.device)


class ForceFieldMetrics(Metric):
    """Energy, force and stress MAE/RMSE over every batch seen since the last reset.

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
        for name in ("e_abs", "e_sq", "epa_abs", "epa_sq", "n_graphs", "f_abs", "f_sq", "n_comp",
                     "s_abs", "s_sq", "n_stress"):
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> None:
        """Add one batch: ``pred``/``target`` hold ``energy`` [B] eV, ``forces`` [N, 3] eV/Å
        and/or ``stress`` [B, 3, 3] eV/Å³ (``target`` also ``num_atoms``, and ``cell``/``pbc``
        for stress)."""
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
        stress = _stress_error(pred, target)
        if stress is not None:
            err = stress[0][stress[1]]
            self.s_abs += err.abs().sum()
            self.s_sq += err.square().sum()
            self.n_stress += err.numel()

    def compute(self) -> Dict[str, torch.Tensor]:
        """Return the metrics in meV, meV/Å, eV/Å³ and GPa (see the module table)."""
        out: Dict[str, torch.Tensor] = {}
        if self.n_graphs > 0:
            out["energy_mae"] = EV_TO_MEV * self.e_abs / self.n_graphs
            out["energy_rmse"] = EV_TO_MEV * torch.sqrt(self.e_sq / self.n_graphs)
            out["energy_per_atom_mae"] = EV_TO_MEV * self.epa_abs / self.n_graphs
            out["energy_per_atom_rmse"] = EV_TO_MEV * torch.sqrt(self.epa_sq / self.n_graphs)
        if self.n_comp > 0:
            out["forces_mae"] = EV_TO_MEV * self.f_abs / self.n_comp
            out["forces_rmse"] = EV_TO_MEV * torch.sqrt(self.f_sq / self.n_comp)
        if self.n_stress > 0:
            out["stress_mae"] = self.s_abs / self.n_stress
            out["stress_rmse"] = torch.sqrt(self.s_sq / self.n_stress)
            out["stress_mae_GPa"] = EV_PER_A3_TO_GPA * out["stress_mae"]
            out["stress_rmse_GPa"] = EV_PER_A3_TO_GPA * out["stress_rmse"]
        return out


def frame_errors(pred: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Per-frame errors of one batch, for tables and CSV files.

    Returns
    -------
    dict of [B] tensors
        ``energy_error`` (pred − target, meV), ``energy_error_per_atom``
        (meV/atom), ``forces_rmse`` and ``forces_mae`` (meV/Å, over the
        frame's components), ``stress_rmse`` and ``stress_mae`` (eV/Å³, over
        the 9 components) with ``stress_rmse_GPa`` and ``stress_mae_GPa``;
        only those whose labels are present. Stress errors are NaN for
        graphs that are not periodic (they have no stress).
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
    stress = _stress_error(pred, target)
    if stress is not None:
        err, periodic = stress
        nan = torch.full_like(err[:, 0, 0], float("nan"))
        rmse = torch.where(periodic, err.square().mean(dim=(1, 2)).sqrt(), nan)
        mae = torch.where(periodic, err.abs().mean(dim=(1, 2)), nan)
        out.update(stress_rmse=rmse, stress_mae=mae, stress_rmse_GPa=EV_PER_A3_TO_GPA * rmse,
                   stress_mae_GPa=EV_PER_A3_TO_GPA * mae)
    return out
