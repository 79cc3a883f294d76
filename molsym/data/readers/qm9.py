"""QM9: 130,831 characterised small organic molecules with 15 properties, in eV-based units.

Two sources give the same table:

* the public figshare archive (``dsgdb9nsd.xyz.tar.bz2``, 133,885 ``.xyz``
  files, and ``uncharacterized.txt``, the 3,054 molecules that failed the
  consistency check); :func:`download_qm9` fetches both (never called by
  the tests: nothing downloads at run time here);
* the ``qm9pack`` package (``pip install 'molsym[qm9]'``), which ships the
  characterised molecules as CSV tables.

:func:`load_qm9` parses a source once, converts every property with the
named factors below, checks every molecule, and caches the result as one
``.npz`` file (written atomically); later loads read the cache. Properties
are per-graph fields registered with :func:`molsym.data.keys.register_graph_field`.

A single QM9 ``.xyz`` file (one molecule of the archive, or several written
one after the other) is read by :func:`read_qm9_xyz`, with the same factors;
:func:`molsym.data.readers.read_frames` sends every ``.xyz`` file whose line
2 starts with ``gdb`` there, so ``molsym data inspect`` and the training
data reader accept them (``--energy-key U0`` takes U0 as the energy).

==========  =================  ==============  =============================
key         source unit        molsym unit     factor
==========  =================  ==============  =============================
rot_A/B/C   GHz                GHz             1 (rotational constants)
mu          Debye              e·Å             :data:`DEBYE_TO_E_ANGSTROM`
alpha       Bohr³              Å³              :data:`BOHR3_TO_ANGSTROM3`
homo, lumo  Hartree            eV              HARTREE_TO_EV
gap         Hartree            eV              HARTREE_TO_EV
r2          Bohr²              Å²              :data:`BOHR2_TO_ANGSTROM2`
zpve        Hartree            eV              HARTREE_TO_EV
U0, U, H, G Hartree            eV              HARTREE_TO_EV (total energies)
Cv          cal/(mol·K)        eV/K            :data:`CAL_PER_MOL_K_TO_EV_PER_K`
==========  =================  ==============  =============================
"""
from __future__ import annotations

import os
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np
from ase import units as _ase_units

from molsym.data.errors import DataError
from molsym.data.frame import Frame
from molsym.data.keys import register_graph_field
from molsym.data.readers._common import Index, LabelSpec, parse_index, validate_frames
from molsym.data.readers._qm9_parse import (RawQM9, parse_qm9_text, read_qm9_archive, read_qm9pack,
                                            read_uncharacterized)
from molsym.data.units import BOHR_TO_ANGSTROM, HARTREE_TO_EV, KCAL_PER_MOL_TO_EV
from molsym.files import atomic_path

#: figshare download of the 133,885 QM9 ``.xyz`` files (dsgdb9nsd.xyz.tar.bz2).
QM9_URL = "https://ndownloader.figshare.com/files/3195389"
#: figshare download of the list of 3,054 uncharacterised molecules.
QM9_UNCHARACTERIZED_URL = "https://ndownloader.figshare.com/files/3195404"
QM9_NUM_MOLECULES = 133_885
QM9_NUM_UNCHARACTERIZED = 3_054
QM9_NUM_CHARACTERIZED = QM9_NUM_MOLECULES - QM9_NUM_UNCHARACTERIZED  # 130,831

#: 1 Debye in e·Å (dipole moments).
DEBYE_TO_E_ANGSTROM = float(_ase_units.Debye)
#: 1 Bohr³ in Å³ (polarisabilities).
BOHR3_TO_ANGSTROM3 = BOHR_TO_ANGSTROM ** 3
#: 1 Bohr² in Å² (electronic spatial extent).
BOHR2_TO_ANGSTROM2 = BOHR_TO_ANGSTROM ** 2
#: 1 cal/(mol·K) in eV/K per molecule (heat capacities).
CAL_PER_MOL_K_TO_EV_PER_K = KCAL_PER_MOL_TO_EV / 1000.0

#: Bump when the cache layout changes; older caches are rebuilt.
CACHE_VERSION = 1


