"""Molecules for the diffusion model: frames → molecule records → batches.

A *molecule record* is a dict of numpy arrays: ``atomic_numbers [n]``,
``pos [n, 3]`` (Å), ``charges [n]`` (formal charges, int) and
``condition [C]`` (raw property values, only for a conditional model).
:func:`collate_molecules` concatenates records into the batch layout of
:class:`~molsym.diffusion.diffusion.EquivariantDiffusion`. Molecules are
small and the graph is fully connected, so no neighbour list is needed.
:class:`DiffusionDataModule` reads QM9 or an extxyz file, splits it and
serves the batches to ``molsym train``.
"""
from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from molsym.data.errors import DataError
from molsym.files import atomic_path

__all__ = [
    "formal_charges_from_geometry",
    "perceived_molecule",
    "molecules_from_frames",
    "MoleculeDataset",
    "collate_molecules",
    "qm9_split",
    "DiffusionDataModule",
]

Record = Dict[str, np.ndarray]


def perceived_molecule(atomic_numbers: np.ndarray, pos: np.ndarray, total_charge: int = 0):
    """RDKit ``RWMol`` with a conformer and the bonds ``rdDetermineBonds`` perceives, or None if it fails.

    Unsanitised; RDKit's log is silenced during the perception.
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdDetermineBonds

    mol = Chem.RWMol()
    conf = Chem.Conformer(len(atomic_numbers))
    for i, (z, p) in enumerate(zip(atomic_numbers, pos)):
        mol.AddAtom(Chem.Atom(int(z)))
        conf.SetAtomPosition(i, [float(v) for v in p])
    mol.AddConformer(conf, assignId=True)
    RDLogger.DisableLog("rdApp.*")
    try:
        rdDetermineBonds.DetermineBonds(mol, charge=int(total_charge))
    except (ValueError, RuntimeError):
        return None
    finally:
        RDLogger.EnableLog("rdApp.*")
    return mol


def formal_charges_from_geometry(atomic_numbers: np.ndarray, pos: np.ndarray, total_charge: int = 0) -> np.ndarray:
    """Formal charges ``[n]`` from RDKit's distance-based bond perception.

    Uses ``rdDetermineBonds.DetermineBonds`` (connectivity from covalent radii,
    bond orders and charges from the total charge). Returns zeros if RDKit
    cannot assign bond orders (rare for QM9).
    """
    mol = perceived_molecule(atomic_numbers, pos, total_charge)
    if mol is None:
        return np.zeros(len(atomic_numbers), dtype=np.int64)
    return np.array([a.GetFormalCharge() for a in mol.GetAtoms()], dtype=np.int64)


def molecules_from_frames(frames: Sequence[dict], species: Sequence[int], conditions: Sequence[str] = (),
                          formal_charges: str = "rdkit", source: str = "frames",
                          progress: bool = False) -> List[Record]:
    """Turn frames into molecule records.

    Parameters
    ----------
    frames : sequence of frames (``atomic_numbers``, ``pos`` in Å, scalar properties)
    species : atomic numbers the model knows; any other element is a DataError.
    conditions : names of scalar frame properties copied to ``condition``.
    formal_charges : ``"rdkit"`` (perceived from the geometry) or ``"zero"``.
    source : name of the data source, used in error messages.
    """
    from tqdm.auto import tqdm

    if formal_charges not in ("rdkit", "zero"):
        raise ValueError(f"formal_charges must be 'rdkit' or 'zero', got {formal_charges!r}")
    allowed = set(int(z) for z in species)
    records = []
    for i, frame in enumerate(tqdm(frames, desc="molecules", disable=not progress)):
        z = np.asarray(frame["atomic_numbers"], dtype=np.int64)
        pos = np.asarray(frame["pos"], dtype=np.float64)
        bad = sorted(set(z.tolist()) - allowed)
        if bad:
            raise DataError(source, i, f"elements {bad} are not among the model species {sorted(allowed)}")
        if formal_charges == "rdkit":
            charges = formal_charges_from_geometry(z, pos)
        else:
            charges = np.zeros(len(z), dtype=np.int64)
        rec: Record = {"atomic_numbers": z, "pos": pos, "charges": charges}
        if conditions:
            missing = [c for c in conditions if c not in frame]
            if missing:
                raise DataError(source, i, f"property {missing} needed as condition is missing")
            rec["condition"] = np.array([float(frame[c]) for c in conditions], dtype=np.float64)
        records.append(rec)
    return records


class MoleculeDataset(Dataset):
    """Map-style dataset over molecule records (returned unchanged)."""

    def __init__(self, records: Sequence[Record]):
        self.records = list(records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> Record:
        return self.records[i]


def collate_molecules(records: Sequence[Record], species: Sequence[int],
                      dtype: torch.dtype = torch.float32) -> Dict[str, torch.Tensor]:
    """Concatenate records into a batch: ``pos [N, 3]``, ``types [N]``, ``charges [N]``,
    ``atomic_numbers [N]``, ``batch [N]``, ``num_atoms [B]`` and ``condition [B, C]``."""
    lookup = np.full(max(species) + 1, -1, dtype=np.int64)
    lookup[list(species)] = np.arange(len(species))
    z = np.concatenate([r["atomic_numbers"] for r in records])
    n = np.array([len(r["atomic_numbers"]) for r in records], dtype=np.int64)
    batch = {
        "pos": torch.as_tensor(np.concatenate([r["pos"] for r in records]), dtype=dtype),
        "atomic_numbers": torch.as_tensor(z),
        "types": torch.as_tensor(lookup[z]),
        "charges": torch.as_tensor(np.concatenate([r["charges"] for r in records])),
        "num_atoms": torch.as_tensor(n),
        "batch": torch.repeat_interleave(torch.arange(len(records)), torch.as_tensor(n)),
    }
    if "condition" in records[0]:
        batch["condition"] = torch.as_tensor(np.stack([r["condition"] for r in records]), dtype=torch.float64)
    return batch


def qm9_split(num: int, seed: int = 0, sizes: Optional[Dict[str, int]] = None) -> Dict[str, np.ndarray]:
    """Random train / val / test indices; the standard QM9 split is 100,000 / 17,748 / 13,083.

    For fewer molecules (a subset) the same fractions are used.
    """
    perm = np.random.default_rng(seed).permutation(num)
    if sizes is None:
        n_test = int(round(num * 13083 / 130831))
        n_train = int(round(num * 100000 / 130831))
        sizes = {"train": n_train, "val": num - n_train - n_test, "test": n_test}
    out, start = {}, 0
    for key in ("train", "val", "test"):
        out[key] = perm[start:start + sizes[key]]
        start += sizes[key]
    return out


def _records_to_npz(records: Sequence[Record], path: Path) -> None:
    """Write molecule records as one ``.npz`` (atomically)."""
    arrays = {"num_atoms": np.array([len(r["atomic_numbers"]) for r in records], dtype=np.int64),
              "atomic_numbers": np.concatenate([r["atomic_numbers"] for r in records]),
              "pos": np.concatenate([r["pos"] for r in records]),
              "charges": np.concatenate([r["charges"] for r in records])}
    if "condition" in records[0]:
        arrays["condition"] = np.stack([r["condition"] for r in records])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def _records_from_npz(path: Path) -> List[Record]:
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    bounds = np.concatenate([[0], np.cumsum(arrays["num_atoms"])])
    records = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        rec: Record = {"atomic_numbers": arrays["atomic_numbers"][a:b], "pos": arrays["pos"][a:b],
                       "charges": arrays["charges"][a:b]}
        if "condition" in arrays:
            rec["condition"] = arrays["condition"][i]
        records.append(rec)
    return records


class DiffusionDataModule(pl.LightningDataModule):
    """QM9 (or an extxyz file of molecules) as molecule records for :class:`EquivariantDiffusion`.

    Built by ``molsym train`` from the config's ``data.init_args`` (see
    ``configs/qm9_edm.yaml``).

    Parameters
    ----------
    species : list of int
        Atomic numbers the model knows; another element is a DataError naming the frame.
    source : ``"qm9"`` or ``"extxyz"``
        ``qm9``: all of QM9 through :func:`molsym.data.readers.qm9.load_qm9`
        (offline from qm9pack; ``reader`` passes it keyword arguments);
        ``extxyz``: every molecule of ``path`` (properties from the comment line).
    path : str, optional
        The extxyz file.
    subset : dict, optional
        ``{train: n, val: m}``: the first ``n`` / ``m`` molecules of each split.
    split_seed : int
        Seed of the random split (:func:`qm9_split`: QM9's 100,000 / 17,748 /
        13,083, the same fractions for other sets).
    formal_charges : ``"rdkit"`` or ``"zero"``
        See :func:`molecules_from_frames`.
    conditions : list of str
        Scalar properties copied to ``condition`` (a conditional model; QM9
        reader units: ``alpha`` Å³, ``gap`` eV).
    batch_size, val_batch_size : int
        Molecules per batch (validation defaults to ``batch_size``).
    dtype : str
        ``float32`` or ``float64`` positions.
    cache_dir : str, optional
        Folder for the records of each split (``.npz``, keyed by every
        argument above that changes them), so a later run skips reading and
        charge perception.
    reader : dict, optional
        Keyword arguments of ``load_qm9``.
    num_workers, seed : int
        Loader processes; shuffling seed of the plain training loader
        (``molsym train`` reshuffles with its own seed).

    Examples
    --------
    >>> dm = DiffusionDataModule(species=[1, 6, 7, 8, 9], source="qm9", subset={"train": 64, "val": 16})
    >>> dm.setup("fit")  # doctest: +SKIP
    >>> dm.statistics["num_atoms"].shape  # doctest: +SKIP
    torch.Size([64])
    """

    def __init__(self, species: Sequence[int] = (1, 6, 7, 8, 9), source: str = "qm9", path: Optional[str] = None,
                 subset: Optional[Dict[str, int]] = None, split_seed: int = 0, formal_charges: str = "rdkit",
                 conditions: Sequence[str] = (), batch_size: int = 64, val_batch_size: Optional[int] = None,
                 dtype: str = "float32", cache_dir: Optional[str] = None, reader: Optional[dict] = None,
                 num_workers: int = 0, seed: int = 0):
        super().__init__()
        if source not in ("qm9", "extxyz"):
            raise ValueError(f"data.init_args.source must be 'qm9' or 'extxyz', got {source!r}")
        if source == "extxyz" and not path:
            raise ValueError("data.init_args.source 'extxyz' needs data.init_args.path")
        if formal_charges not in ("rdkit", "zero"):
            raise ValueError(f"data.init_args.formal_charges must be 'rdkit' or 'zero', got {formal_charges!r}")
        self.species = [int(z) for z in species]
        self.source, self.path = source, path
        self.subset = dict(subset or {})
        self.split_seed = int(split_seed)
        self.formal_charges = formal_charges
        self.conditions = list(conditions)
        self.batch_size = int(batch_size)
        self.val_batch_size = int(val_batch_size or batch_size)
        self.dtype = getattr(torch, dtype)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.reader = dict(reader or {})
        self.num_workers, self.seed = int(num_workers), int(seed)
        self.records: Dict[str, List[Record]] = {}

    def _name(self) -> str:
        return "qm9" if self.source == "qm9" else str(self.path)

    def _cache_file(self, split: str) -> Optional[Path]:
        if self.cache_dir is None:
            return None
        stamp = None
        if self.source == "extxyz":  # a rewritten file gets a new cache entry
            st = Path(self.path).stat()
            stamp = [st.st_size, st.st_mtime_ns]
        key = json.dumps([self.source, str(self.path), stamp, self.subset.get(split), self.split_seed, self.species,
                          self.formal_charges, self.conditions, self.reader], sort_keys=True, default=str)
        return self.cache_dir / f"edm_{split}_{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"

    def setup(self, stage: Optional[str] = None) -> None:
        """Read the molecules of the train and val splits (or their cached records)."""
        if self.records:
            return
        from .qm9 import load_molecule_frames

        cached = {s: self._cache_file(s) for s in ("train", "val")}
        if all(f is not None and f.is_file() for f in cached.values()):
            self.records = {s: _records_from_npz(f) for s, f in cached.items()}
            return
        frames = load_molecule_frames({"source": self.source, "path": self.path, "reader": self.reader},
                                      self.conditions)
        split = qm9_split(len(frames), seed=self.split_seed)
        for s in ("train", "val"):
            idx = split[s][: self.subset[s]] if self.subset.get(s) else split[s]
            if len(idx) == 0:
                raise DataError(self._name(), None, f"the {s} split is empty ({len(frames)} molecules in all)")
            self.records[s] = molecules_from_frames([frames[i] for i in idx], self.species, self.conditions,
                                                    self.formal_charges, source=self._name(), progress=True)
            if cached[s] is not None:
                _records_to_npz(self.records[s], cached[s])

    @property
    def statistics(self) -> Dict[str, object]:
        """Of the training split: ``num_atoms [n]`` (sizes), ``species``, ``num_train``,
        ``conditions`` (names) and, for a conditional set, ``condition [n, C]`` (float64 values)."""
        self.setup()
        train = self.records["train"]
        stats: Dict[str, object] = {"num_atoms": torch.tensor([len(r["atomic_numbers"]) for r in train]),
                                    "species": list(self.species), "num_train": len(train),
                                    "conditions": list(self.conditions)}
        if self.conditions:
            stats["condition"] = torch.as_tensor(np.stack([r["condition"] for r in train]), dtype=torch.float64)
        return stats

    @property
    def train_dataset(self) -> MoleculeDataset:
        self.setup()
        return MoleculeDataset(self.records["train"])

    @property
    def val_dataset(self) -> MoleculeDataset:
        self.setup()
        return MoleculeDataset(self.records["val"])

    def _collate(self):
        return partial(collate_molecules, species=self.species, dtype=self.dtype)

    def train_dataloader(self) -> DataLoader:
        gen = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.train_dataset, batch_size=self.batch_size, shuffle=True, collate_fn=self._collate(),
                          num_workers=self.num_workers, generator=gen)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_dataset, batch_size=self.val_batch_size, shuffle=False,
                          collate_fn=self._collate(), num_workers=self.num_workers)
