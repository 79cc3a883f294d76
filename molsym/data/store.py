"""On-disk graph store (HDF5) for data sets larger than memory.

Layout: one HDF5 file of *concatenated* arrays plus offsets, never one group
per frame, so that a graph is a handful of slices:

==================  ============  =========================================
dataset             shape         meaning
==================  ============  =========================================
``atom_ptr``        [F+1] int64   atoms of frame f: ``atom_ptr[f]:atom_ptr[f+1]``
``edge_ptr``        [F+1] int64   edges of frame f
``atomic_numbers``  [A] int64     Z
``pos``             [A, 3] f8     Å; other per-atom fields (``forces``) alike
``edge_index``      [2, Ep] int64 frame-local (sender, receiver)
``edge_shift``      [Ep, 3] int32 integer cell shifts
``cell``            [F, 3, 3] f8  Å; other per-graph fields (``energy``) alike
``pbc``             [F, 3] bool
``source_index``    [F] int32     which input file (``attrs["sources"]``)
``source_frame``    [F] int64     frame index inside that file
==================  ============  =========================================

File attributes: ``format`` = ``"molsym-store"``, ``version``, ``cutoff`` (Å),
``sources``, ``e0s`` and ``statistics`` (JSON), and ``complete``. Datasets are
contiguous and uncompressed, so :class:`GraphStore` reads them through
a private memory map (fast random access, safe across DataLoader workers).

Writes are atomic: :class:`StoreWriter` builds the file under a temporary
name in the destination folder, sets ``complete = True`` last and then
``os.replace``-s it into place. A crash leaves either the old file or none;
a file without ``complete`` is refused on open.

Example
-------
>>> with StoreWriter("water.h5", cutoff=5.0) as w:      # doctest: +SKIP
...     w.add(frames, source="water.xyz")
>>> store = GraphStore("water.h5")                       # doctest: +SKIP
>>> store[0]["edge_index"].shape                         # doctest: +SKIP
"""
from __future__ import annotations

import json
import mmap
import os
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import h5py
import numpy as np
import torch

from molsym.data import keys as K
from molsym.data.dataset import as_dtype, numeric_fields
from molsym.data.errors import DataError
from molsym.data.frame import Frame
from molsym.data.graph import Graph
from molsym.data.neighbors import neighbor_list
from molsym.data.statistics import statistics_from_arrays, statistics_from_json, statistics_to_json
from molsym.files import atomic_path

FORMAT = "molsym-store"
VERSION = 1
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Always present; never dropped.
_CORE = ("atomic_numbers", "pos", "cell", "pbc")


def is_store(path) -> bool:
    """True if ``path`` is an HDF5 file (a candidate store; :class:`GraphStore` checks the rest)."""
    try:
        with open(path, "rb") as f:
            return f.read(8) == _HDF5_SIGNATURE
    except OSError:
        return False


def _is_node_field(key: str) -> bool:
    return K.level(key) == "node"