class QM9Property(NamedTuple):
    """One QM9 target: frame key, source unit, factor to the molsym unit, molsym unit, meaning."""

    key: str
    source_unit: str
    factor: float
    unit: str
    doc: str


#: The 15 properties, in the order of line 2 of a QM9 ``.xyz`` file.
PROPERTIES: Tuple[QM9Property, ...] = (
    QM9Property("rot_A", "GHz", 1.0, "GHz", "rotational constant A"),
    QM9Property("rot_B", "GHz", 1.0, "GHz", "rotational constant B"),
    QM9Property("rot_C", "GHz", 1.0, "GHz", "rotational constant C"),
    QM9Property("mu", "Debye", DEBYE_TO_E_ANGSTROM, "e·Å", "dipole moment"),
    QM9Property("alpha", "Bohr³", BOHR3_TO_ANGSTROM3, "Å³", "isotropic polarisability"),
    QM9Property("homo", "Hartree", HARTREE_TO_EV, "eV", "HOMO energy"),
    QM9Property("lumo", "Hartree", HARTREE_TO_EV, "eV", "LUMO energy"),
    QM9Property("gap", "Hartree", HARTREE_TO_EV, "eV", "HOMO-LUMO gap"),
    QM9Property("r2", "Bohr²", BOHR2_TO_ANGSTROM2, "Å²", "electronic spatial extent"),
    QM9Property("zpve", "Hartree", HARTREE_TO_EV, "eV", "zero-point vibrational energy"),
    QM9Property("U0", "Hartree", HARTREE_TO_EV, "eV", "internal energy at 0 K"),
    QM9Property("U", "Hartree", HARTREE_TO_EV, "eV", "internal energy at 298.15 K"),
    QM9Property("H", "Hartree", HARTREE_TO_EV, "eV", "enthalpy at 298.15 K"),
    QM9Property("G", "Hartree", HARTREE_TO_EV, "eV", "free energy at 298.15 K"),
    QM9Property("Cv", "cal/(mol K)", CAL_PER_MOL_K_TO_EV_PER_K, "eV/K", "heat capacity at 298.15 K"),
)
QM9_KEYS = tuple(p.key for p in PROPERTIES)
#: The total energies among the properties (eV), the choices for ``energy_key``.
QM9_ENERGY_KEYS = ("U0", "U", "H", "G")

for _p in PROPERTIES:
    register_graph_field(_p.key, unit=_p.unit, doc=f"QM9 {_p.doc}")


@dataclass
class QM9Data:
    """QM9 loaded: frames (eV-based units), SMILES and GDB ids, aligned by position.

    ``frames[i]`` holds ``atomic_numbers``, ``pos`` (Å), zero ``cell``, no
    ``pbc``, and one 0-d float array per key of :data:`QM9_KEYS` (plus
    ``energy`` if asked for); ``smiles[i]`` is its GDB-17 SMILES and
    ``gdb_index[i]`` its 1-based QM9 id.
    """

    frames: List[Frame]
    smiles: List[str]
    gdb_index: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


def default_cache_dir() -> Path:
    """``$MOLSYM_CACHE`` if set, else ``~/.cache/molsym``."""
    return Path(os.environ.get("MOLSYM_CACHE", Path.home() / ".cache" / "molsym"))


