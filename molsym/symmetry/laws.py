"""Transformation laws: how an output must change when the input is transformed.

A transformation acts on a molecule as ``pos -> pos[perm] @ R.T + t`` (with the
cell rotated as ``cell @ R.T``). Each law maps the output of the original
molecule to the output expected for the transformed one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict

import numpy as np


@dataclass(frozen=True)
class Transform:
    """One group element: rotation/reflection ``R [3,3]``, translation ``t [3]``, permutation."""

    R: np.ndarray
    t: np.ndarray
    perm: np.ndarray

    def positions(self, pos: np.ndarray) -> np.ndarray:
        return pos[self.perm] @ self.R.T + self.t

    def cell(self, cell: np.ndarray) -> np.ndarray:
        return cell @ self.R.T


Law = Callable[[np.ndarray, Transform], np.ndarray]


def invariant(y, g: Transform):
    """A per-molecule scalar (energy): unchanged."""
    return y


def atom_invariant(y, g: Transform):
    """A per-atom scalar (atomic energies, charges): permuted only."""
    return y[g.perm]


def atom_vector(y, g: Transform):
    """A per-atom vector [n,3] (forces): permuted and rotated, not translated."""
    return y[g.perm] @ g.R.T


def points(y, g: Transform):
    """Per-atom points [n,3] (denoised coordinates): permuted, rotated and translated."""
    return y[g.perm] @ g.R.T + g.t


def tensor(y, g: Transform):
    """A rank-2 Cartesian tensor [3,3] (stress): R y Rᵀ."""
    return g.R @ y @ g.R.T


#: Law of every output an ASE calculator may report.
CALCULATOR_LAWS: Dict[str, Law] = {
    "energy": invariant,
    "free_energy": invariant,
    "energies": atom_invariant,
    "forces": atom_vector,
    "stress": tensor,
}
