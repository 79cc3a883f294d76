"""Helpers shared by the readers: units, labels, index selection, label checks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from molsym.data.errors import DataError
from molsym.data.frame import MIN_DISTANCE, Frame, check_frame, voigt_to_matrix
from molsym.data.units import energy_factor, length_factor

#: Frame key that marks a reference (isolated-atom) frame: ``np.array(True)``.
ISOLATED_ATOM = "isolated_atom"
#: The ``config_type`` value that marks isolated-atom frames in extxyz files.
ISOLATED_CONFIG_TYPE = "isolated_atom"

Index = Union[int, slice, str]


class Unsupported(Exception):
    """A file layout the fast reader does not handle: use the generic ASE reader."""


@dataclass(frozen=True)
class Units:
    """Factors from the units a file declares to molsym's eV, Å, eV/Å, eV/Å³."""

    energy: float = 1.0
    length: float = 1.0

    @classmethod
    def from_names(cls, energy_unit: str = "eV", length_unit: str = "Å") -> "Units":
        """Look the factors up in :mod:`molsym.data.units` (``ValueError`` if unknown)."""
        return cls(energy_factor(energy_unit), length_factor(length_unit))

    @property
    def force(self) -> float:
        """Factor for forces: energy / length."""
        return self.energy / self.length

    @property
    def stress(self) -> float:
        """Factor for stress: energy / length³."""
        return self.energy / self.length ** 3


@dataclass(frozen=True)
class LabelSpec:
    """Which labels to read and whether a missing one is an error.

    A key set to ``None`` is not read. A label named in ``required``
    (``"energy"``, ``"forces"``, ``"stress"``) that a frame lacks is a
    :class:`DataError`; forces and stress are never required of isolated-atom
    frames (they have none). ``info_keys`` are extra per-frame scalars copied
    from the file without unit conversion (always required).
    """

    energy_key: Optional[str] = "energy"
    forces_key: Optional[str] = "forces"
    stress_key: Optional[str] = None
    required: Tuple[str, ...] = ()
    info_keys: Sequence[str] = ()


def parse_index(index: Index, n: int, source: Optional[str] = None) -> List[int]:
    """Frame positions selected by ``index`` (an int, a slice or ASE's string form).

    A malformed or out-of-range index is a :class:`DataError` naming ``source``.
    """
    if isinstance(index, str):
        from ase.io.formats import string2index
        try:
            index = string2index(index)
        except ValueError:
            raise DataError(source, None,
                            f"bad frame index {index!r} (use e.g. ':', '-1', '0:10:2')") from None
    if isinstance(index, (int, np.integer)):
        i = int(index)
        if not -n <= i < n:
            raise DataError(source, None, f"frame index {i} out of range for {n} frames")
        return [i % n]
    if isinstance(index, slice):
        return list(range(n))[index]
    raise DataError(source, None, f"frame index must be an int, a slice or a string, got {index!r}")


def finish_frame(source: str, i: int, z, pos, cell, pbc, labels: Dict[str, object],
                 spec: LabelSpec, units: Units, isolated: bool = False,
                 check: bool = True) -> Frame:
    """Convert units, check that required labels exist, build and check one frame.

    Parameters
    ----------
    z : [n] atomic numbers
    pos : [n, 3] in the file's length unit
    cell : [3, 3] or None, in the file's length unit
    labels : ``energy`` (file energy unit), ``forces`` ([n, 3] energy/length),
        ``stress`` (energy/length³, 3x3, 9 or Voigt 6), plus any ``info_keys``
        (copied without conversion); ``None`` for a missing label.
    check : run :func:`~molsym.data.frame.check_frame` now; readers that
        build many frames pass ``False`` and call :func:`validate_frames`
        once on all of them instead.
    """
    wanted = (("energy", spec.energy_key, units.energy),
              ("forces", spec.forces_key, units.force),
              ("stress", spec.stress_key, units.stress))
    out = {}
    for name, key, factor in wanted:
        if key is None:
            continue
        value = labels.get(name)
        if value is None:
            if name in spec.required and not (isolated and name != "energy"):
                raise DataError(source, i, f"missing {name} label {key!r}")
            continue
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(source, i, f"{name} label {key!r} is not numeric: {value!r}") from None
        if name == "energy":
            if arr.size != 1:
                raise DataError(source, i, f"energy label {key!r} has {arr.size} values, expected one")
            arr = arr.reshape(())
        out[name] = arr * factor
    for key in spec.info_keys:
        value = labels.get(key)
        if value is None:
            raise DataError(source, i, f"missing property {key!r}")
        try:
            out[key] = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(source, i, f"property {key!r} is not numeric: {value!r}") from None
    try:
        frame = _make(z, pos, cell, pbc, units.length, out)
    except ValueError as err:
        raise DataError(source, i, str(err)) from None
    if isolated:
        frame[ISOLATED_ATOM] = np.array(True)
    return check_frame(frame, source, i) if check else frame


