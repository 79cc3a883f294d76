"""Atom and molecule stability from distance-based bond orders.

An atom is *stable* when the sum of its bond orders equals the allowed valence
of its element (H 1, C 4, N 3, O 2, F 1); a molecule is stable when all its
atoms are. These are the QM9 metrics of Hoogeboom et al. (2022), computed
with the tables of :mod:`.bonds`.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

from .bonds import ALLOWED_VALENCE, bond_order_matrix

__all__ = ["atom_stability", "stability_metrics"]


def atom_stability(atomic_numbers: np.ndarray, pos: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per-atom stability ``[n] bool`` and summed bond orders ``[n] int`` of one molecule."""
    order = bond_order_matrix(atomic_numbers, pos)
    valence = order.sum(axis=1)
    allowed = np.array([ALLOWED_VALENCE.get(int(z), -1) for z in atomic_numbers])
    return valence == allowed, valence


def stability_metrics(molecules: Sequence[Tuple[np.ndarray, np.ndarray]]) -> Dict[str, float]:
    """Fractions of stable atoms and of stable molecules.

    Parameters
    ----------
    molecules : sequence of ``(atomic_numbers [n], pos [n, 3] Å)``

    Returns
    -------
    dict with ``atom_stability``, ``mol_stability`` (fractions in [0, 1]) and
    the counts ``num_atoms``, ``num_molecules``.
    """
    stable_atoms = total_atoms = stable_mols = 0
    for z, pos in molecules:
        stable, _ = atom_stability(z, pos)
        stable_atoms += int(stable.sum())
        total_atoms += len(stable)
        stable_mols += int(stable.all())
    n = len(molecules)
    return {
        "atom_stability": stable_atoms / max(total_atoms, 1),
        "mol_stability": stable_mols / max(n, 1),
        "num_atoms": total_atoms,
        "num_molecules": n,
    }
