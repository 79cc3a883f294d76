"""Bond orders from inter-atomic distances, with literature bond-length tables.

Typical bond lengths (Å) for the QM9 elements H, C, N, O, F. Sources:

* F. H. Allen, O. Kennard, D. G. Watson, L. Brammer, A. G. Orpen, R. Taylor,
  "Tables of bond lengths determined by X-ray and neutron diffraction. Part 1.
  Bond lengths in organic compounds", J. Chem. Soc., Perkin Trans. 2 (1987)
  S1–S19 — mean lengths of C–C, C=C, C≡C, C–N, C=N, C≡N, C–O, C=O, C–F,
  N–N, N=N, N–O, N=O and X–H (neutron) bonds in organic molecules, rounded
  to 0.01 Å;
* CRC Handbook of Chemistry and Physics, "Bond lengths in crystals and
  molecules" / "Bond lengths of diatomic and small molecules" — H–H (H2),
  F–H (HF), F–F (F2), O–O (H2O2), O=O (O2), N≡N (N2), C≡O (CO), N–F (NF3),
  O–F (OF2).

A pair is bonded with order ``k`` when its distance is below
``length_k + margin_k``, checking triple, then double, then single.
The margins (0.10, 0.05, 0.03 Å) widen the typical lengths to cover
thermal/DFT spread; they were checked on QM9 itself (see docs/generator.md).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

__all__ = ["SINGLE", "DOUBLE", "TRIPLE", "MARGINS", "ALLOWED_VALENCE", "bond_order", "bond_order_matrix"]


def _symmetric(table: Dict[Tuple[int, int], float]) -> Dict[Tuple[int, int], float]:
    out = dict(table)
    out.update({(b, a): v for (a, b), v in table.items()})
    return out


H, C, N, O, F = 1, 6, 7, 8, 9

#: Typical single-bond lengths (Å).
SINGLE = _symmetric({
    (H, H): 0.74, (H, C): 1.09, (H, N): 1.01, (H, O): 0.96, (H, F): 0.92,
    (C, C): 1.54, (C, N): 1.47, (C, O): 1.43, (C, F): 1.35,
    (N, N): 1.45, (N, O): 1.41, (N, F): 1.36,
    (O, O): 1.48, (O, F): 1.42,
    (F, F): 1.42,
})
#: Typical double-bond lengths (Å).
DOUBLE = _symmetric({
    (C, C): 1.34, (C, N): 1.28, (C, O): 1.21,
    (N, N): 1.25, (N, O): 1.21,
    (O, O): 1.21,
})
#: Typical triple-bond lengths (Å).
TRIPLE = _symmetric({
    (C, C): 1.20, (C, N): 1.16, (C, O): 1.13,
    (N, N): 1.10,
})
#: Margins (Å) added to the single, double and triple lengths.
MARGINS = (0.10, 0.05, 0.03)

#: Allowed (neutral) valence of each element: H 1, C 4, N 3, O 2, F 1.
ALLOWED_VALENCE = {H: 1, C: 4, N: 3, O: 2, F: 1}


def bond_order(z1: int, z2: int, distance: float, margins: Tuple[float, float, float] = MARGINS) -> int:
    """Bond order (0-3) of a pair of elements ``z1, z2`` at ``distance`` Å."""
    pair = (int(z1), int(z2))
    if pair not in SINGLE or distance >= SINGLE[pair] + margins[0]:
        return 0
    if pair in TRIPLE and distance < TRIPLE[pair] + margins[2]:
        return 3
    if pair in DOUBLE and distance < DOUBLE[pair] + margins[1]:
        return 2
    return 1


def _pair_tables(margins) -> Dict[str, np.ndarray]:
    size = max(ALLOWED_VALENCE) + 1
    limits = np.full((3, size, size), -np.inf)  # unbonded pairs never pass
    for k, table in enumerate((SINGLE, DOUBLE, TRIPLE)):
        for (a, b), length in table.items():
            limits[k, a, b] = length + margins[k]
    return limits


_LIMITS = {MARGINS: _pair_tables(MARGINS)}


def bond_order_matrix(atomic_numbers: np.ndarray, pos: np.ndarray,
                      margins: Optional[Tuple[float, float, float]] = None) -> np.ndarray:
    """Bond orders ``[n, n]`` (int, zero diagonal) of one molecule, ``pos [n, 3]`` in Å.

    Vectorised :func:`bond_order` over all pairs. Elements outside H, C, N, O,
    F never bond (and are unstable, see :mod:`.stability`).
    """
    margins = tuple(margins or MARGINS)
    if margins not in _LIMITS:
        _LIMITS[margins] = _pair_tables(margins)
    limits = _LIMITS[margins]
    z = np.asarray(atomic_numbers, dtype=np.int64)
    z = np.where((z >= 0) & (z < limits.shape[1]), z, 0)  # unknown elements → row of -inf
    pos = np.asarray(pos, dtype=np.float64)
    d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    single = d < limits[0][z[:, None], z[None, :]]
    double = d < limits[1][z[:, None], z[None, :]]
    triple = d < limits[2][z[:, None], z[None, :]]
    order = np.where(single, np.where(triple, 3, np.where(double, 2, 1)), 0)
    np.fill_diagonal(order, 0)
    return order.astype(np.int64)