class StoreWriter:
    """Write frames and their neighbour lists into a store, atomically.

    Use as a context manager; :meth:`add` may be called once per input file.
    Fields missing from some frames are dropped from the whole store (as the
    in-memory dataset does). On an exception nothing is left behind.

    Parameters
    ----------
    path : destination file
    cutoff : neighbour cutoff in Å for the precomputed edges
    """

    def __init__(self, path, cutoff: float):
        self.path = Path(path)
        self.cutoff = float(cutoff)
        self.e0s: Dict[int, float] = {}
        self.statistics: Optional[dict] = None
        self.sources: List[str] = []
        self._fields: Optional[Dict[str, tuple]] = None  # name -> (shape per item, dtype)
        self._stage_path: Optional[str] = None
        self._stage: Optional[h5py.File] = None
        self._n_frames = 0
        self._force_sq = 0.0

    # ---------------------------------------------------------------- staging
    def __enter__(self) -> "StoreWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._stage_path = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                                suffix=".stage")
        os.close(fd)
        self._stage = h5py.File(self._stage_path, "w")
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._finalize()
        finally:
            if self._stage is not None:
                self._stage.close()
                self._stage = None
            if self._stage_path and os.path.exists(self._stage_path):
                os.unlink(self._stage_path)

    def _append(self, name: str, data: np.ndarray) -> None:
        if name not in self._stage:
            self._stage.create_dataset(name, data=data, maxshape=(None, *data.shape[1:]),
                                       chunks=(4096, *data.shape[1:]))
            return
        d = self._stage[name]
        n = d.shape[0]
        d.resize(n + len(data), axis=0)
        d[n:] = data

    def add(self, frames: Sequence[Frame], source: str = "<memory>", frame_indices=None,
            progress: bool = False) -> None:
        """Append ``frames`` (from file ``source``) with their edges within ``cutoff``.

        ``frame_indices[k]`` is the index of ``frames[k]`` inside ``source``
        (default ``k``), kept for error messages and ``inspect``.
        """
        if self._stage is None:
            raise RuntimeError("use StoreWriter as a context manager")
        if not frames:
            return
        frames = [numeric_fields(f) for f in frames]
        if self._fields is None:
            kinds = {"atomic_numbers": np.int64, "pbc": np.bool_}
            self._fields = {k: (np.asarray(v).shape[1:] if _is_node_field(k) else np.asarray(v).shape,
                                np.dtype(kinds.get(k, np.float64))) for k, v in frames[0].items()}
        common = set(self._fields).intersection(*frames)
        for k in list(self._fields):
            if k not in common:
                if k in _CORE:
                    raise DataError(source, None, f"frames lack the required field {k!r}")
                del self._fields[k]
                if k in self._stage:
                    del self._stage[k]
        src = len(self.sources)
        self.sources.append(str(source))
        idx = np.arange(len(frames)) if frame_indices is None else np.asarray(frame_indices)
        n_atoms = np.array([f["atomic_numbers"].shape[0] for f in frames], dtype=np.int64)
        edges = []
        it = frames
        if progress:
            from tqdm import tqdm
            it = tqdm(frames, desc=f"neighbours {Path(source).name}", unit="frame", leave=False)
        for f in it:
            ei, es = neighbor_list(f["pos"], f["cell"], f["pbc"], self.cutoff)
            edges.append((ei.T, es.astype(np.int32)))
        n_edges = np.array([e[0].shape[0] for e in edges], dtype=np.int64)
        self._append("n_atoms", n_atoms)
        self._append("n_edges", n_edges)
        self._append("edge_index", np.concatenate([e[0] for e in edges]).reshape(-1, 2))
        self._append("edge_shift", np.concatenate([e[1] for e in edges]).reshape(-1, 3))
        self._append("source_index", np.full(len(frames), src, dtype=np.int32))
        self._append("source_frame", idx.astype(np.int64))
        for k, (shape, dtype) in self._fields.items():
            try:
                if _is_node_field(k):
                    data = np.concatenate([np.asarray(f[k], dtype=dtype).reshape(-1, *shape) for f in frames])
                else:
                    data = np.stack([np.asarray(f[k], dtype=dtype).reshape(shape) for f in frames])
            except ValueError as err:
                raise DataError(source, None, f"field {k!r} has inconsistent shapes ({err})") from None
            if k == "forces":
                self._force_sq += float(np.sum(data ** 2))
            self._append(k, data)
        self._n_frames += len(frames)

    # ---------------------------------------------------------------- final
    def _statistics(self) -> dict:
        """Statistics of everything written, with :attr:`e0s` (computed from the staged arrays)."""
        st = self._stage
        energy = st["energy"][:] if "energy" in self._fields else None
        force_sq = self._force_sq if "forces" in self._fields else None
        return statistics_from_arrays(st["atomic_numbers"][:], st["n_atoms"][:], st["n_edges"][:],
                                      self.cutoff, self.e0s, energy, force_sq)

    def _finalize(self) -> None:
        if self._fields is None:
            raise DataError(str(self.path), None, "no frames to write")
        with atomic_path(self.path) as tmp, h5py.File(tmp, "w") as out:
            out.attrs["complete"] = False
            for name, counts in (("atom_ptr", "n_atoms"), ("edge_ptr", "n_edges")):
                ptr = np.zeros(self._n_frames + 1, dtype=np.int64)
                ptr[1:] = np.cumsum(self._stage[counts][:])
                out.create_dataset(name, data=ptr)
            for name in [n for n in self._stage if n not in ("n_atoms", "n_edges")]:
                src = self._stage[name]
                # edge_index is staged [E, 2] and stored [2, E]: a frame's edges are two slices
                flip = name == "edge_index"
                shape = (src.shape[1], src.shape[0]) if flip else src.shape
                dst = out.create_dataset(name, shape=shape, dtype=src.dtype)  # contiguous
                step = max(1, (64 << 20) // max(1, src.dtype.itemsize * int(np.prod(src.shape[1:]))))
                for a in range(0, src.shape[0], step):
                    if flip:
                        dst[:, a:a + step] = src[a:a + step].T
                    else:
                        dst[a:a + step] = src[a:a + step]
            out.attrs["format"] = FORMAT
            out.attrs["version"] = VERSION
            out.attrs["cutoff"] = self.cutoff
            out.attrs["num_frames"] = self._n_frames
            out.attrs["sources"] = json.dumps(self.sources)
            out.attrs["fields"] = json.dumps(sorted(self._fields))
            out.attrs["e0s"] = json.dumps({str(z): float(v) for z, v in self.e0s.items()})
            stats = self.statistics if self.statistics is not None else self._statistics()
            out.attrs["statistics"] = statistics_to_json(stats)
            out.attrs["complete"] = True


class GraphStore(torch.utils.data.Dataset):
    """Read-only dataset of graphs from a store written by :class:`StoreWriter`.

    Parameters
    ----------
    path : the store file
    dtype : float dtype of the graphs
    cutoff : Å; ``None`` uses the stored cutoff. A smaller cutoff filters the
        stored edges; a larger one is refused.
    """

    def __init__(self, path, dtype=torch.float64, cutoff: Optional[float] = None):
        self.path = Path(path)
        self.dtype = as_dtype(dtype)
        if not self.path.exists():
            raise DataError(str(self.path), None, "file not found")
        if not is_store(self.path):
            raise DataError(str(self.path), None, "not a molsym store (not an HDF5 file)")
        try:
            with h5py.File(self.path, "r") as f:
                attrs = dict(f.attrs)
                if attrs.get("format") != FORMAT:
                    raise DataError(str(self.path), None, "not a molsym store (no 'format' attribute)")
                if not bool(attrs.get("complete", False)):
                    raise DataError(str(self.path), None, "store is incomplete (its writing was interrupted)")
                if int(attrs.get("version", -1)) != VERSION:
                    raise DataError(str(self.path), None, f"store format version {attrs.get('version')} "
                                                          f"is not supported (expected {VERSION})")
                self._layout = {name: (d.id.get_offset(), d.shape, d.dtype) for name, d in f.items()}
        except OSError as err:
            raise DataError(str(self.path), None, f"cannot read store ({err})") from None
        size = self.path.stat().st_size
        for name, (offset, shape, dtype) in self._layout.items():
            if offset is not None and offset + int(np.prod(shape)) * dtype.itemsize > size:
                raise DataError(str(self.path), None, f"store is truncated (dataset {name!r} ends past the file)")
        self.stored_cutoff = float(attrs["cutoff"])
        self.cutoff = self.stored_cutoff if cutoff is None else float(cutoff)
        if self.cutoff > self.stored_cutoff + 1e-12:
            raise DataError(str(self.path), None, f"store holds edges for cutoff {self.stored_cutoff} Å; "
                                                  f"cannot serve cutoff {self.cutoff} Å (repack it)")
        self.sources: List[str] = json.loads(attrs["sources"])
        self.fields: List[str] = json.loads(attrs["fields"])
        self.e0s = {int(z): float(v) for z, v in json.loads(attrs.get("e0s", "{}")).items()}
        self.statistics = statistics_from_json(attrs["statistics"]) if "statistics" in attrs else None
        self._arrays: Optional[Dict[str, torch.Tensor]] = None
        self._small: Dict[int, tuple] = {}
        self.atom_ptr = self._map()["atom_ptr"].numpy().copy()
        self.edge_ptr = self._map()["edge_ptr"].numpy().copy()
        self._periodic = self._map()["pbc"].numpy().any(axis=1)
        self._node_fields = [k for k in self.fields if _is_node_field(k) and k not in ("atomic_numbers", "pos")]
        self._graph_fields = [k for k in self.fields if not _is_node_field(k) and k not in ("cell", "pbc")]

    def _map(self) -> Dict[str, torch.Tensor]:
        """Every dataset as a zero-copy tensor over a private (copy-on-write) memory map.

        Mapped lazily, so that each DataLoader worker maps the file itself.
        """
        if self._arrays is None:
            arrays = {}
            with open(self.path, "rb") as fh:
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
            for name, (offset, shape, dtype) in self._layout.items():
                count = int(np.prod(shape))
                if offset is None or count == 0:
                    arr = np.zeros(shape, dtype)
                else:
                    arr = np.frombuffer(mm, dtype=dtype, count=count, offset=offset).reshape(shape)
                arrays[name] = torch.from_numpy(arr)
            self._arrays = arrays
        return self._arrays

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_arrays"] = None  # never pickle the maps (they would be copied)
        return state

    def __len__(self) -> int:
        return len(self.atom_ptr) - 1

    @property
    def num_atoms(self) -> np.ndarray:
        """Atoms per frame ``[F]``."""
        return np.diff(self.atom_ptr)

    def num_edges(self) -> List[int]:
        """Edges per frame within :attr:`cutoff`."""
        if self.cutoff == self.stored_cutoff:
            return np.diff(self.edge_ptr).tolist()
        return [self[i][K.EDGE_INDEX].shape[1] for i in range(len(self))]

    def source_of(self, i: int) -> tuple:
        """``(file, frame index in that file)`` of frame ``i``."""
        a = self._map()
        return self.sources[int(a["source_index"][i])], int(a["source_frame"][i])

    def frame(self, i: int) -> Frame:
        """Frame ``i`` as numpy arrays (copies)."""
        a = self._map()
        lo, hi = int(self.atom_ptr[i]), int(self.atom_ptr[i + 1])
        out: Frame = {}
        for k in self.fields:
            out[k] = (a[k][lo:hi] if _is_node_field(k) else a[k][i]).numpy().copy()
        out["atomic_numbers"] = out["atomic_numbers"].astype(np.int64)
        return out

    def edges(self, i: int):
        """``(edge_index [2, E] int64, edge_shift [E, 3] float64)`` of frame ``i`` (numpy)."""
        a = self._map()
        lo, hi = int(self.edge_ptr[i]), int(self.edge_ptr[i + 1])
        return (a["edge_index"][:, lo:hi].numpy().copy(),
                a["edge_shift"][lo:hi].numpy().astype(np.float64))

    def arrays(self, indices) -> dict:
        """Concatenated arrays of frames ``indices`` for statistics, without loading positions.

        Returns ``atomic_numbers [A]``, ``n_atoms [F]``, ``num_edges [F]`` and, when
        stored, ``energy [F]`` (eV) and ``force_sq_sum`` (sum of squared force
        components, eV²/Å²).
        """
        a = self._map()
        idx = np.asarray(indices, dtype=np.int64)
        lo, hi = self.atom_ptr[idx], self.atom_ptr[idx + 1]
        z = a["atomic_numbers"].numpy()
        out = {"atomic_numbers": np.concatenate([z[s:e] for s, e in zip(lo, hi)]) if len(idx) else np.zeros(0, int),
               "n_atoms": hi - lo, "num_edges": np.asarray(self.num_edges())[idx]}
        if "energy" in self.fields:
            out["energy"] = a["energy"].numpy()[idx].astype(np.float64)
        if "forces" in self.fields:
            f = a["forces"].numpy()
            out["force_sq_sum"] = float(sum(np.sum(f[s:e] ** 2) for s, e in zip(lo, hi)))
        return out

    def _counts(self, n: int) -> tuple:
        """Cached ``(batch, ptr, num_atoms)`` for a graph of ``n`` atoms."""
        c = self._small.get(n)
        if c is None:
            c = self._small[n] = (torch.zeros(n, dtype=torch.long), torch.tensor([0, n]), torch.tensor([n]))
        return c

    def __getitem__(self, i: int) -> Graph:
        """Graph ``i``, equal to ``frame_to_graph(frame(i), cutoff, dtype)`` (built with few tensor ops).

        Float tensors may be views of the (private) memory map; batching copies them.
        """
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} out of range for a store of {len(self)} frames")
        a, dt = self._map(), self.dtype
        lo, hi = int(self.atom_ptr[i]), int(self.atom_ptr[i + 1])
        elo, ehi = int(self.edge_ptr[i]), int(self.edge_ptr[i + 1])
        batch, ptr, num = self._counts(hi - lo)
        same = dt == torch.float64  # stored precision: slices are used as they are
        pbc = a["pbc"][i:i + 1]
        g: Graph = {
            K.POS: a["pos"][lo:hi] if same else a["pos"][lo:hi].to(dt),
            K.ATOMIC_NUMBERS: a["atomic_numbers"][lo:hi],
            K.EDGE_INDEX: a["edge_index"][:, elo:ehi],
            # molecules have no shifts: zeros are cheaper than converting the stored integers
            K.EDGE_SHIFT: (a["edge_shift"][elo:ehi].to(dt) if self._periodic[i]
                           else torch.zeros((ehi - elo, 3), dtype=dt)),
            K.CELL: a["cell"][i:i + 1] if same else a["cell"][i:i + 1].to(dt),
            K.PBC: pbc,
            K.BATCH: batch, K.PTR: ptr, K.NUM_ATOMS: num,
        }
        for k in self._node_fields:
            g[k] = a[k][lo:hi] if same else a[k][lo:hi].to(dt)
        for k in self._graph_fields:
            g[k] = a[k][i:i + 1] if same else a[k][i:i + 1].to(dt)
        if self.cutoff < self.stored_cutoff:
            ei, sh = g[K.EDGE_INDEX], g[K.EDGE_SHIFT]
            vec = g[K.POS][ei[1]] - g[K.POS][ei[0]] + sh @ g[K.CELL][0]
            keep = (vec * vec).sum(-1) < self.cutoff ** 2
            g[K.EDGE_INDEX], g[K.EDGE_SHIFT] = ei[:, keep], sh[keep]
        return g


