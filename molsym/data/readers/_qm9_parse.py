"""Parse the two QM9 sources into one raw table (source units, before conversion).

* the figshare archive ``dsgdb9nsd.xyz.tar.bz2``: 133,885 ``.xyz`` files.
  Line 1 the atom count ``n``; line 2 ``gdb <id>`` and 15 properties;
  ``n`` lines ``element x y z mulliken``; harmonic frequencies; the GDB-17
  and the relaxed SMILES; the two InChIs. Numbers use Mathematica's ``*^``
  for exponents (``1.2*^-5``).
* the ``qm9pack`` tables: CSV files whose cells are Python literals
  (``0.``, ``[[0.59,0.,1.],...]``, ``['C','H']``).
"""
from __future__ import annotations

import csv
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Set

import numpy as np
from ase.data import atomic_numbers as _SYMBOL_TO_Z

from molsym.data.errors import DataError

#: Number of properties on line 2 of a QM9 ``.xyz`` file (A, B, C, mu, ..., Cv).
NUM_PROPERTIES = 15
#: qm9pack's column for each of the 15 properties, in line-2 order.
QM9PACK_COLUMNS = ("RotA_GHz", "RotB_GHz", "RotC_GHz", "Dipole_debye", "Polarizability_bohr3",
                   "HOMO_au", "LUMO_au", "HOMO_LUMO_gap_au", "R2_bohr2", "ZPVE_au",
                   "InternalEnergy_0K_au", "InternalEnergy_298K_au", "Enthalphy_298K_au",
                   "GibbsFreeEnergy_298K_au", "Heatcapacity_Cv_cal_mol_K")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"
_NUMBERS = re.compile(_NUMBER)
_SYMBOLS = re.compile(r"[A-Z][a-z]?")
_LIST_LEFTOVER = re.compile(r"[\[\]\s,]*")


@dataclass
class RawQM9:
    """QM9 as parsed, in the source's units (Å, Hartree, Debye, Bohr³, ...).

    ``z [N_total]``, ``pos [N_total, 3]`` Å, ``ptr [M+1]`` atom offsets,
    ``properties [M, 15]`` in line-2 order, ``gdb_index [M]`` (1-based ids),
    ``smiles`` (M GDB-17 SMILES strings).
    """

    z: np.ndarray
    pos: np.ndarray
    ptr: np.ndarray
    properties: np.ndarray
    gdb_index: np.ndarray
    smiles: List[str]


def qm9_float(text: str, source: str, frame: Optional[int], what: str) -> float:
    """One number written as a Python literal (``0.``, ``-1e-05``) or with ``*^``."""
    try:
        return float(text.strip().replace("*^", "e"))
    except ValueError:
        raise DataError(source, frame, f"{what}: not a number: {text!r}") from None


def read_uncharacterized(path) -> Set[int]:
    """GDB ids (1-based) listed in figshare's ``uncharacterized.txt``.

    The file has a text header and footer; data lines start with the id.
    """
    ids = set()
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit():
            ids.add(int(parts[0]))
    if not ids:
        raise DataError(str(path), None, "no molecule ids found in the uncharacterised list")
    return ids


def parse_qm9_xyz(text: str, source: str, frame: int):
    """One QM9 ``.xyz`` file → (gdb id, Z [n], pos [n, 3] Å, properties [15], SMILES)."""
    lines = text.splitlines()
    try:
        n = int(lines[0])
    except (IndexError, ValueError):
        raise DataError(source, frame, "first line is not an atom count") from None
    if len(lines) < n + 4:
        raise DataError(source, frame, f"{len(lines)} lines, expected {n + 5} for {n} atoms")
    head = lines[1].split()
    if len(head) != NUM_PROPERTIES + 2 or not head[1].isdigit():
        raise DataError(source, frame, f"line 2 has {len(head)} fields, expected 'gdb <id>' "
                                       f"and {NUM_PROPERTIES} properties")
    props = [qm9_float(v, source, frame, f"property {k}") for k, v in enumerate(head[2:])]
    z = np.empty(n, dtype=np.int64)
    pos = np.empty((n, 3))
    for a, line in enumerate(lines[2:2 + n]):
        parts = line.split()
        if len(parts) < 4:
            raise DataError(source, frame, f"atom {a}: expected 'element x y z charge'")
        symbol = _SYMBOL_TO_Z.get(parts[0])
        if symbol is None:
            raise DataError(source, frame, f"atom {a}: unknown element {parts[0]!r}")
        z[a] = symbol
        pos[a] = [qm9_float(v, source, frame, f"atom {a}") for v in parts[1:4]]
    smiles = lines[3 + n].split()
    if not smiles:
        raise DataError(source, frame, "no SMILES line")
    return int(head[1]), z, pos, props, smiles[0]


