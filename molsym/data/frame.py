"""A *frame*: one labelled conformation as a dict of numpy arrays.

Readers produce frames; :func:`molsym.data.graph.frame_to_graph` turns them
into graphs. Required keys: ``atomic_numbers [n] int64``, ``pos [n,3] Å``,
``cell [3,3] Å``, ``pbc [3] bool``. Optional: ``energy`` (scalar, eV),
``forces [n,3] eV/Å``, ``stress [3,3] eV/Å³`` and any scalar per-graph
property. Every reader passes its frames through :func:`check_frame`.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from molsym.data.errors import DataError

Frame = Dict[str, np.ndarray]

#: Smallest allowed distance between two atoms, in Å.
MIN_DISTANCE = 0.1


def make_frame(atomic_numbers, pos, cell=None, pbc=None, **labels) -> Frame:
    """Build a frame with canonical dtypes; ``labels`` are optional fields."""
    z = np.asarray(atomic_numbers, dtype=np.int64).reshape(-1)
    frame: Frame = {
        "atomic_numbers": z,
        "pos": np.asarray(pos, dtype=np.float64).reshape(-1, 3) if np.size(pos) else np.zeros((0, 3)),
        "cell": np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64).reshape(3, 3),
        "pbc": np.zeros(3, dtype=bool) if pbc is None else np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy(),
    }
    for key, value in labels.items():
        if value is None:
            continue
        arr = np.asarray(value, dtype=np.float64)
        if key == "forces":
            arr = arr.reshape(-1, 3)
        elif key == "stress":
            arr = voigt_to_matrix(arr)
        frame[key] = arr
    return frame


def voigt_to_matrix(stress) -> np.ndarray:
    """Accept a 3x3 matrix, a 9-vector or a 6-vector in Voigt order (xx yy zz yz xz xy)."""
    s = np.asarray(stress, dtype=np.float64)
    if s.shape == (3, 3):
        return s
    if s.size == 9:
        return s.reshape(3, 3)
    if s.size == 6:
        xx, yy, zz, yz, xz, xy = s
        return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    raise ValueError(f"stress must have 6 or 9 components, got shape {s.shape}")


def check_frame(frame: Frame, source: Optional[str], index: Optional[int],
                min_distance: float = MIN_DISTANCE) -> Frame:
    """Raise :class:`DataError` naming ``source`` and ``index`` if the frame is broken.

    Checks: at least one atom; 1 <= Z <= 118; shapes of pos/forces/stress;
    no NaN or inf anywhere; no two atoms closer than ``min_distance`` Å
    (minimum image is not applied: this is for molecules and sane crystals).
    """
    z = frame["atomic_numbers"]
    n = z.shape[0]
    if n == 0:
        raise DataError(source, index, "frame has no atoms")
    bad = (z < 1) | (z > 118)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(source, index, f"unknown element: atomic number {int(z[i])} at atom {i}")
    pos = frame["pos"]
    if pos.shape != (n, 3):
        raise DataError(source, index, f"positions have shape {pos.shape}, expected ({n}, 3)")
    if "forces" in frame and frame["forces"].shape != (n, 3):
        raise DataError(source, index, f"forces have shape {frame['forces'].shape}, expected ({n}, 3)")
    for key, value in frame.items():
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise DataError(source, index, f"non-finite value (NaN or inf) in {key!r}")
    if n > 1 and min_distance > 0:
        d = _min_pair_distance(pos)
        if d[0] < min_distance:
            raise DataError(source, index, f"atoms {d[1]} and {d[2]} are {d[0]:.3g} Å apart "
                                           f"(closer than {min_distance} Å)")
    return frame


def _min_pair_distance(pos: np.ndarray):
    """(distance, i, j) of the closest pair; O(n²) but chunked, fine for molecules."""
    n = len(pos)
    best = (np.inf, -1, -1)
    for start in range(0, n, 512):
        block = pos[start:start + 512]
        d2 = ((block[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
        rows = np.arange(len(block))
        d2[rows, rows + start] = np.inf
        k = int(np.argmin(d2))
        i, j = divmod(k, n)
        if d2[i, j] < best[0] ** 2:
            best = (float(np.sqrt(d2[i, j])), start + i, j)
    return best
