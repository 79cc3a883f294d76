"""Generic readers through ASE: every format ``ase.io.read`` knows, and ASE databases."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from molsym.data.errors import DataError
from molsym.data.frame import Frame
from molsym.data.readers._common import (ISOLATED_CONFIG_TYPE, Index, LabelSpec, Units,
                                         check_consistent_labels, finish_frame, parse_index,
                                         validate_frames)

_LABELS = ("energy", "forces", "stress")


def read_ase(path, spec: LabelSpec, units: Units, index: Index = ":",
             format: Optional[str] = None) -> List[Frame]:
    """Read any file ``ase.io.read`` understands into checked frames (eV, Å).

    Labels are looked up, for each of energy/forces/stress, under the key the
    spec names: first in ``atoms.info`` (energy, stress) or ``atoms.arrays``
    (forces), then in the results of the attached calculator (ASE moves
    ``energy``, ``forces`` and ``stress`` there; the key ``"calc"`` reads the
    calculator only). Frames with ``info["config_type"] == "isolated_atom"``
    are marked as isolated-atom frames.
    """
    import ase.io

    source = str(path)
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise DataError(source, 0, "file is empty: no frames")
    try:
        images = ase.io.read(path, index=":", format=format)
    except DataError:
        raise
    except Exception as err:  # ASE raises many types; re-raised as one, with the file
        raise DataError(source, None, f"ase.io.read failed: {type(err).__name__}: {err}") from err
    if not isinstance(images, list):
        images = [images]
    if not images:
        raise DataError(source, 0, "file is empty: no frames")
    chosen = parse_index(index, len(images), source)
    frames = [_frame_from_atoms(source, i, images[i], spec, units) for i in chosen]
    validate_frames(frames, chosen, source)
    check_consistent_labels(frames, chosen, source)
    return frames


def _frame_from_atoms(source, i, atoms, spec: LabelSpec, units: Units) -> Frame:
    results = atoms.calc.results if atoms.calc is not None else {}
    labels: Dict[str, object] = {key: atoms.info.get(key) for key in spec.info_keys}
    for name, key in zip(_LABELS, (spec.energy_key, spec.forces_key, spec.stress_key)):
        if key is None:
            continue
        value = None
        if key != "calc":
            value = atoms.arrays.get(key) if name == "forces" else atoms.info.get(key)
        if value is None and key in (name, "calc"):
            value = results.get(name)
        labels[name] = value
    isolated = atoms.info.get("config_type") == ISOLATED_CONFIG_TYPE
    return finish_frame(source, i, atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc,
                        labels, spec, units, isolated=isolated, check=False)


def read_db(path, spec: LabelSpec, units: Units, index: Index = ":") -> List[Frame]:
    """Read an ASE database (``.db``) into checked frames (eV, Å).

    Each label is taken from the row's key-value pairs or ``data`` under the
    key the spec names, or else from the row's stored calculator results
    (``energy``, ``forces``, ``stress``) when the key is that name or
    ``"calc"``. Frame indices follow the database's row order.
    """
    import ase.db

    source = str(path)
    if not Path(path).is_file():
        raise DataError(source, None, "no such database file")
    if Path(path).stat().st_size == 0:
        raise DataError(source, 0, "file is empty: no frames")
    try:
        rows = list(ase.db.connect(str(path), type="db").select())
    except Exception as err:  # sqlite and ASE errors, re-raised with the file
        raise DataError(source, None, f"cannot read ASE database: {type(err).__name__}: {err}") from err
    if not rows:
        raise DataError(source, 0, "database has no rows")
    chosen = parse_index(index, len(rows), source)
    frames = [_frame_from_row(source, i, rows[i], spec, units) for i in chosen]
    validate_frames(frames, chosen, source)
    check_consistent_labels(frames, chosen, source)
    return frames


def _frame_from_row(source, i, row, spec: LabelSpec, units: Units) -> Frame:
    kvp, data = row.key_value_pairs, row.data

    def lookup(key):
        return kvp[key] if key in kvp else data.get(key)

    labels: Dict[str, object] = {key: lookup(key) for key in spec.info_keys}
    for name, key in zip(_LABELS, (spec.energy_key, spec.forces_key, spec.stress_key)):
        if key is None:
            continue
        value = None if key == "calc" else lookup(key)
        if value is None and key in (name, "calc"):
            value = row.get(name)
        labels[name] = value
    isolated = kvp.get("config_type") == ISOLATED_CONFIG_TYPE
    return finish_frame(source, i, row.numbers, row.positions, row.cell, row.pbc, labels,
                        spec, units, isolated=isolated, check=False)