def _make(z, pos, cell, pbc, length: float, labels: Dict[str, np.ndarray]) -> Frame:
    """:func:`~molsym.data.frame.make_frame`'s canonical dtypes and shapes, built directly."""
    z = np.asarray(z, dtype=np.int64).reshape(-1)
    pbc = np.array(pbc, dtype=bool)
    frame: Frame = {
        "atomic_numbers": z,
        "pos": np.asarray(pos, dtype=np.float64).reshape(-1, 3) * length,
        "cell": np.zeros((3, 3)) if cell is None
        else np.asarray(cell, dtype=np.float64).reshape(3, 3) * length,
        "pbc": pbc if pbc.shape == (3,) else np.broadcast_to(pbc, (3,)).copy(),
    }
    for key, arr in labels.items():
        if key == "forces":
            arr = arr.reshape(-1, 3)
        elif key == "stress":
            arr = voigt_to_matrix(arr)
        frame[key] = arr
    return frame


def validate_frames(frames: Sequence[Frame], positions: Sequence[int], source: Optional[str],
                    max_pair_block: int = 2_000_000) -> None:
    """Run :func:`~molsym.data.frame.check_frame`'s checks on many frames at once.

    The checks (atoms present, 1 <= Z <= 118, shapes, no NaN/inf, no two
    atoms closer than :data:`~molsym.data.frame.MIN_DISTANCE`) are
    vectorised over groups of frames with the same atom count; every frame
    flagged is then passed to ``check_frame`` itself, in file order, so the
    error raised is exactly the one ``check_frame`` gives for the first bad
    frame. ``positions`` are the frames' indices in the file.
    """
    groups: Dict[int, List[int]] = {}
    suspects = set()
    for k, frame in enumerate(frames):
        n = frame["atomic_numbers"].shape[0]
        if n == 0 or frame["pos"].shape != (n, 3) or \
                ("forces" in frame and frame["forces"].shape != (n, 3)):
            suspects.add(k)
        else:
            groups.setdefault(n, []).append(k)
    for key in {key for frame in frames for key in frame}:
        members = [k for k, f in enumerate(frames) if key in f and f[key].dtype.kind == "f"]
        if not members:
            continue
        sizes = np.array([frames[k][key].size for k in members])
        flat = np.concatenate([frames[k][key].reshape(-1) for k in members])
        bad = ~np.isfinite(flat)
        if bad.any():
            owner = np.searchsorted(np.cumsum(sizes), np.flatnonzero(bad), side="right")
            suspects.update(members[j] for j in np.unique(owner))
    for n, members in groups.items():
        z = np.stack([frames[k]["atomic_numbers"] for k in members])
        suspects.update(members[j] for j in np.flatnonzero(((z < 1) | (z > 118)).any(axis=1)))
        if n < 2:
            continue
        pos = np.stack([frames[k]["pos"] for k in members])
        if n * (n - 1) // 2 > max_pair_block:  # big cells: check_frame's chunked search
            suspects.update(members)
            continue
        first, second = np.triu_indices(n, k=1)
        step = max(1, max_pair_block // len(first))
        for start in range(0, len(members), step):
            block = pos[start:start + step]
            diff = block[:, first] - block[:, second]  # [frames, pairs, 3]
            d2 = np.einsum("fpk,fpk->fp", diff, diff)
            close = ~(d2 >= MIN_DISTANCE ** 2).all(axis=1)  # also catches NaN
            suspects.update(members[start + j] for j in np.flatnonzero(close))
    for k in sorted(suspects):
        check_frame(frames[k], source, positions[k])


def check_consistent_labels(frames: List[Frame], positions: Sequence[int], source: str) -> None:
    """Raise if a label is present in some ordinary frames but missing in others.

    A batch cannot mix labelled and unlabelled graphs. Isolated-atom frames
    are exempt (they carry an energy only). ``positions`` are the frames'
    indices in the file, for the message.
    """
    ordinary = [(p, f) for p, f in zip(positions, frames) if ISOLATED_ATOM not in f]
    if not ordinary:
        return
    for name in ("energy", "forces", "stress"):
        have = [name in f for _, f in ordinary]
        if any(have) and not all(have):
            first = next(p for (p, _), h in zip(ordinary, have) if h)
            missing = next(p for (p, _), h in zip(ordinary, have) if not h)
            raise DataError(source, missing, f"no {name} label, although frame {first} has one")


def split_isolated(frames: Sequence[Frame]):
    """Separate isolated-atom reference frames from ordinary ones.

    Returns
    -------
    frames : list of the ordinary frames
    e0s : dict ``{Z: energy in eV}`` from the isolated-atom frames; a DataError
        if one has several atoms or no energy, or if two disagree for the same
        element. Which frames count is :func:`molsym.data.statistics.is_isolated_atom`.
    """
    from molsym.data.statistics import e0s_from_isolated, partition_isolated
    ordinary, isolated = partition_isolated(frames)
    return ordinary, e0s_from_isolated(isolated)
