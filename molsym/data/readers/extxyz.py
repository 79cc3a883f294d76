"""Fast extended-XYZ reader (vectorised atom blocks), with ASE as the fallback.

The common case (a ``Properties=`` spec with ``species`` or ``Z`` and
``pos``, real/integer/string/logical columns) is parsed here: the comment
lines by :func:`molsym.data.readers._comment.read_comment` (ASE's
``key=value`` grammar), the atom blocks of all frames that share one
``Properties`` spec as one numpy array. Anything else (a comment line ASE
itself cannot parse, a spec without positions) goes through ``ase.io.read``.
Structural errors (wrong atom count, non-numeric numbers, unknown element)
are :class:`~molsym.data.errors.DataError` naming the file and frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from ase.data import atomic_numbers as _SYMBOL_TO_Z

from molsym.data.errors import DataError
from molsym.data.frame import Frame
from molsym.data.readers._comment import Comment, read_comment
from molsym.data.readers._common import (ISOLATED_CONFIG_TYPE, Index, LabelSpec, Units,
                                         Unsupported, check_consistent_labels, finish_frame,
                                         parse_index, validate_frames)

#: Properties spec ASE assumes when a comment line has none (plain XYZ).
DEFAULT_PROPERTIES = "species:S:1:pos:R:3"
#: Pending atom-block tokens converted to arrays at once (bounds the memory).
FLUSH_TOKENS = 2_000_000


@dataclass
class _Layout:
    """Columns of one ``Properties`` spec: name → (first column, width, type)."""

    spec: str
    columns: Dict[str, Tuple[int, int, str]]
    ncols: int
    tokens: List[str] = field(default_factory=list)
    rows: int = 0
    flushed: int = 0
    chunks: List[Dict[str, np.ndarray]] = field(default_factory=list)

    def flush(self, metas: List["_Meta"], source: str) -> None:
        """Convert the pending tokens to arrays (keeps memory near the file size)."""
        if self.rows > self.flushed:
            self.chunks.append(_table(self, metas, source))
            self.flushed = self.rows

    def table(self) -> Dict[str, np.ndarray]:
        """All rows of this layout, every column concatenated."""
        return {key: np.concatenate([c[key] for c in self.chunks]) for key in self.chunks[0]}

    @classmethod
    def parse(cls, spec: str) -> "_Layout":
        parts = spec.split(":")
        if len(parts) % 3 != 0:
            raise Unsupported(f"Properties={spec!r}")
        columns, start = {}, 0
        for name, kind, width in zip(parts[::3], parts[1::3], parts[2::3]):
            if kind not in "RISL" or len(kind) != 1 or not width.isdigit() or int(width) < 1:
                raise Unsupported(f"Properties={spec!r}")
            columns[name] = (start, int(width), kind)
            start += int(width)
        if "pos" not in columns or not ({"species", "Z"} & set(columns)):
            raise Unsupported(f"Properties={spec!r} has no pos or species/Z column")
        return cls(spec, columns, start)


@dataclass
class _Meta:
    """Where one frame's atoms sit: its layout and first row in that layout's table."""

    natoms: int
    info: Comment
    layout: _Layout
    row: int


def read_extxyz(path, spec: LabelSpec, units: Units, index: Index = ":") -> List[Frame]:
    """Read an (extended) XYZ file into checked frames in eV and Å.

    Parameters
    ----------
    path : file name
    spec : which labels to read (energy/stress from the comment line, forces
        from the ``Properties`` column named ``spec.forces_key``)
    units : factors from the file's declared units to eV and Å
    index : frames to return (int, slice, or ASE's string form such as ``":"``)

    Frames whose ``config_type`` is ``isolated_atom`` carry the marker
    ``frame["isolated_atom"] = np.array(True)``.
    """
    source = str(path)
    try:
        metas, tables = _scan(Path(path), source)
    except Unsupported:
        from molsym.data.readers.ase_reader import read_ase
        return read_ase(path, spec, units, index, format="extxyz")
    chosen = parse_index(index, len(metas), source)
    frames, memo = [], {}
    for i in chosen:
        try:
            frames.append(_build(source, i, metas[i], tables[id(metas[i].layout)], spec, units, memo))
        except Unsupported as err:  # a value ASE's parser also rejects
            raise DataError(source, i, f"bad comment line: {err}") from None
    validate_frames(frames, chosen, source)
    check_consistent_labels(frames, chosen, source)
    return frames


def _scan(path: Path, source: str):
    """Split the file into frames; return per-frame metadata and per-layout tables."""
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as err:
        raise DataError(source, None, f"not a text file ({err.reason})") from None
    if not any(line.strip() for line in lines):
        raise DataError(source, 0, "file is empty: no frames")
    layouts: Dict[str, _Layout] = {}
    metas: List[_Meta] = []
    at, nlines = 0, len(lines)
    while at < nlines:
        head = lines[at].strip()
        if not head:
            if not any(line.strip() for line in lines[at:]):
                break
            raise DataError(source, len(metas), f"line {at + 1}: blank line where the atom count belongs")
        frame = len(metas)
        try:
            natoms = int(head)
        except ValueError:
            if head.startswith("VEC"):
                raise Unsupported("cell given as VEC pseudo-atoms") from None
            raise DataError(source, frame, f"line {at + 1}: expected the atom count, found {head!r} "
                                           "(is the previous frame's atom count right?)") from None
        if natoms < 0:
            raise DataError(source, frame, f"line {at + 1}: negative atom count {natoms}")
        if at + 1 >= nlines:
            raise DataError(source, frame, "file ends before the comment line")
        info = read_comment(lines[at + 1])
        props = info.raw("Properties", DEFAULT_PROPERTIES)
        if not isinstance(props, str):
            raise Unsupported("Properties is not a string")
        layout = layouts.get(props)
        if layout is None:
            layout = layouts[props] = _Layout.parse(props)
        first, last = at + 2, at + 2 + natoms
        if last > nlines:
            raise DataError(source, frame, f"atom count says {natoms} atoms but the file ends after "
                                           f"{nlines - first} atom lines")
        tokens = " ".join(lines[first:last]).split()
        if len(tokens) != natoms * layout.ncols:
            _raise_bad_line(source, frame, lines, first, last, layout)
        metas.append(_Meta(natoms, info, layout, layout.rows))
        layout.tokens.extend(tokens)
        layout.rows += natoms
        if len(layout.tokens) > FLUSH_TOKENS:
            layout.flush(metas, source)
        at = last
    for layout in layouts.values():
        layout.flush(metas, source)
    return metas, {id(layout): layout.table() for layout in layouts.values()}


def _raise_bad_line(source, frame, lines, first, last, layout):
    for k in range(first, last):
        found = len(lines[k].split())
        if found != layout.ncols:
            raise DataError(source, frame, f"line {k + 1} (atom {k - first}): {found} columns, "
                                           f"expected {layout.ncols} for Properties={layout.spec} "
                                           f"(is the atom count {last - first} right?)")
    raise DataError(source, frame, "atom block does not match its Properties spec")  # pragma: no cover


def _table(layout: _Layout, metas: List[_Meta], source: str) -> Dict[str, np.ndarray]:
    """Convert one layout's pending tokens into numeric columns, many frames at once.

    Columns that are neither real nor integer are deleted from the row-major
    token list (highest first, so the lower column offsets stay valid); the
    rest becomes one float array in a single conversion.
    """
    tokens, ncols = layout.tokens, layout.ncols
    layout.tokens = []
    base, rows = layout.flushed, layout.rows - layout.flushed
    out: Dict[str, np.ndarray] = {}
    if "species" in layout.columns:
        species = tokens[layout.columns["species"][0]::ncols]
        out["Z"] = _symbols_to_z(species, base, layout, metas, source)
    numeric, offset = {}, 0
    for name, (start, width, kind) in layout.columns.items():
        if kind in "RI" and name != "species":
            numeric[name] = (offset, width)
            offset += width
    for name, (start, width, kind) in sorted(layout.columns.items(), key=lambda c: -c[1][0]):
        if kind not in "RI" or name == "species":
            for column in range(start + width - 1, start - 1, -1):
                del tokens[column::ncols]
                ncols -= 1
    try:
        values = np.array(tokens, dtype=np.float64).reshape(rows, ncols)
    except ValueError:
        _raise_non_numeric(source, np.array(tokens, dtype=str).reshape(rows, ncols), base,
                           numeric, layout, metas)
    for name, (offset, width) in numeric.items():
        out[name] = values[:, offset:offset + width]
    if "species" not in layout.columns:
        z = out["Z"][:, 0]
        if np.any(z != np.round(z)):
            row = int(np.argmax(z != np.round(z)))
            frame, atom = _locate(base + row, layout, metas)
            raise DataError(source, frame, f"atom {atom}: atomic number {z[row]} is not an integer")
        out["Z"] = z.astype(np.int64)
    return out


def _symbols_to_z(symbols: List[str], base: int, layout, metas, source) -> np.ndarray:
    z = [_SYMBOL_TO_Z.get(sym) for sym in symbols]
    if None in z:
        row = z.index(None)
        sym = symbols[row]
        if sym.isdigit():  # a numeric species column
            z = [_SYMBOL_TO_Z.get(s, int(s) if s.isdigit() else None) for s in symbols]
            if None not in z:
                return np.array(z, dtype=np.int64)
            row = z.index(None)
            sym = symbols[row]
        if sym.startswith("VEC"):
            raise Unsupported("cell given as VEC pseudo-atoms")
        frame, atom = _locate(base + row, layout, metas)
        raise DataError(source, frame, f"atom {atom}: unknown element {sym!r}")
    return np.array(z, dtype=np.int64)


def _raise_non_numeric(source, table, base, numeric, layout, metas):
    for row in range(table.shape[0]):
        for name, (offset, width) in numeric.items():
            for value in table[row, offset:offset + width]:
                try:
                    float(value)
                except ValueError:
                    frame, atom = _locate(base + row, layout, metas)
                    raise DataError(source, frame, f"atom {atom}: non-numeric value {str(value)!r} "
                                                   f"in column {name!r}") from None
    raise DataError(source, None, "non-numeric atom data")  # pragma: no cover


def _locate(row: int, layout: _Layout, metas: List[_Meta]) -> Tuple[int, int]:
    """(frame index, atom index) of table ``row`` of ``layout``."""
    for i, meta in enumerate(metas):
        if meta.layout is layout and meta.row <= row < meta.row + meta.natoms:
            return i, row - meta.row
    return len(metas), row - layout.rows  # the frame being scanned


def _build(source, i, meta: _Meta, table, spec: LabelSpec, units: Units, memo: dict) -> Frame:
    rows = slice(meta.row, meta.row + meta.natoms)
    info = meta.info
    labels: Dict[str, object] = {key: info.get(key) for key in spec.info_keys}
    # "calc" means "what ASE would put in the calculator": the standard names
    energy_key, forces_key, stress_key = (
        name if key == "calc" else key for name, key in
        (("energy", spec.energy_key), ("forces", spec.forces_key), ("stress", spec.stress_key)))
    if energy_key is not None:
        labels["energy"] = _scalar(info.get(energy_key))
    if forces_key is not None:
        col = table.get(forces_key)
        if col is not None:
            if col.shape[1] != 3:
                raise DataError(source, i, f"forces column {forces_key!r} has {col.shape[1]} "
                                           "components, expected 3")
            labels["forces"] = col[rows]
    if stress_key is not None:
        labels["stress"] = info.get(stress_key)
    lattice = _memo(info, "Lattice", memo)
    cell = None if lattice is None else np.asarray(lattice, dtype=np.float64).T
    pbc = _memo(info, "pbc", memo)
    if pbc is None:
        pbc = lattice is not None
    isolated = info.raw("config_type") == ISOLATED_CONFIG_TYPE
    return finish_frame(source, i, table["Z"][rows], table["pos"][rows], cell, pbc, labels,
                        spec, units, isolated=isolated, check=False)


def _memo(info: Comment, key: str, memo: dict):
    """``info.get(key)``, converted once per distinct text (cells repeat across frames).

    Callers must not modify the result in place (it is shared).
    """
    raw = info.raw(key)
    if raw is None:
        return None
    if not isinstance(raw, str):
        return raw
    if (key, raw) not in memo:
        memo[key, raw] = info.get(key)
    return memo[key, raw]


def _scalar(value: Optional[object]):
    """A single energy value; arrays of one element are unwrapped."""
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.reshape(())
    return value
