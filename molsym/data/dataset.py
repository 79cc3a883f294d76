"""In-memory dataset: frames → single graphs, with cached neighbour lists.

:class:`GraphDataset` holds a list of frames (see :mod:`molsym.data.frame`)
and yields one graph per item through :func:`molsym.data.graph.frame_to_graph`,
the same path the ASE calculator uses. The neighbour list of each frame is
computed once and cached. :func:`load_frames` reads files with
:func:`molsym.data.readers.read_frames` and separates isolated-atom
reference frames (E0s) from the conformations.

Example
-------
>>> from molsym.data.frame import make_frame
>>> ds = GraphDataset([make_frame([8, 1, 1], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], energy=-14.2)],
...                   cutoff=5.0)
>>> ds[0]["edge_index"].shape
torch.Size([2, 6])
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from molsym.data.errors import DataError
from molsym.data.frame import Frame
from molsym.data.graph import Graph, frame_to_graph
from molsym.data.neighbors import neighbor_list
from molsym.data.statistics import ISOLATED_ATOM, partition_isolated

PathLike = Union[str, Path]


def as_dtype(dtype) -> torch.dtype:
    """``"float64"``/``"float32"``/``torch.dtype`` → ``torch.dtype``."""
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        out = getattr(torch, str(dtype).replace("torch.", ""))
    except AttributeError:
        out = None
    if not isinstance(out, torch.dtype) or not out.is_floating_point:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return out


def numeric_fields(frame: Frame) -> Frame:
    """Drop non-numeric entries (e.g. a ``config_type`` string) that a graph cannot hold."""
    return {k: v for k, v in frame.items() if k != ISOLATED_ATOM and np.asarray(v).dtype.kind in "biuf"}


class GraphDataset(torch.utils.data.Dataset):
    """A ``torch`` dataset of single graphs (``B = 1``) built from frames.

    Only fields that every frame carries are kept (so any subset collates);
    non-numeric entries such as a ``config_type`` string are dropped.

    Parameters
    ----------
    frames : list of frames (eV, Å)
    cutoff : neighbour cutoff, Å
    dtype : float dtype of positions, labels and shifts
    source : name shown in error messages (a file name)
    """

    def __init__(self, frames: Sequence[Frame], cutoff: float, dtype=torch.float64,
                 source: Optional[str] = None):
        self.frames = [numeric_fields(f) for f in frames]
        self.cutoff = float(cutoff)
        self.dtype = as_dtype(dtype)
        self.source = source
        self._edges: List[Optional[Tuple[np.ndarray, np.ndarray]]] = [None] * len(self.frames)
        self._common_fields()

    def _common_fields(self) -> None:
        """Keep only the fields every frame carries, so that any subset collates."""
        if not self.frames:
            return
        common = set(self.frames[0]).intersection(*self.frames[1:])
        if any(len(f) != len(common) for f in self.frames):
            self.frames = [{k: v for k, v in f.items() if k in common} for f in self.frames]

    def __len__(self) -> int:
        return len(self.frames)

    def edges(self, i: int) -> Tuple[np.ndarray, np.ndarray]:
        """Cached ``(edge_index [2, E], edge_shift [E, 3])`` of frame ``i``."""
        e = self._edges[i]
        if e is None:
            f = self.frames[i]
            e = self._edges[i] = neighbor_list(f["pos"], f["cell"], f["pbc"], self.cutoff)
        return e

    def num_edges(self) -> List[int]:
        """Edges per frame (computes every neighbour list once)."""
        return [self.edges(i)[0].shape[1] for i in range(len(self))]

    def __getitem__(self, i: int) -> Graph:
        i = int(i)
        if i < 0:
            i += len(self)
        return frame_to_graph(self.frames[i], self.cutoff, self.dtype, edges=self.edges(i))


def isolated_sibling(path: PathLike) -> Path:
    """``<stem>_isolated_atoms.xyz`` beside ``path``: where ``molsym data generate`` puts E0 frames."""
    path = Path(path)
    return path.with_name(f"{path.stem}_isolated_atoms.xyz")


def read_file(path: PathLike, energy_key: Optional[str] = "energy", forces_key: Optional[str] = "forces",
              stress_key: Optional[str] = None) -> List[Frame]:
    """Read one file with :func:`molsym.data.readers.read_frames`.

    A file of isolated atoms has no forces; if reading with ``forces_key``
    fails and the file holds only isolated atoms, it is read without forces.
    """
    from molsym.data.readers import read_frames
    try:
        return read_frames(path, energy_key=energy_key, forces_key=forces_key, stress_key=stress_key)
    except DataError:
        if forces_key is None and stress_key is None:
            raise
        try:
            frames = read_frames(path, energy_key=energy_key, forces_key=None, stress_key=None)
        except DataError:
            frames = None
        if frames and all(len(partition_isolated([f])[1]) == 1 for f in frames):
            return frames
        raise


def load_frames(paths: Union[PathLike, Sequence[PathLike]], energy_key: Optional[str] = "energy",
                forces_key: Optional[str] = "forces", stress_key: Optional[str] = None,
                with_siblings: bool = True) -> Tuple[List[Frame], List[Frame], List[str]]:
    """Read ``paths`` into ``(frames, isolated_atoms, sources)``.

    Isolated-atom frames (``config_type=isolated_atom``, or single-atom frames)
    are split off as E0 references. With ``with_siblings``, a file
    ``<stem>_isolated_atoms.xyz`` beside an input is read too.
    ``sources[k]`` names the file of ``frames[k]``.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise DataError(str(p), None, "file not found")
    extra = [isolated_sibling(p) for p in paths] if with_siblings else []
    extra = [p for p in extra if p.exists() and p not in paths]
    frames, isolated, sources = [], [], []
    for p in list(paths) + extra:
        mols, iso = partition_isolated(read_file(p, energy_key, forces_key, stress_key))
        frames.extend(mols)
        sources.extend([str(p)] * len(mols))
        isolated.extend(iso)
    return frames, isolated, sources


__all__ = ["GraphDataset", "load_frames", "read_file", "isolated_sibling", "as_dtype", "numeric_fields"]
