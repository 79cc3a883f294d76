"""The Lightning DataModule: files or stores → split → E0s/statistics → batches.

Example
-------
>>> dm = MolDataModule("ethanol_xtb.xyz", cutoff=5.0, batch_size=8,      # doctest: +SKIP
...                    split={"val": 0.1, "test": 0, "seed": 0}, e0s="isolated")
>>> dm.setup()                                                           # doctest: +SKIP
>>> dm.statistics["avg_num_neighbors"]                                   # doctest: +SKIP
>>> batch = next(iter(dm.train_dataloader()))                            # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import lightning as L
import numpy as np
from torch.utils.data import DataLoader, Subset

from molsym.data.collate import collate
from molsym.data.dataset import GraphDataset, as_dtype, load_frames
from molsym.data.errors import DataError
from molsym.data.frame import Frame
from molsym.data.splits import (atomic_write_text, load_or_make_split, make_split, sidecar_dir,
                                split_file_name)
from molsym.data.statistics import (compute_statistics, fit_e0s_lstsq_arrays, resolve_e0s, partition_isolated,
                                    statistics_from_arrays, statistics_from_json, statistics_to_json)
from molsym.data.store import GraphStore, is_store

Source = Union[str, Path, Sequence[Union[str, Path]], Sequence[Frame]]
_DEFAULT_SPLIT = {"val": 0.1, "test": 0, "seed": 0}
#: Show a progress bar for neighbour lists of at least this many frames.
PROGRESS_MIN_FRAMES = 2000
#: The labels a frame may carry (eV, eV/Å, eV/Å³).
LABELS = ("energy", "forces", "stress")


class MolDataModule(L.LightningDataModule):
    """Data for training a force field.

    Parameters
    ----------
    train : a file, a list of files, a store (``molsym data pack``) or a list of frames.
        Isolated-atom frames among them (or in ``<stem>_isolated_atoms.xyz``
        beside a file, or in the store's E0s) give the ``"isolated"`` E0s.
    val, test : the same kinds; when ``None`` they are split off ``train``
    cutoff : neighbour cutoff, Å
    batch_size, val_batch_size : graphs per batch (``val_batch_size`` defaults to ``batch_size``)
    split : ``{"val": fraction or count, "test": ..., "seed": int}``; the split is
        saved as JSON beside the data (or in ``cache_dir`` for read-only data) and reused
    energy_key, forces_key, stress_key : label names in the files
    e0s : ``"isolated"``, ``"lstsq"`` (fit on the training split), a dict ``{Z: eV}`` or ``None``
    dtype : ``"float64"`` or ``"float32"``
    num_workers : DataLoader worker processes
    cache_dir : folder for the split and statistics JSON files instead of beside the data
        (default: beside the data; ``$MOLSYM_CACHE_DIR`` or ``~/.cache/molsym`` when the
        data folder is read-only)

    After :meth:`setup`, :attr:`statistics` is ``{"e0s": {Z: eV}, "species": [Z...],
    "mean_energy_per_atom": eV after E0, "force_rms": eV/Å, "avg_num_neighbors": float, ...}``
    computed on the training split, cached as JSON beside the split. A statistic
    whose labels the training data lacks is ``None`` (``force_rms`` of data
    without forces, ``mean_energy_per_atom`` of data without energies).

    :attr:`missing_labels` says, per split, which labels (``energy``,
    ``forces``, ``stress``) its frames do not all carry, as ``(file, why)``:
    ``{"train": {"forces": ("ch4.db", "no forces labels")}, "val": {...}, "test": {...}}``.
    Frames of several files keep only the labels every file carries (a
    batch cannot mix labelled and unlabelled graphs); a file without a
    label that another has is named there (``("b.xyz", "no forces labels
    (a.xyz has them)")``). Within one file the readers already
    refuse such a mix, naming the first frame without the label.
    """

    def __init__(self, train: Source, val: Optional[Source] = None, test: Optional[Source] = None,
                 cutoff: float = 5.0, batch_size: int = 8, val_batch_size: Optional[int] = None,
                 split: Optional[Mapping] = None, energy_key: Optional[str] = "energy",
                 forces_key: Optional[str] = "forces", stress_key: Optional[str] = None,
                 e0s: Union[str, Mapping, None] = "isolated", dtype="float64", num_workers: int = 0,
                 cache_dir=None):
        super().__init__()
        self.train_source, self.val_source, self.test_source = train, val, test
        self.cutoff = float(cutoff)
        self.batch_size = int(batch_size)
        self.val_batch_size = int(val_batch_size or batch_size)
        self.split_settings = {**_DEFAULT_SPLIT, **dict(split or {})}
        self.keys = dict(energy_key=energy_key, forces_key=forces_key, stress_key=stress_key)
        self.e0s_spec = e0s
        self.dtype = as_dtype(dtype)
        self.num_workers = int(num_workers)
        self.cache_dir = cache_dir
        self.train_dataset = self.val_dataset = self.test_dataset = None
        self.statistics: Optional[dict] = None
        self.missing_labels: Dict[str, Dict[str, Tuple[str, str]]] = {}
        self.split: Optional[Dict[str, np.ndarray]] = None

    # ------------------------------------------------------------------ loading
    def _load(self, source: Source):
        """``(dataset, isolated frames, store e0s, file paths, missing labels)`` for any kind of source.

        The missing labels are :func:`missing_labels` of the frames read
        (a store: the labels it does not hold).
        """
        if isinstance(source, (str, Path)):
            source = [source]
        source = list(source)
        if source and isinstance(source[0], Mapping):
            mols, iso = partition_isolated(source)
            missing = missing_labels(mols, ["<memory>"] * len(mols), self._read_labels())
            return GraphDataset(mols, self.cutoff, self.dtype), iso, {}, [], missing
        paths = [Path(p) for p in source]
        stores = [p for p in paths if is_store(p)]
        if stores:
            if len(paths) != 1:
                raise DataError(str(stores[0]), None, "a store must be given alone, not with other files")
            store = GraphStore(paths[0], self.dtype, self.cutoff)
            missing = {name: (str(paths[0]), f"no {name} labels") for name in LABELS if name not in store.fields}
            return store, [], store.e0s, paths, missing
        frames, iso, sources = load_frames(paths, **self.keys)
        if not frames:
            raise DataError(str(paths[0]), None, "no frames (besides isolated atoms)")
        missing = missing_labels(frames, sources, self._read_labels())
        return GraphDataset(frames, self.cutoff, self.dtype, source=str(paths[0])), iso, {}, paths, missing

    def _read_labels(self) -> Dict[str, Optional[str]]:
        """``{label: key in the files}``; ``None`` for a label that is not read."""
        return {name: self.keys[f"{name}_key"] for name in LABELS}

    def _store_statistics(self, store: GraphStore, idx, store_e0s) -> dict:
        """Statistics from the store's arrays (positions are never loaded)."""
        arr = store.arrays(idx)
        spec = self.e0s_spec
        if spec == "isolated":
            if not store_e0s:
                raise DataError(str(store.path), None, "e0s='isolated' but the store holds no E0s "
                                                       "(pack isolated-atom frames with it, or use 'lstsq')")
            e0s = dict(store_e0s)
        elif spec == "lstsq":
            if "energy" not in arr:
                raise DataError(str(store.path), None, "the store has no energies: cannot fit E0s")
            e0s = fit_e0s_lstsq_arrays(arr["atomic_numbers"], arr["n_atoms"], arr["energy"])
        else:
            e0s = resolve_e0s(spec, [], [])
        return statistics_from_arrays(arr["atomic_numbers"], arr["n_atoms"], arr["num_edges"], self.cutoff,
                                      e0s, arr.get("energy"), arr.get("force_sq_sum"))

    def setup(self, stage: Optional[str] = None) -> None:
        """Load the data, split it, resolve E0s and compute (or reuse) statistics. Idempotent."""
        if self.statistics is not None:
            return
        full, iso, store_e0s, paths, missing = self._load(self.train_source)
        self.missing_labels = {"train": missing, "val": missing, "test": missing}
        s = self.split_settings
        if self.val_source is None or (self.test_source is None and s.get("test")):
            val = s["val"] if self.val_source is None else 0
            test = s.get("test", 0) if self.test_source is None else 0
            if paths:
                folder = sidecar_dir(paths, self.cache_dir)
                stem = Path(paths[0]).stem
                if len(paths) > 1:  # several files: the name says which
                    stem += "-" + hashlib.sha1("\n".join(p.name for p in paths).encode()).hexdigest()[:8]
                name = split_file_name(stem, val, test, s["seed"])
                self.split = load_or_make_split(folder / name, len(full), val, test, s["seed"])
            else:
                self.split = make_split(len(full), val, test, s["seed"])
        else:
            self.split = {"train": np.arange(len(full)), "val": np.zeros(0, np.int64),
                          "test": np.zeros(0, np.int64)}
        train_idx = self.split["train"]
        self.train_dataset = Subset(full, train_idx.tolist())
        if self.val_source is None:
            self.val_dataset = Subset(full, self.split["val"].tolist())
        else:
            self.val_dataset, *_, self.missing_labels["val"] = self._load(self.val_source)
        if self.test_source is not None:
            self.test_dataset, *_, self.missing_labels["test"] = self._load(self.test_source)
        elif len(self.split["test"]):
            self.test_dataset = Subset(full, self.split["test"].tolist())
        self.statistics = self._statistics(full, train_idx, iso, store_e0s, paths)

    def _statistics(self, full, train_idx, iso, store_e0s, paths) -> dict:
        spec = self.e0s_spec
        key = None
        if paths:
            stamp = [(str(Path(p).resolve()), Path(p).stat().st_size, Path(p).stat().st_mtime_ns) for p in paths]
            spec_json = spec if spec is None or isinstance(spec, str) else {str(k): float(v) for k, v in spec.items()}
            key = hashlib.sha1(json.dumps([stamp, spec_json, self.cutoff, self.keys,
                                           hashlib.sha1(np.asarray(train_idx).tobytes()).hexdigest()])
                               .encode()).hexdigest()[:16]
            cache = sidecar_dir(paths, self.cache_dir) / f"{Path(paths[0]).stem}.stats-{key}.json"
            if cache.exists():
                return statistics_from_json(cache.read_text())
        if isinstance(full, GraphStore):
            stats = self._store_statistics(full, train_idx, store_e0s)
        else:
            frames = [full.frames[int(i)] for i in train_idx]
            e0s = resolve_e0s(spec, frames, iso, str(paths[0]) if paths else None)
            from tqdm import tqdm
            it = tqdm(train_idx, desc="neighbour lists", unit="frame", leave=False,
                      disable=len(train_idx) < PROGRESS_MIN_FRAMES)
            num_edges = [full.edges(int(i))[0].shape[1] for i in it]
            stats = compute_statistics(frames, e0s, self.cutoff, num_edges=num_edges)
        if key is not None:
            atomic_write_text(cache, statistics_to_json(stats))
        return stats

    # ------------------------------------------------------------------ loaders
    def _loader(self, dataset, batch_size: int, shuffle: bool) -> DataLoader:
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.train_dataset, self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        self.setup()
        if self.val_dataset is None or len(self.val_dataset) == 0:
            return []
        return self._loader(self.val_dataset, self.val_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        self.setup()
        if self.test_dataset is None or len(self.test_dataset) == 0:
            return []
        return self._loader(self.test_dataset, self.val_batch_size, shuffle=False)

    def split_frames(self, split: str, limit: Optional[int] = None) -> Tuple[List[Frame], int]:
        """The first ``limit`` frames of ``split`` (``train``, ``val``, ``test``), in split order, and its size.

        The frames are what the split's graphs are built from (labels in
        eV, eV/Å), e.g. for :func:`molsym.train.evaluate.predict`.
        """
        self.setup()
        dataset = getattr(self, f"{split}_dataset")
        if dataset is None:
            return [], 0
        base, idx = (dataset.dataset, list(dataset.indices)) if isinstance(dataset, Subset) \
            else (dataset, list(range(len(dataset))))
        chosen = idx if limit is None else idx[:max(0, int(limit))]
        if isinstance(base, GraphStore):
            return [base.frame(int(i)) for i in chosen], len(idx)
        return [base.frames[int(i)] for i in chosen], len(idx)

    def e0s(self) -> Dict[int, float]:
        """The resolved E0s ``{Z: eV}`` (after :meth:`setup`)."""
        self.setup()
        return dict(self.statistics["e0s"])


def missing_labels(frames: Sequence[Frame], sources: Sequence[str],
                   read: Mapping[str, Optional[str]]) -> Dict[str, Tuple[str, str]]:
    """``{label: (file, why)}`` for each label that not every frame carries.

    Parameters
    ----------
    frames : the frames read (no isolated atoms)
    sources : ``sources[k]`` is the file of ``frames[k]``
    read : ``{label: key}`` the files were read with; ``None``: not read

    ``file`` is that of the first frame without the label; ``why`` names a
    file that has it when there is one (the readers keep the labels of one
    file consistent, so a mix is a mix of files).
    """
    out: Dict[str, Tuple[str, str]] = {}
    for name in LABELS:
        have = [name in f for f in frames]
        if all(have):
            continue
        without = sources[have.index(False)]
        if read.get(name) is None:
            out[name] = (without, f"no {name} labels ({name}_key is null: they are not read)")
        elif any(have):
            out[name] = (without, f"no {name} labels ({sources[have.index(True)]} has them)")
        else:
            out[name] = (without, f"no {name} labels")
    return out


__all__ = ["MolDataModule", "missing_labels", "LABELS"]
