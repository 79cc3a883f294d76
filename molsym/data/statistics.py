"""Per-element reference energies (E0) and dataset statistics.

E0s come from one of three places:

* isolated-atom frames (``config_type=isolated_atom`` in extxyz; a frame of
  one atom is also taken as one) — :func:`e0s_from_isolated`;
* a user dict ``{Z: eV}``;
* a least-squares fit of total energies to element counts over the training
  set — :func:`fit_e0s_lstsq`.

:func:`compute_statistics` then gives what a model needs to normalise its
output: the species, the mean per-atom energy after E0 (eV), the force RMS
(eV/Å, per component) and the average number of neighbours within the cutoff.

Example
-------
>>> from molsym.data.frame import make_frame
>>> f = [make_frame([1, 1], [[0, 0, 0], [0, 0, 0.74]], energy=-31.0),
...      make_frame([8], [[0, 0, 0]], energy=-2000.0)]
>>> fit_e0s_lstsq(f[:1])
{1: -15.5}
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from molsym.data.errors import DataError
from molsym.data.frame import Frame
from molsym.data.neighbors import neighbor_list

E0s = Dict[int, float]

from molsym.data.readers._common import ISOLATED_ATOM  # noqa: E402  (the readers' marker key)


def is_isolated_atom(frame: Frame) -> bool:
    """True for a reference isolated-atom frame.

    The readers mark frames whose extxyz ``config_type`` is ``isolated_atom``
    with ``frame["isolated_atom"] = True``; a raw ``config_type`` entry is
    honoured too. A frame without either marker is taken as an isolated atom
    when it holds a single atom (as in files of E0s without ``config_type``).
    """
    if ISOLATED_ATOM in frame:
        return bool(np.asarray(frame[ISOLATED_ATOM]).reshape(-1)[0])
    ct = frame.get("config_type")
    if ct is not None:
        return str(np.asarray(ct).reshape(-1)[0]) == ISOLATED_ATOM
    return frame["atomic_numbers"].shape[0] == 1


def partition_isolated(frames: Iterable[Frame]) -> Tuple[List[Frame], List[Frame]]:
    """Separate ``(molecules, isolated_atoms)``, keeping the order of each.

    :func:`molsym.data.readers.split_isolated` returns the E0s instead of the frames.
    """
    mols, iso = [], []
    for f in frames:
        (iso if is_isolated_atom(f) else mols).append(f)
    return mols, iso


def e0s_from_isolated(frames: Sequence[Frame], source: Optional[str] = None) -> E0s:
    """``{Z: energy}`` from isolated-atom frames (eV).

    Raises :class:`DataError` for a frame without energy, with more than one
    atom, or two frames of the same element that disagree.
    """
    e0s: E0s = {}
    for i, f in enumerate(frames):
        z = f["atomic_numbers"]
        if z.shape[0] != 1:
            raise DataError(source, i, f"isolated-atom frame has {z.shape[0]} atoms")
        if "energy" not in f:
            raise DataError(source, i, "isolated-atom frame has no energy")
        zi, e = int(z[0]), float(f["energy"])
        if zi in e0s and not np.isclose(e0s[zi], e, rtol=0, atol=1e-6):
            raise DataError(source, i, f"two isolated-atom energies for Z={zi}: {e0s[zi]} and {e} eV")
        e0s[zi] = e
    return dict(sorted(e0s.items()))


def composition_matrix(frames: Sequence[Frame], species: Sequence[int]) -> np.ndarray:
    """Element counts ``[F, S]`` of each frame over ``species``."""
    col = {z: k for k, z in enumerate(species)}
    a = np.zeros((len(frames), len(species)))
    for i, f in enumerate(frames):
        zs, counts = np.unique(f["atomic_numbers"], return_counts=True)
        for z, c in zip(zs, counts):
            a[i, col[int(z)]] = c
    return a


def species_of(frames: Iterable[Frame]) -> List[int]:
    """Sorted atomic numbers present in ``frames``."""
    found = set()
    for f in frames:
        found.update(np.unique(f["atomic_numbers"]).tolist())
    return sorted(int(z) for z in found)


def fit_e0s_lstsq(frames: Sequence[Frame], species: Optional[Sequence[int]] = None) -> E0s:
    """Least-squares E0s: minimise ``sum_f (E_f - sum_Z n_fZ E0_Z)^2`` (eV).

    With a single composition (all frames the same molecule) the system is
    rank-deficient; ``numpy.linalg.lstsq`` then returns the minimum-norm
    solution, which still reproduces the mean energy exactly.
    """
    if len(frames) == 0:
        raise ValueError("cannot fit E0s on zero frames")
    for i, f in enumerate(frames):
        if "energy" not in f:
            raise DataError(None, i, "frame has no energy: cannot fit E0s")
    return fit_e0s_lstsq_arrays(np.concatenate([f["atomic_numbers"] for f in frames]),
                                np.array([len(f["atomic_numbers"]) for f in frames]),
                                np.array([float(f["energy"]) for f in frames]), species)


def fit_e0s_lstsq_arrays(atomic_numbers: np.ndarray, n_atoms: np.ndarray, energy: np.ndarray,
                         species: Optional[Sequence[int]] = None) -> E0s:
    """:func:`fit_e0s_lstsq` on concatenated arrays: ``atomic_numbers [A]``, ``n_atoms [F]``, ``energy [F]`` eV."""
    atomic_numbers = np.asarray(atomic_numbers, dtype=np.int64)
    n_atoms = np.asarray(n_atoms, dtype=np.int64)
    species = sorted(int(z) for z in np.unique(atomic_numbers)) if species is None else list(species)
    col = np.full(max(119, int(atomic_numbers.max()) + 1), -1)
    col[species] = np.arange(len(species))
    frame_of_atom = np.repeat(np.arange(len(n_atoms)), n_atoms)
    a = np.zeros((len(n_atoms), len(species)))
    np.add.at(a, (frame_of_atom, col[atomic_numbers]), 1.0)
    x, *_ = np.linalg.lstsq(a, np.asarray(energy, dtype=np.float64), rcond=None)
    return {int(z): float(v) for z, v in zip(species, x)}


def reference_energy(frame: Frame, e0s: Mapping[int, float]) -> float:
    """Sum of E0 over the atoms of ``frame`` (eV); missing elements count 0."""
    return float(sum(e0s.get(int(z), 0.0) for z in frame["atomic_numbers"]))


def compute_statistics(frames: Sequence[Frame], e0s: Optional[Mapping[int, float]], cutoff: float,
                       num_edges: Optional[Sequence[int]] = None) -> dict:
    """Statistics of ``frames`` for model normalisation.

    Parameters
    ----------
    frames : the (training) frames
    e0s : ``{Z: eV}`` subtracted before averaging; ``None`` or ``{}`` for none
    cutoff : Å, for the neighbour count
    num_edges : edges per frame, if already known (skips the neighbour lists)

    Returns
    -------
    dict with ``e0s`` ``{Z: eV}``, ``species`` ``[Z...]``, ``mean_energy_per_atom``
    (eV, after E0; ``None`` without energies), ``force_rms`` (eV/Å, RMS over all
    force components; ``None`` without forces), ``avg_num_neighbors``,
    ``num_frames``, ``num_atoms`` and ``cutoff`` (Å).
    """
    if len(frames) == 0:
        raise ValueError("cannot compute statistics of zero frames")
    if num_edges is None:
        num_edges = [neighbor_list(f["pos"], f["cell"], f["pbc"], cutoff)[0].shape[1] for f in frames]
    energy = None
    if all("energy" in f for f in frames):
        energy = np.array([float(f["energy"]) for f in frames])
    force_sq = None
    if all("forces" in f for f in frames):
        force_sq = sum(float(np.sum(np.asarray(f["forces"]) ** 2)) for f in frames)
    return statistics_from_arrays(np.concatenate([f["atomic_numbers"] for f in frames]),
                                  np.array([f["atomic_numbers"].shape[0] for f in frames]),
                                  np.asarray(num_edges), cutoff, e0s, energy, force_sq)


def statistics_from_arrays(atomic_numbers: np.ndarray, n_atoms: np.ndarray, num_edges: np.ndarray,
                           cutoff: float, e0s: Optional[Mapping[int, float]] = None,
                           energy: Optional[np.ndarray] = None,
                           force_sq_sum: Optional[float] = None) -> dict:
    """:func:`compute_statistics` on concatenated arrays (what the on-disk store holds).

    Parameters
    ----------
    atomic_numbers : [A] Z of all atoms, frame after frame
    n_atoms : [F] atoms per frame
    num_edges : [F] edges per frame
    cutoff : Å
    e0s : ``{Z: eV}``
    energy : [F] eV, or ``None``
    force_sq_sum : sum of all squared force components (eV²/Å²), or ``None``
    """
    e0s = {int(z): float(v) for z, v in (e0s or {}).items()}
    atomic_numbers = np.asarray(atomic_numbers, dtype=np.int64)
    n_atoms = np.asarray(n_atoms, dtype=np.int64)
    species = sorted(int(z) for z in np.unique(atomic_numbers))
    missing = [z for z in species if e0s and z not in e0s]
    if missing:
        raise DataError(None, None, f"no E0 for element(s) {missing}; E0s given for {sorted(e0s)}")
    mean_e = None
    if energy is not None:
        table = np.zeros(max(119, atomic_numbers.max() + 1))
        for z, v in e0s.items():
            table[z] = v
        starts = np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
        ref = np.add.reduceat(table[atomic_numbers], starts)
        mean_e = float(np.mean((np.asarray(energy, dtype=np.float64) - ref) / n_atoms))
    total = int(n_atoms.sum())
    return {
        "e0s": e0s,
        "species": species,
        "mean_energy_per_atom": mean_e,
        "force_rms": None if force_sq_sum is None else float(np.sqrt(force_sq_sum / (3 * total))),
        "avg_num_neighbors": float(np.sum(num_edges) / total),
        "num_frames": int(len(n_atoms)),
        "num_atoms": total,
        "cutoff": float(cutoff),
    }


def resolve_e0s(spec: Union[str, Mapping, None], train: Sequence[Frame], isolated: Sequence[Frame],
                source: Optional[str] = None) -> E0s:
    """E0s from ``spec``: ``"isolated"``, ``"lstsq"``, a dict ``{Z: eV}`` or ``None`` (none)."""
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        return {int(z): float(v) for z, v in spec.items()}
    if spec == "isolated":
        if not isolated:
            raise DataError(source, None, "e0s='isolated' but the data has no isolated-atom frames "
                                          "(config_type=isolated_atom); pass them as a file, "
                                          "use e0s='lstsq' or give a dict")
        return e0s_from_isolated(isolated, source)
    if spec == "lstsq":
        return fit_e0s_lstsq(train)
    raise ValueError(f"e0s must be 'isolated', 'lstsq', a dict or None, got {spec!r}")


def statistics_to_json(stats: dict) -> str:
    """Serialise statistics (int element keys become strings in JSON)."""
    doc = dict(stats)
    doc["e0s"] = {str(z): v for z, v in stats.get("e0s", {}).items()}
    return json.dumps(doc, indent=1)


def statistics_from_json(text: str) -> dict:
    """Inverse of :func:`statistics_to_json`."""
    doc = json.loads(text)
    doc["e0s"] = {int(z): float(v) for z, v in doc.get("e0s", {}).items()}
    return doc


def load_statistics(path) -> dict:
    """Read statistics saved with :func:`statistics_to_json`."""
    return statistics_from_json(Path(path).read_text())


__all__ = ["ISOLATED_ATOM", "is_isolated_atom", "partition_isolated", "e0s_from_isolated", "fit_e0s_lstsq", "fit_e0s_lstsq_arrays",
           "compute_statistics", "statistics_from_arrays", "resolve_e0s", "reference_energy", "species_of", "composition_matrix",
           "statistics_to_json", "statistics_from_json", "load_statistics"]