def read_qm9_archive(path, exclude: Iterable[int] = (), progress: bool = True) -> RawQM9:
    """Read the figshare ``dsgdb9nsd.xyz.tar.bz2`` (streamed, never extracted to disk).

    ``exclude`` lists GDB ids to drop (the 3,054 uncharacterised molecules).
    """
    from tqdm.auto import tqdm

    exclude = set(exclude)
    source = str(path)
    molecules = []
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tqdm(tar, desc="QM9 archive", unit=" files", disable=not progress):
                if not member.isfile() or not member.name.endswith(".xyz"):
                    continue
                text = tar.extractfile(member).read().decode()
                molecules.append(parse_qm9_xyz(text, f"{source}:{member.name}", len(molecules)))
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(source, None, f"cannot read QM9 archive: {err}") from None
    molecules.sort(key=lambda m: m[0])
    molecules = [m for m in molecules if m[0] not in exclude]
    if not molecules:
        raise DataError(source, 0, "archive holds no QM9 .xyz files")
    return _raw_table(molecules)


def looks_like_qm9_xyz(path) -> bool:
    """True if ``path`` starts like a QM9 ``.xyz`` file: an atom count, then ``gdb ...``.

    Only the first two lines are read. Line 2 of an (extended) XYZ file is a
    free comment, so a file whose comment line starts with the word ``gdb``
    is taken for QM9 and checked as such.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            first, second = handle.readline(), handle.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return first.strip().isdigit() and second.split()[:1] == ["gdb"]


def parse_qm9_text(text: str, source: str) -> RawQM9:
    """A QM9 ``.xyz`` file → raw table, molecules in file order.

    One file of the archive holds one molecule; several written one after
    the other (``cat dsgdb9nsd_*.xyz``) are read as consecutive frames. Each
    molecule takes ``n + 5`` lines (see the module docstring); blank lines
    between molecules are skipped.
    """
    lines = text.splitlines()
    molecules, at = [], 0
    while at < len(lines):
        if not lines[at].strip():
            at += 1
            continue
        frame = len(molecules)
        head = lines[at].strip()
        if not head.isdigit():
            raise DataError(source, frame, f"line {at + 1}: expected the atom count of a QM9 "
                                           f"molecule, found {head[:40]!r}")
        n = int(head)
        molecules.append(parse_qm9_xyz("\n".join(lines[at:at + n + 5]), source, frame))
        at += n + 5
    if not molecules:
        raise DataError(source, 0, "file is empty: no frames")
    return _raw_table(molecules)


def _raw_table(molecules) -> RawQM9:
    """The outputs of :func:`parse_qm9_xyz`, in the given order, as one table."""
    sizes = np.array([len(m[1]) for m in molecules])
    return RawQM9(z=np.concatenate([m[1] for m in molecules]),
                  pos=np.concatenate([m[2] for m in molecules]),
                  ptr=np.concatenate([[0], np.cumsum(sizes)]),
                  properties=np.array([m[3] for m in molecules], dtype=np.float64),
                  gdb_index=np.array([m[0] for m in molecules], dtype=np.int64),
                  smiles=[m[4] for m in molecules])


def qm9pack_dir() -> Path:
    """The data folder of the installed ``qm9pack`` package (located, not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the QM9 tables need the optional package qm9pack: "
                                  "pip install 'molsym[qm9]'")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def read_qm9pack(data_dir=None, exclude: Iterable[int] = (), limit: Optional[int] = None,
                 progress: bool = True) -> RawQM9:
    """Read qm9pack's ``qm9_part*.csv`` tables (130,831 characterised molecules).

    List cells are parsed in bulk with a number pattern that accepts every
    Python float literal (``0.``, ``.5``, ``1e-05``); whatever else a cell
    holds besides brackets, commas and numbers is an error naming the file
    and row. ``limit`` stops after that many molecules (for quick checks).
    """
    from tqdm.auto import tqdm

    data_dir = qm9pack_dir() if data_dir is None else Path(data_dir)
    files = sorted(data_dir.glob("qm9_part*.csv"))
    if not files:
        raise DataError(str(data_dir), None, "no qm9_part*.csv tables found")
    exclude = set(exclude)
    csv.field_size_limit(1 << 24)
    ids, natoms, smiles, props, elements, coords, origin = [], [], [], [], [], [], []
    for path in files:
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise DataError(str(path), 0, "empty table")
            col = {name: k for k, name in enumerate(header)}
            missing = [c for c in ("Index", "SMILES", "N_atoms", "Elements", "XYZ_Ang",
                                   *QM9PACK_COLUMNS) if c not in col]
            if missing:
                raise DataError(str(path), None, f"missing columns {missing}")
            prop_cols = [col[c] for c in QM9PACK_COLUMNS]
            for row_number, row in enumerate(tqdm(reader, desc=path.name, unit=" rows",
                                                  disable=not progress)):
                gdb = int(qm9_float(row[col["Index"]], str(path), row_number, "Index"))
                if gdb in exclude:
                    continue
                ids.append(gdb)
                natoms.append(int(qm9_float(row[col["N_atoms"]], str(path), row_number, "N_atoms")))
                smiles.append(row[col["SMILES"]])
                props.append([qm9_float(row[k], str(path), row_number, header[k]) for k in prop_cols])
                elements.append(row[col["Elements"]])
                coords.append(row[col["XYZ_Ang"]])
                origin.append((str(path), row_number))
                if limit is not None and len(ids) >= limit:
                    break
        if limit is not None and len(ids) >= limit:
            break
    natoms_arr = np.array(natoms, dtype=np.int64)
    z = _bulk_symbols(elements, natoms_arr, origin)
    pos = _bulk_numbers(coords, 3 * natoms_arr, origin).reshape(-1, 3)
    order = np.argsort(ids, kind="stable")
    return _reorder(RawQM9(z, pos, np.concatenate([[0], np.cumsum(natoms_arr)]),
                           np.array(props, dtype=np.float64), np.array(ids, dtype=np.int64),
                           smiles), order)


