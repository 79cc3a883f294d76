"""Neighbour lists from vesin, in molsym's edge convention.

An edge ``(i, j)`` with integer shift ``S`` has vector
``pos[j] - pos[i] + S @ cell`` and length below ``cutoff``. Lists are full
(both ``(i, j)`` and ``(j, i)``) and exclude self-pairs at zero shift.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import vesin


def neighbor_list(pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray,
                  cutoff: float) -> Tuple[np.ndarray, np.ndarray]:
    """Return ``edge_index [2, E] int64`` and ``edge_shift [E, 3] float64``.

    Parameters
    ----------
    pos : [n, 3] Å
    cell : [3, 3] Å, lattice vectors as rows (ignored along non-periodic axes)
    pbc : [3] bool
    cutoff : Å
    """
    pbc = np.asarray(pbc, dtype=bool)
    box = np.asarray(cell, dtype=np.float64) if pbc.any() else np.zeros((3, 3))
    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, s = nl.compute(np.asarray(pos, dtype=np.float64), box, pbc.tolist(), quantities="ijS")
    edge_index = np.stack([i, j]).astype(np.int64, copy=False)
    return edge_index, s.astype(np.float64, copy=False)
