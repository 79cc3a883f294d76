"""Verlet-skin reuse of the neighbour list between MD or optimiser steps.

The list is computed with :func:`molsym.data.neighbors.neighbor_list` (vesin)
at ``cutoff + skin`` and kept while no atom has moved more than ``skin / 2``
since it was built, and cell, periodicity and atomic numbers are unchanged.
Every call filters the kept list down to the pairs closer than the true
``cutoff``, so the edges handed to the model are exactly the pairs a fresh
list would give; they are returned in a canonical order (sorted by sender,
receiver and shift) so that the result does not depend on whether the list
was reused.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from molsym.data.neighbors import neighbor_list

Edges = Tuple[np.ndarray, np.ndarray]


class SkinNeighborList:
    """A neighbour list rebuilt only when atoms have moved more than ``skin / 2``.

    Parameters
    ----------
    cutoff : float
        True interaction cutoff, Å.
    skin : float
        Extra distance, Å, added to the cutoff when the list is built. ``0``
        rebuilds on every call.

    Examples
    --------
    >>> import numpy as np
    >>> nl = SkinNeighborList(cutoff=2.0, skin=0.5)
    >>> pos = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [4.0, 0.0, 0.0]])
    >>> edge_index, shift = nl.get(pos, np.zeros((3, 3)), np.zeros(3, bool), np.array([1, 1, 1]))
    >>> edge_index.tolist()
    [[0, 1], [1, 0]]
    """

    def __init__(self, cutoff: float, skin: float = 0.5):
        if cutoff <= 0:
            raise ValueError(f"cutoff must be positive, got {cutoff}")
        if skin < 0:
            raise ValueError(f"skin must be >= 0, got {skin}")
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.builds = 0  # number of times the full list was computed
        self._ref_pos: Optional[np.ndarray] = None
        self._ref_cell: Optional[np.ndarray] = None
        self._ref_pbc: Optional[np.ndarray] = None
        self._ref_numbers: Optional[np.ndarray] = None
        self._edges: Optional[Edges] = None
        self._shift_cart: Optional[np.ndarray] = None

    def needs_rebuild(self, pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray,
                      numbers: np.ndarray) -> bool:
        """True when the kept list may miss a pair closer than ``cutoff``."""
        if self._ref_pos is None or self.skin == 0.0:
            return True
        if pos.shape != self._ref_pos.shape or not np.array_equal(numbers, self._ref_numbers):
            return True
        if not np.array_equal(pbc, self._ref_pbc) or not np.array_equal(cell, self._ref_cell):
            return True
        d2 = np.einsum("ij,ij->i", pos - self._ref_pos, pos - self._ref_pos)
        return bool(d2.max(initial=0.0) > (0.5 * self.skin) ** 2)

    def _build(self, pos, cell, pbc, numbers) -> None:
        edge_index, shift = neighbor_list(pos, cell, pbc, self.cutoff + self.skin)
        # canonical order: sender, receiver, then shift components
        order = np.lexsort((shift[:, 2], shift[:, 1], shift[:, 0], edge_index[1], edge_index[0]))
        edge_index = np.ascontiguousarray(edge_index[:, order])
        shift = np.ascontiguousarray(shift[order])
        self._edges = (edge_index, shift)
        self._shift_cart = shift @ cell if pbc.any() else None
        self._ref_pos = pos.copy()
        self._ref_cell = cell.copy()
        self._ref_pbc = pbc.copy()
        self._ref_numbers = numbers.copy()
        self.builds += 1

    def get(self, pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray,
            numbers: np.ndarray, cutoff: Optional[float] = None) -> Edges:
        """Edges closer than ``cutoff`` (default: the list's cutoff) at ``pos``.

        Parameters
        ----------
        pos : [n, 3] Å
        cell : [3, 3] Å, lattice vectors as rows
        pbc : [3] bool
        numbers : [n] atomic numbers (a change forces a rebuild)
        cutoff : float, optional
            A cutoff no larger than the list's, Å (committees of models with
            different cutoffs share one list).

        Returns
        -------
        edge_index : [2, E] int64
        edge_shift : [E, 3] float64, integer cell shifts
        """
        pos = np.asarray(pos, dtype=np.float64)
        cell = np.asarray(cell, dtype=np.float64)
        pbc = np.asarray(pbc, dtype=bool)
        cutoff = self.cutoff if cutoff is None else float(cutoff)
        if cutoff > self.cutoff:
            raise ValueError(f"cutoff {cutoff} exceeds the list's cutoff {self.cutoff}")
        if self.needs_rebuild(pos, cell, pbc, numbers):
            self._build(pos, cell, pbc, np.asarray(numbers))
        edge_index, shift = self._edges
        vec = pos[edge_index[1]] - pos[edge_index[0]]
        if self._shift_cart is not None:
            vec += self._shift_cart
        keep = np.einsum("ij,ij->i", vec, vec) < cutoff * cutoff
        if keep.all():
            return edge_index, shift
        return edge_index[:, keep], shift[keep]