def _bulk_symbols(cells: List[str], counts: np.ndarray, origin) -> np.ndarray:
    found = _SYMBOLS.findall(",".join(cells))
    if len(found) != counts.sum() or not set(found) <= set(_SYMBOL_TO_Z):
        for k, cell in enumerate(cells):
            symbols = _SYMBOLS.findall(cell)
            if len(symbols) != counts[k]:
                raise DataError(*origin[k], f"Elements lists {len(symbols)} atoms, N_atoms is {counts[k]}")
            bad = [s for s in symbols if s not in _SYMBOL_TO_Z]
            if bad:
                raise DataError(*origin[k], f"unknown element {bad[0]!r}")
    return np.array([_SYMBOL_TO_Z[s] for s in found], dtype=np.int64)


def _bulk_numbers(cells: List[str], counts: np.ndarray, origin) -> np.ndarray:
    joined = ",".join(cells)
    found = _NUMBERS.findall(joined)
    leftover = _LIST_LEFTOVER.fullmatch(_NUMBERS.sub("", joined)) is None
    if len(found) != counts.sum() or leftover:
        for k, cell in enumerate(cells):
            numbers = _NUMBERS.findall(cell)
            if _LIST_LEFTOVER.fullmatch(_NUMBERS.sub("", cell)) is None:
                raise DataError(*origin[k], f"XYZ_Ang is not a list of numbers: {cell[:60]!r}")
            if len(numbers) != counts[k]:
                raise DataError(*origin[k], f"XYZ_Ang has {len(numbers)} numbers, expected {counts[k]}")
    return np.array(found, dtype=np.float64)


def _reorder(raw: RawQM9, order: np.ndarray) -> RawQM9:
    """Sort molecules by GDB id (the CSV parts are already sorted; this makes sure)."""
    if np.all(order == np.arange(len(order))):
        return raw
    sizes = np.diff(raw.ptr)[order]
    atoms = np.concatenate([np.arange(raw.ptr[k], raw.ptr[k + 1]) for k in order])
    return RawQM9(raw.z[atoms], raw.pos[atoms], np.concatenate([[0], np.cumsum(sizes)]),
                  raw.properties[order], raw.gdb_index[order], [raw.smiles[k] for k in order])
