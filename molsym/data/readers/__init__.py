"""Readers: files → frames (:mod:`molsym.data.frame`), converted to eV/Å on read.

:func:`read_frames` dispatches on the file type. (Placeholder implementation
via ase.io; the format-specific readers replace it.)
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from molsym.data.frame import Frame, check_frame
from molsym.data.graph import atoms_to_frame


def read_frames(path, energy_key: Optional[str] = "energy", forces_key: Optional[str] = "forces",
                stress_key: Optional[str] = None, index=":", require_labels: bool = False) -> List[Frame]:
    """Read every frame of ``path`` as frames (eV, Å)."""
    import ase.io
    path = Path(path)
    frames = []
    for i, atoms in enumerate(ase.io.read(path, index=index)):
        frames.append(check_frame(atoms_to_frame(atoms, energy_key, forces_key, stress_key), str(path), i))
    return frames


__all__ = ["read_frames"]
