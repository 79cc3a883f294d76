"""Readers: files → frames (:mod:`molsym.data.frame`), converted to eV and Å on read.

:func:`read_frames` is the one entry point; it dispatches on the file type:

==============================  =====================================================
file                            reader
==============================  =====================================================
``*.xyz``, ``*.extxyz``         :func:`~molsym.data.readers.extxyz.read_extxyz`
                                (fast numpy path; ``ase.io.read`` for what it skips)
QM9 ``*.xyz`` (line 2 ``gdb``)  :func:`~molsym.data.readers.qm9.read_qm9_xyz`
``*.npz``                       :func:`~molsym.data.readers.npz.read_npz` (MD17/rMD17/sGDML)
``*.db``                        :func:`~molsym.data.readers.ase_reader.read_db` (ASE database)
anything else                   :func:`~molsym.data.readers.ase_reader.read_ase` (``ase.io.read``)
==============================  =====================================================

A directory is refused with one line that says what to give instead,
unless it is an ASE BundleTrajectory (read by ASE) or ``format`` is named.

QM9 has its own loader, :func:`~molsym.data.readers.qm9.load_qm9`, which
also returns the SMILES strings (:class:`~molsym.data.readers.qm9.QM9Data`);
importing this package registers the QM9 targets as per-graph fields.

Isolated-atom reference frames
------------------------------
Frames are numeric dicts, so the ``config_type`` string is not stored.
Instead a frame whose ``config_type`` is ``isolated_atom`` carries the
marker ``frame["isolated_atom"] = np.array(True)`` (the key is
:data:`ISOLATED_ATOM`); ordinary frames do not have that key at all.
:func:`split_isolated` removes the marked frames and returns their energies
as ``{Z: E0 in eV}``; callers must split before building graphs, or the
marker would become a per-graph field.

Errors
------
Every problem with the input is a :class:`~molsym.data.errors.DataError`
whose message names the file and, where there is one, the frame index.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

from molsym.data.errors import DataError
from molsym.data.frame import Frame
from molsym.data.readers._common import ISOLATED_ATOM, Index, LabelSpec, Units, split_isolated
from molsym.data.readers.ase_reader import read_ase, read_db
from molsym.data.readers.extxyz import read_extxyz
from molsym.data.readers.npz import read_npz
from molsym.data.readers._qm9_parse import looks_like_qm9_xyz
from molsym.data.readers.qm9 import QM9_KEYS, QM9Data, download_qm9, load_qm9, read_qm9_xyz

_XYZ_SUFFIXES = (".xyz", ".extxyz")
_DEFAULT_KEYS = {"energy": "energy", "forces": "forces", "stress": None}
#: What a directory given as a data file is told (after its name).
DIRECTORY_MESSAGE = ("is a directory, not a data file: give one file (extxyz or QM9 .xyz, MD17 .npz, "
                     "ASE .db, any file ase.io reads) or a store from `molsym data pack`; for a folder "
                     "of files name the files (DIR/*.xyz), e.g. `molsym data pack DIR/*.xyz --out data.h5`")


def read_frames(path, energy_key: Optional[str] = "energy", forces_key: Optional[str] = "forces",
                stress_key: Optional[str] = None, index: Index = ":",
                require_labels: bool = False, energy_unit: Optional[str] = None,
                length_unit: Optional[str] = None, info_keys: Sequence[str] = (),
                format: Optional[str] = None, optional_labels: Sequence[str] = ()) -> List[Frame]:
    """Read the frames of ``path``, in eV, Å, eV/Å and eV/Å³.

    Parameters
    ----------
    path : file to read (see the module docstring for the formats)
    energy_key, forces_key, stress_key : where the labels are stored (for
        extxyz: the comment-line key of the energy and stress, the
        ``Properties`` column of the forces; ``"calc"`` reads an ASE
        calculator's results). ``None`` skips that label.
    index : frames to return: an int, a slice or ASE's string form (``":"``,
        ``"-1"``, ``"10:20:2"``). Error messages use indices in the file.
    require_labels : a frame without a requested label is an error. A label
        whose key differs from the default (``energy``, ``forces``, no
        stress) is always required: naming a key means asking for it.
    energy_unit, length_unit : the units the file stores (names from
        :mod:`molsym.data.units`); default eV and Å, except MD17 ``.npz``
        (kcal/mol, or the file's own ``e_unit``/``r_unit``). Forces are
        converted by energy/length, stress by energy/length³.
    info_keys : extra per-frame scalars to keep (e.g. ``["dihedral_angle"]``),
        copied without unit conversion.
    format : force an ``ase.io`` format name (then ASE reads the file).
    optional_labels : labels (``"energy"``, ``"forces"``, ``"stress"``) read
        where the file has them and never required, whatever their key:
        ``optional_labels=("stress",)`` with ``stress_key="stress"`` reads
        stress from files that carry it and accepts files that do not.

    Returns
    -------
    list of frames (dicts of numpy arrays, see :mod:`molsym.data.frame`),
    each passed through :func:`~molsym.data.frame.check_frame`. Isolated-atom
    frames carry :data:`ISOLATED_ATOM`; see :func:`split_isolated`.

    Examples
    --------
    >>> frames = read_frames("train.xyz", energy_key="REF_energy")  # doctest: +SKIP
    >>> frames, e0s = split_isolated(frames)  # doctest: +SKIP
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise DataError(source, None, "no such file")
    if path.is_dir() and format is None:
        from ase.io.bundletrajectory import BundleTrajectory
        if not BundleTrajectory.is_bundle(path):
            raise DataError(source, None, DIRECTORY_MESSAGE)
    required = tuple(name for name, key in (("energy", energy_key), ("forces", forces_key),
                                            ("stress", stress_key))
                     if key is not None and name not in optional_labels
                     and (require_labels or key != _DEFAULT_KEYS[name]))
    spec = LabelSpec(energy_key, forces_key, stress_key, required, tuple(info_keys))
    suffix = path.suffix.lower()
    if format is None and suffix == ".npz":
        return read_npz(path, spec, energy_unit, length_unit, index)
    try:
        units = Units.from_names(energy_unit or "eV", length_unit or "Å")
    except ValueError as err:
        raise DataError(source, None, str(err)) from None
    if format is None and suffix == ".db":
        return read_db(path, spec, units, index)
    if format is None and suffix in _XYZ_SUFFIXES and looks_like_qm9_xyz(path):
        if energy_unit is not None or length_unit is not None:
            raise DataError(source, None, "QM9 .xyz (GDB format) has fixed units (Å, Hartree, Debye, "
                                          "...), converted on read; energy_unit/length_unit do not apply")
        return read_qm9_xyz(path, spec, index)
    if (format is None and suffix in _XYZ_SUFFIXES) or format == "extxyz":
        return read_extxyz(path, spec, units, index)
    return read_ase(path, spec, units, index, format=format)


__all__ = ["read_frames", "split_isolated", "ISOLATED_ATOM", "read_extxyz", "read_npz",
           "read_ase", "read_db", "LabelSpec", "Units", "load_qm9", "download_qm9", "QM9Data",
           "QM9_KEYS", "read_qm9_xyz", "looks_like_qm9_xyz"]