def download_qm9(dest, url: str = QM9_URL,
                 uncharacterized_url: Optional[str] = QM9_UNCHARACTERIZED_URL) -> Tuple[Path, Optional[Path]]:
    """Download the figshare archive (and the uncharacterised list) into ``dest``.

    Each file is written to a temporary name in ``dest`` and renamed when
    complete. Returns ``(archive path, uncharacterised list path or None)``.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    archive = _fetch(url, dest / "dsgdb9nsd.xyz.tar.bz2")
    excluded = _fetch(uncharacterized_url, dest / "uncharacterized.txt") if uncharacterized_url else None
    return archive, excluded


def _fetch(url: str, target: Path) -> Path:
    if target.exists():
        return target
    with atomic_path(target, suffix=".part") as tmp, open(tmp, "wb") as out, \
            urllib.request.urlopen(url) as response:
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
    return target


def load_qm9(source="qm9pack", cache_dir=None, uncharacterized=None, rebuild: bool = False,
             energy_property: Optional[str] = None, progress: bool = True) -> QM9Data:
    """Load QM9 in eV-based units, from the cache when it is there.

    Parameters
    ----------
    source : ``"qm9pack"`` (the installed package's tables) or the path of
        the figshare ``dsgdb9nsd.xyz.tar.bz2``
    cache_dir : folder of the cache file (default :func:`default_cache_dir`)
    uncharacterized : figshare's ``uncharacterized.txt``; its molecules are
        left out (for the archive; qm9pack holds none of them). Default: the
        file of that name beside the archive, if present.
    rebuild : parse the source again even if a cache exists
    energy_property : also store this property (e.g. ``"U0"``) as ``energy``
    progress : show progress bars while parsing

    Examples
    --------
    >>> qm9 = load_qm9()  # doctest: +SKIP
    >>> len(qm9), qm9.smiles[0], float(qm9.frames[0]["homo"])  # doctest: +SKIP
    (130831, 'C', -10.549...)
    """
    if energy_property is not None and energy_property not in QM9_KEYS:
        raise ValueError(f"energy_property must be one of {QM9_KEYS}, got {energy_property!r}")
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    source_id, parse = _source(source, uncharacterized, progress)
    cache = cache_dir / f"qm9_{'qm9pack' if source == 'qm9pack' else Path(source).name.split('.')[0]}.npz"
    table = None if rebuild else _read_cache(cache, source_id)
    if table is None:
        table = _convert(parse(), str(source))
        _write_cache(cache, table, source_id)
    return _frames(table, energy_property)


def read_qm9_xyz(path, spec: LabelSpec = LabelSpec(), index: Index = ":") -> List[Frame]:
    """Read a QM9 ``.xyz`` file (GDB format) into checked frames in eV-based units.

    Line 1 is the atom count ``n``, line 2 ``gdb <id>`` and the 15 properties
    of :data:`PROPERTIES`, then ``n`` lines ``element x y z mulliken_charge``,
    the harmonic frequencies, the SMILES and the InChI lines. Every frame
    holds ``atomic_numbers``, ``pos`` (Å), a zero ``cell``, no ``pbc`` and the
    15 properties converted as in :func:`load_qm9`; the Mulliken charges,
    frequencies, SMILES and InChIs are not kept.

    Parameters
    ----------
    path : the file (one molecule, or several one after the other)
    spec : labels asked for. ``energy_key`` naming a property (``"U0"``,
        ``"U"``, ``"H"``, ``"G"``, or any of :data:`QM9_KEYS`) stores it also
        as ``energy``; the default key ``"energy"`` reads no energy unless
        required. QM9 has no forces or stress: a required one is an error.
    index : frames to return (int, slice, or ASE's string form)

    Examples
    --------
    >>> frames = read_qm9_xyz("dsgdb9nsd_000001.xyz", LabelSpec(energy_key="U0"))  # doctest: +SKIP
    >>> float(frames[0]["energy"])  # doctest: +SKIP
    -1101.4877...
    """
    source = str(path)
    energy_property = _energy_property(spec, source)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(source, None, f"not a text file ({err.reason})") from None
    try:
        table = _convert(parse_qm9_text(text, source), source)
    except DataError as err:  # say which format the file was read as
        raise DataError(source, err.frame, f"QM9 .xyz (GDB format): {err.reason}") from None
    frames = _frames(table, energy_property).frames
    return [frames[i] for i in parse_index(index, len(frames), source)]


def _energy_property(spec: LabelSpec, source: str) -> Optional[str]:
    """The property a QM9 file gives as ``energy`` under ``spec``, or None; refuse what it lacks."""
    for name, key in (("forces", spec.forces_key), ("stress", spec.stress_key)):
        if key is not None and name in spec.required:
            raise DataError(source, None, f"QM9 .xyz (GDB format) has no {name}, but the {name} "
                                          f"label {key!r} was asked for")
    unknown = [k for k in spec.info_keys if k not in QM9_KEYS]
    if unknown:
        raise DataError(source, None, f"QM9 .xyz (GDB format) has no property {unknown[0]!r}; "
                                      f"it holds {', '.join(QM9_KEYS)}")
    key = spec.energy_key
    if key in QM9_KEYS:
        return key
    if key is not None and "energy" in spec.required:
        raise DataError(source, None, f"QM9 .xyz (GDB format) has no energy label {key!r}; name one "
                                      f"of its energies, {', '.join(QM9_ENERGY_KEYS)} (eV), "
                                      "e.g. --energy-key U0")
    return None


def _source(source, uncharacterized, progress):
    """(identity of the source for the cache, function that parses it)."""
    if source == "qm9pack":
        from molsym.data.readers._qm9_parse import qm9pack_dir
        data_dir = qm9pack_dir()
        stamp = sorted((p.name, p.stat().st_size) for p in data_dir.glob("qm9_part*.csv"))
        return f"qm9pack:{stamp}", lambda: read_qm9pack(data_dir, progress=progress)
    path = Path(source)
    if not path.is_file():
        raise DataError(str(path), None, "no such QM9 archive (expected dsgdb9nsd.xyz.tar.bz2)")
    if uncharacterized is None and (path.parent / "uncharacterized.txt").is_file():
        uncharacterized = path.parent / "uncharacterized.txt"
    if uncharacterized is None:
        warnings.warn(f"{path}: no uncharacterized.txt given or found beside the archive; the "
                      f"{QM9_NUM_UNCHARACTERIZED} uncharacterised molecules are kept", stacklevel=3)
    exclude = read_uncharacterized(uncharacterized) if uncharacterized is not None else set()
    stamp = f"archive:{path.resolve()}:{path.stat().st_size}:excluded={len(exclude)}"
    return stamp, lambda: read_qm9_archive(path, exclude, progress=progress)


def _convert(raw: RawQM9, source: str) -> Dict[str, np.ndarray]:
    """Source units → molsym units, every molecule checked; the arrays the cache stores."""
    factors = np.array([p.factor for p in PROPERTIES])
    table = {"z": raw.z, "pos": raw.pos, "ptr": raw.ptr, "properties": raw.properties * factors,
             "gdb_index": raw.gdb_index, "smiles": np.array(raw.smiles, dtype=str)}
    frames = _frames(table, None).frames
    validate_frames(frames, range(len(frames)), source)
    return table


def _frames(table: Dict[str, np.ndarray], energy_property: Optional[str]) -> QM9Data:
    z, pos, ptr, props = table["z"], table["pos"], table["ptr"], table["properties"]
    energy_col = QM9_KEYS.index(energy_property) if energy_property else None
    frames = []
    for i in range(len(ptr) - 1):
        a, b, row = ptr[i], ptr[i + 1], props[i]
        frame = {"atomic_numbers": z[a:b], "pos": pos[a:b], "cell": np.zeros((3, 3)),
                 "pbc": np.zeros(3, dtype=bool)}
        for j, key in enumerate(QM9_KEYS):
            frame[key] = row[j, ...]
        if energy_col is not None:
            frame["energy"] = row[energy_col, ...]
        frames.append(frame)
    return QM9Data(frames, table["smiles"].tolist(), table["gdb_index"])


def _write_cache(path: Path, table: Dict[str, np.ndarray], source_id: str) -> None:
    """Write the cache atomically (:func:`molsym.files.atomic_path`)."""
    # through a handle: given a file name without ".npz", np.savez would append one
    with atomic_path(path, suffix=".part") as tmp, open(tmp, "wb") as out:
        np.savez(out, version=np.array(CACHE_VERSION), source_id=np.array(source_id),
                 keys=np.array(QM9_KEYS), **table)


def _read_cache(path: Path, source_id: str) -> Optional[Dict[str, np.ndarray]]:
    """The cached table, or None if absent, stale, or from another source or version."""
    if not path.is_file():
        return None
    try:  # our own handle: np.load leaves its file open when the zip is truncated
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
            if int(data["version"]) != CACHE_VERSION or str(data["source_id"]) != source_id \
                    or tuple(data["keys"].tolist()) != QM9_KEYS:
                return None
            return {k: data[k] for k in ("z", "pos", "ptr", "properties", "gdb_index", "smiles")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # unreadable or truncated: rebuilt and replaced