def pack(paths: Sequence, out, cutoff: float, energy_key: Optional[str] = "energy",
         forces_key: Optional[str] = "forces", stress_key: Optional[str] = None,
         progress: bool = True) -> Path:
    """Read ``paths`` and write a store at ``out`` (atomically) with E0s and statistics.

    Isolated-atom frames (also from ``<stem>_isolated_atoms.xyz`` beside an
    input) are not stored as graphs: they become the store's E0s, and the statistics are computed with them (with no E0s when there
    are none).
    """
    from molsym.data.dataset import isolated_sibling, read_file
    from molsym.data.statistics import e0s_from_isolated, is_isolated_atom

    out = Path(out)
    paths = [Path(p) for p in paths]
    paths += [s for s in dict.fromkeys(isolated_sibling(p) for p in paths) if s.exists() and s not in paths]
    isolated: List[Frame] = []
    with StoreWriter(out, cutoff) as w:
        for p in paths:
            frames = read_file(p, energy_key, forces_key, stress_key)
            keep = [k for k, f in enumerate(frames) if not is_isolated_atom(f)]
            isolated.extend(f for f in frames if is_isolated_atom(f))
            w.add([frames[k] for k in keep], source=str(p), frame_indices=keep, progress=progress)
        if w._n_frames == 0:
            raise DataError(str(paths[0]), None, "no frames to pack (only isolated atoms?)")
        w.e0s = e0s_from_isolated(isolated, str(paths[0])) if isolated else {}
    return out


__all__ = ["StoreWriter", "GraphStore", "pack", "is_store", "FORMAT", "VERSION"]
