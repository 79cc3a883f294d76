"""MD17 / rMD17 ``.npz`` files (and the sGDML ``R, z, E, F`` layout).

========  =================  ================  =================
layout    atomic numbers     positions [F,n,3]  energy / forces
========  =================  ================  =================
rMD17     ``nuclear_charges``  ``coords``        ``energies`` [F], ``forces`` [F,n,3]
sGDML     ``z``                ``R``             ``E`` [F] or [F,1], ``F`` [F,n,3]
========  =================  ================  =================

Both store energies in kcal/mol and forces in kcal/mol/Å (converted with
:data:`molsym.data.units.KCAL_PER_MOL_TO_EV`). sGDML files that declare their
units in ``e_unit`` / ``r_unit`` are converted from those instead.
"""
from __future__ import annotations

import zipfile
from typing import List, Optional

import numpy as np

from molsym.data.errors import DataError
from molsym.data.frame import Frame
from molsym.data.readers._common import (Index, LabelSpec, Units, check_consistent_labels,
                                         finish_frame, parse_index,
                                         validate_frames)
from molsym.data.units import energy_factor, length_factor

#: (atomic numbers, positions, energies, forces) key names of each layout.
LAYOUTS = {
    "rmd17": ("nuclear_charges", "coords", "energies", "forces"),
    "sgdml": ("z", "R", "E", "F"),
}
#: Units MD17 and rMD17 are published in.
DEFAULT_ENERGY_UNIT = "kcal/mol"
DEFAULT_LENGTH_UNIT = "Å"
_UNIT_ALIASES = {"Ang": "Å", "ang": "Å", "angstrom": "Å", "kcal/mol": "kcal/mol", "eV": "eV",
                 "Ha": "Hartree", "Hartree": "Hartree", "meV": "meV", "Bohr": "Bohr"}


def read_npz(path, spec: LabelSpec, energy_unit: Optional[str] = None,
             length_unit: Optional[str] = None, index: Index = ":") -> List[Frame]:
    """Read an MD17-style ``.npz`` into checked frames (eV, Å).

    Parameters
    ----------
    path : the ``.npz`` file
    spec : ``energy_key``/``forces_key`` set to ``None`` skip that label (the
        array names themselves are fixed by the layout)
    energy_unit, length_unit : override the units; by default the file's
        ``e_unit``/``r_unit`` if present, else kcal/mol and Å
    """
    source = str(path)
    with open(path, "rb") as handle:  # closed even when np.load fails half-way
        try:
            archive = np.load(handle, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise DataError(source, None, f"not a readable .npz file: {err}") from None
        with archive:
            names, arrays, units = _arrays(archive, spec, energy_unit, length_unit, source)
    z, pos, energies, forces = _check_shapes(source, *arrays, names)
    chosen = parse_index(index, pos.shape[0], source)
    frames = []
    for i in chosen:
        labels = {"energy": None if energies is None else energies[i],
                  "forces": None if forces is None else forces[i]}
        frames.append(finish_frame(source, i, z, pos[i], None, None, labels, spec, units,
                                   check=False))
    validate_frames(frames, chosen, source)
    check_consistent_labels(frames, chosen, source)
    return frames


def _arrays(archive, spec: LabelSpec, energy_unit, length_unit, source):
    """(layout key names, (z, pos, energies or None, forces or None), units) of an open archive."""
    files = set(archive.files)
    layout = next((k for k, keys in LAYOUTS.items() if {keys[0], keys[1]} <= files), None)
    if layout is None:
        raise DataError(source, None, f"unknown .npz layout: keys {sorted(files)}; expected "
                                      "rMD17 (nuclear_charges, coords, energies, forces) "
                                      "or sGDML (z, R, E, F)")
    zkey, rkey, ekey, fkey = names = LAYOUTS[layout]
    energies = archive[ekey] if ekey in files and spec.energy_key is not None else None
    forces = archive[fkey] if fkey in files and spec.forces_key is not None else None
    units = _units(archive, energy_unit, length_unit, source)
    return names, (archive[zkey], archive[rkey], energies, forces), units


def _units(archive, energy_unit, length_unit, source) -> Units:
    def declared(key, default):
        if key not in archive.files:
            return default
        name = str(np.asarray(archive[key]).reshape(-1)[0])
        return _UNIT_ALIASES.get(name, name)

    e_name = energy_unit or declared("e_unit", DEFAULT_ENERGY_UNIT)
    r_name = length_unit or declared("r_unit", DEFAULT_LENGTH_UNIT)
    try:
        return Units(energy_factor(e_name), length_factor(r_name))
    except ValueError as err:
        raise DataError(source, None, str(err)) from None


def _check_shapes(source, z, pos, energies, forces, names):
    zkey, rkey, ekey, fkey = names
    if z.ndim == 2 and z.shape[0] == 1:
        z = z[0]
    if z.ndim != 1 or z.dtype.kind not in "iuf":
        raise DataError(source, None, f"{zkey!r} must be a 1-D array of atomic numbers, got "
                                      f"shape {z.shape} dtype {z.dtype}")
    if z.dtype.kind == "f":
        if not np.all(np.isfinite(z)) or np.any(z != np.round(z)):
            raise DataError(source, None, f"{zkey!r} holds non-integer atomic numbers")
        z = z.astype(np.int64)
    n = z.shape[0]
    if pos.ndim != 3 or pos.shape[1:] != (n, 3):
        raise DataError(source, None, f"{rkey!r} has shape {pos.shape}, expected "
                                      f"(frames, {n}, 3) for {n} atoms in {zkey!r}")
    nframes = pos.shape[0]
    if nframes == 0:
        raise DataError(source, 0, "file is empty: no frames")
    if energies is not None:
        if energies.ndim == 2 and energies.shape[1] == 1:
            energies = energies[:, 0]
        if energies.shape != (nframes,):
            frame = min(nframes, energies.shape[0]) if energies.ndim == 1 else None
            raise DataError(source, frame, f"{ekey!r} has shape {energies.shape}, expected "
                                           f"({nframes},) to match {rkey!r}")
    if forces is not None and forces.shape != pos.shape:
        frame = min(nframes, forces.shape[0]) if forces.ndim == 3 and forces.shape[1:] == (n, 3) else None
        raise DataError(source, frame, f"{fkey!r} has shape {forces.shape}, expected "
                                       f"{pos.shape} to match {rkey!r}")
    return z, pos, energies, forces
