"""Molecule frames for the generator: QM9 through the data layer, or an extxyz file.

``data`` config keys:

``source: qm9``
    all of QM9 via :func:`molsym.data.readers.qm9.load_qm9` (offline from
    the ``qm9pack`` package, or the figshare archive); properties such as
    ``alpha`` (Å³) or ``gap`` (eV) are scalar frame fields. ``reader:``
    passes keyword arguments to ``load_qm9`` (e.g. ``source``, ``cache_dir``).
``source: extxyz`` with ``path: file.xyz``
    any set of molecules; per-molecule properties are read from the comment
    line (``atoms.info``), e.g. ``alpha=...``.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

from molsym.data.errors import DataError

__all__ = ["load_molecule_frames", "frames_from_extxyz", "load_qm9_frames"]


def frames_from_extxyz(path, properties: Sequence[str] = ()) -> List[dict]:
    """Frames (``atomic_numbers``, ``pos`` Å, scalar ``properties``) of every molecule in ``path``."""
    import ase.io

    frames = []
    for i, atoms in enumerate(ase.io.iread(str(path), index=":")):
        frame = {"atomic_numbers": atoms.numbers.astype(np.int64), "pos": atoms.positions.astype(np.float64)}
        for key in properties:
            if key not in atoms.info:
                raise DataError(str(path), i, f"property {key!r} missing from the comment line")
            frame[key] = np.float64(atoms.info[key])
        frames.append(frame)
    if not frames:
        raise DataError(str(path), None, "no molecules in file")
    return frames


def load_qm9_frames(**kwargs) -> List[dict]:
    """All QM9 molecules as frames, through the data layer's QM9 reader."""
    from molsym.data.readers.qm9 import load_qm9

    return list(load_qm9(**kwargs).frames)


def load_molecule_frames(data_cfg: dict, conditions: Sequence[str] = ()) -> List[dict]:
    """Frames named by a ``data`` config section (see the module docstring)."""
    source = data_cfg.get("source", "qm9")
    if source == "qm9":
        return load_qm9_frames(**dict(data_cfg.get("reader", {})))
    if source == "extxyz":
        if not data_cfg.get("path"):
            raise ValueError("data.source 'extxyz' needs data.path")
        return frames_from_extxyz(data_cfg["path"], conditions)
    raise ValueError(f"unknown data.source {source!r}; use 'qm9' or 'extxyz'")
