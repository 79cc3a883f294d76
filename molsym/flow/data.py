"""Molecular graphs for the flow generator: frames → graph records → dense padded batches.

A *graph record* is a dict of numpy arrays: ``atomic_numbers [n]``, ``pos [n, 3]``
(Å), ``charges [n]`` (formal charges, int) and ``bonds [n, n]`` (bond class,
:data:`BOND_CLASSES`, symmetric, zero diagonal). Bonds and charges of QM9-like
geometries come from RDKit's ``rdDetermineBonds`` (connectivity from covalent
radii, bond orders for a neutral molecule) followed by sanitisation, which
marks aromatic bonds. Molecules RDKit cannot assign are skipped and counted.

Batches are dense: molecules are small and every atom pair is an edge, so a
``[B, N, N]`` layout (``N`` the largest molecule of the batch) needs no
neighbour list and runs as batched matrix products on the CPU. Training
batches are made of molecules of similar size (:func:`size_bucketed_batches`)
to keep the padding small.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from molsym.data.errors import DataError
from molsym.files import atomic_path

__all__ = ["BOND_CLASSES", "CHARGE_VALUES", "molecule_graph", "graph_records", "collate_graphs",
           "size_bucketed_batches", "FlowDataModule"]

#: Bond classes on every atom pair (index = class id); aromatic counts 1.5 in valences.
BOND_CLASSES = ("none", "single", "double", "triple", "aromatic")
#: Formal charges the generator can place (index = class id).
CHARGE_VALUES = (-1, 0, 1)

Record = Dict[str, np.ndarray]


def molecule_graph(atomic_numbers: np.ndarray, pos: np.ndarray, total_charge: int = 0,
                   kekulize: bool = True) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """``(charges [n], bonds [n, n])`` perceived from a geometry, or None if RDKit fails.

    Bond classes follow :data:`BOND_CLASSES`; with ``kekulize`` aromatic rings
    are written as alternating single and double bonds (one Kekulé
    structure), so valences are integers and RDKit re-perceives the
    aromaticity of generated molecules. A charge outside
    :data:`CHARGE_VALUES` also gives None.
    """
    from rdkit import Chem, RDLogger

    from molsym.diffusion.data import perceived_molecule

    n = len(atomic_numbers)
    mol = perceived_molecule(atomic_numbers, pos, total_charge)
    if mol is None:
        return None
    RDLogger.DisableLog("rdApp.*")
    try:
        Chem.SanitizeMol(mol)
        if kekulize:
            Chem.Kekulize(mol, clearAromaticFlags=True)
    except (ValueError, RuntimeError):
        return None
    finally:
        RDLogger.EnableLog("rdApp.*")
    charges = np.array([a.GetFormalCharge() for a in mol.GetAtoms()], dtype=np.int64)
    if not set(charges.tolist()) <= set(CHARGE_VALUES):
        return None
    bonds = np.zeros((n, n), dtype=np.int8)
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        if b.GetIsAromatic():
            k = 4
        else:
            k = {1.0: 1, 2.0: 2, 3.0: 3}.get(b.GetBondTypeAsDouble())
            if k is None:
                return None
        bonds[i, j] = bonds[j, i] = k
    return charges, bonds


def graph_records(frames: Sequence[dict], species: Sequence[int], source: str = "frames",
                  progress: bool = False, kekulize: bool = True) -> Tuple[List[Record], int]:
    """Graph records of ``frames``; returns ``(records, number skipped)``.

    An element outside ``species`` is a :class:`DataError` naming the frame;
    a molecule whose bonds RDKit cannot perceive is skipped.
    """
    from tqdm.auto import tqdm

    allowed = set(int(z) for z in species)
    records, skipped = [], 0
    for i, frame in enumerate(tqdm(frames, desc="bonds", disable=not progress, mininterval=5.0)):
        z = np.asarray(frame["atomic_numbers"], dtype=np.int64)
        pos = np.asarray(frame["pos"], dtype=np.float64)
        bad = sorted(set(z.tolist()) - allowed)
        if bad:
            raise DataError(source, i, f"elements {bad} are not among the model species {sorted(allowed)}")
        graph = molecule_graph(z, pos, kekulize=kekulize)
        if graph is None:
            skipped += 1
            continue
        records.append({"atomic_numbers": z, "pos": pos, "charges": graph[0], "bonds": graph[1]})
    return records, skipped


def collate_graphs(records: Sequence[Record], species: Sequence[int],
                   dtype: torch.dtype = torch.float32) -> Dict[str, torch.Tensor]:
    """Dense padded batch of graph records.

    Returns ``pos [B, N, 3]`` (Å, centred), ``types [B, N]`` (index into
    ``species``), ``charges [B, N]`` (index into :data:`CHARGE_VALUES`),
    ``bonds [B, N, N]`` (class id), ``mask [B, N]`` (bool, real atoms) and
    ``num_atoms [B]``. Padding entries are zero.
    """
    lookup = np.full(max(species) + 1, -1, dtype=np.int64)
    lookup[list(species)] = np.arange(len(species))
    charge_index = {c: k for k, c in enumerate(CHARGE_VALUES)}
    B = len(records)
    n = np.array([len(r["atomic_numbers"]) for r in records], dtype=np.int64)
    N = int(n.max())
    pos = np.zeros((B, N, 3))
    types = np.zeros((B, N), dtype=np.int64)
    charges = np.full((B, N), charge_index[0], dtype=np.int64)
    bonds = np.zeros((B, N, N), dtype=np.int64)
    for b, r in enumerate(records):
        k = n[b]
        p = np.asarray(r["pos"], dtype=np.float64)
        pos[b, :k] = p - p.mean(0)
        types[b, :k] = lookup[r["atomic_numbers"]]
        charges[b, :k] = [charge_index[int(c)] for c in r["charges"]]
        bonds[b, :k, :k] = r["bonds"]
    mask = np.arange(N)[None, :] < n[:, None]
    return {"pos": torch.as_tensor(pos, dtype=dtype), "types": torch.as_tensor(types),
            "charges": torch.as_tensor(charges), "bonds": torch.as_tensor(bonds),
            "mask": torch.as_tensor(mask), "num_atoms": torch.as_tensor(n)}


def size_bucketed_batches(sizes: Sequence[int], batch_size: int, seed: int = 0,
                          pool: int = 32) -> List[List[int]]:
    """Batches of indices whose molecules have similar sizes.

    The indices are shuffled, cut into pools of ``pool`` batches, each pool
    sorted by size and cut into batches, so a batch pads little while the
    batches still mix the whole data set. Drawn once from ``seed``; the order
    of the batches is shuffled every epoch by the loader.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sizes))
    sizes = np.asarray(sizes)
    batches = []
    for start in range(0, len(order), batch_size * pool):
        chunk = order[start:start + batch_size * pool]
        chunk = chunk[np.argsort(sizes[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size].tolist() for i in range(0, len(chunk), batch_size)]
    return batches


class _BatchDataset(Dataset):
    """Item ``k`` is the collated batch ``k`` (the loader uses ``batch_size=1``)."""

    def __init__(self, records, batches, species, dtype):
        self.records, self.batches, self.species, self.dtype = records, batches, species, dtype

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int):
        return collate_graphs([self.records[i] for i in self.batches[k]], self.species, self.dtype)


def _first(items):
    return items[0]


def _records_to_npz(records: List[Record], skipped: int, path: Path) -> None:
    n = np.array([len(r["atomic_numbers"]) for r in records])
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, num_atoms=n, skipped=skipped,
                     atomic_numbers=np.concatenate([r["atomic_numbers"] for r in records]),
                     pos=np.concatenate([r["pos"] for r in records]),
                     charges=np.concatenate([r["charges"] for r in records]),
                     bonds=np.concatenate([r["bonds"].reshape(-1) for r in records]))


def _records_from_npz(path: Path) -> Tuple[List[Record], int]:
    with np.load(path) as f:
        n, z, pos, q, bonds = (f[k] for k in ("num_atoms", "atomic_numbers", "pos", "charges", "bonds"))
        skipped = int(f["skipped"])
    atom_off = np.concatenate([[0], np.cumsum(n)])
    pair_off = np.concatenate([[0], np.cumsum(n * n)])
    records = [{"atomic_numbers": z[a:b], "pos": pos[a:b], "charges": q[a:b],
                "bonds": bonds[p:p + k * k].reshape(k, k)}
               for k, a, b, p in zip(n, atom_off[:-1], atom_off[1:], pair_off[:-1])]
    return records, skipped


class FlowDataModule(pl.LightningDataModule):
    """QM9 (or an extxyz file of molecules) as graph records for the flow generator.

    Parameters
    ----------
    species : list of int
        Atomic numbers the generator knows (QM9: ``[1, 6, 7, 8, 9]``).
    source : ``"qm9"`` or ``"extxyz"``
        ``qm9``: :func:`molsym.data.readers.qm9.load_qm9` (offline, qm9pack)
        with the standard random split (:func:`molsym.diffusion.qm9_split`,
        ``split_seed``); ``extxyz``: every molecule of ``path``, split
        randomly with the QM9 fractions.
    path : str, optional
        The extxyz file (``source: extxyz``).
    subset : dict, optional
        ``{train: n, val: m}``: the first ``n`` / ``m`` molecules of each split.
    batch_size, val_batch_size : int
    split_seed, seed : int
        Seeds of the split and of the batch composition.
    kekulize : bool
        Write aromatic rings as Kekulé structures (no aromatic bond class in the data).
    cache_dir : str, optional
        Folder for the perceived bonds (``.npz`` per split, keyed by the
        source and subset); perception takes ~0.2 ms per molecule.
    dtype : str
        ``float32`` or ``float64``.
    """

    def __init__(self, species: Sequence[int] = (1, 6, 7, 8, 9), source: str = "qm9", path: Optional[str] = None,
                 subset: Optional[Dict[str, int]] = None, batch_size: int = 64, val_batch_size: Optional[int] = None,
                 split_seed: int = 0, seed: int = 0, kekulize: bool = True, cache_dir: Optional[str] = None,
                 dtype: str = "float32"):
        super().__init__()
        if source not in ("qm9", "extxyz"):
            raise ValueError(f"data.init_args.source must be 'qm9' or 'extxyz', got {source!r}")
        if source == "extxyz" and not path:
            raise ValueError("data.init_args.source 'extxyz' needs data.init_args.path")
        self.species = [int(z) for z in species]
        self.source, self.path = source, path
        self.subset = dict(subset or {})
        self.batch_size = int(batch_size)
        self.val_batch_size = int(val_batch_size or batch_size)
        self.split_seed, self.seed = int(split_seed), int(seed)
        self.kekulize = bool(kekulize)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.dtype = getattr(torch, dtype)
        self.records: Dict[str, List[Record]] = {}
        self.skipped: Dict[str, int] = {}

    def _cache_file(self, split: str) -> Optional[Path]:
        if self.cache_dir is None:
            return None
        key = json.dumps([self.source, str(self.path), self.subset.get(split), self.split_seed, self.species,
                          self.kekulize])
        return self.cache_dir / f"flow_{split}_{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"

    def _frames(self) -> List[dict]:
        from molsym.diffusion.qm9 import frames_from_extxyz, load_qm9_frames

        return load_qm9_frames() if self.source == "qm9" else frames_from_extxyz(self.path)

    def setup(self, stage: Optional[str] = None) -> None:
        if self.records:
            return
        from molsym.diffusion.data import qm9_split

        wanted = {s: self._cache_file(s) for s in ("train", "val")}
        if all(f is not None and f.is_file() for f in wanted.values()):
            for s, f in wanted.items():
                self.records[s], self.skipped[s] = _records_from_npz(f)
            return
        frames = self._frames()
        split = qm9_split(len(frames), seed=self.split_seed)
        name = "qm9" if self.source == "qm9" else str(self.path)
        for s in ("train", "val"):
            idx = split[s][: self.subset[s]] if self.subset.get(s) else split[s]
            self.records[s], self.skipped[s] = graph_records([frames[i] for i in idx], self.species, name,
                                                              progress=True, kekulize=self.kekulize)
            if not self.records[s]:
                raise DataError(name, None, f"no molecule of the {s} split has perceivable bonds")
            if wanted[s] is not None:
                wanted[s].parent.mkdir(parents=True, exist_ok=True)
                _records_to_npz(self.records[s], self.skipped[s], wanted[s])

    @property
    def statistics(self) -> Dict[str, object]:
        """``num_atoms`` (training sizes, tensor), ``species``, ``num_train``, ``skipped``."""
        self.setup()
        n = torch.tensor([len(r["atomic_numbers"]) for r in self.records["train"]])
        return {"num_atoms": n, "species": list(self.species), "num_train": len(self.records["train"]),
                "skipped": dict(self.skipped)}

    @property
    def train_dataset(self) -> Dataset:
        sizes = [len(r["atomic_numbers"]) for r in self.records["train"]]
        batches = size_bucketed_batches(sizes, self.batch_size, seed=self.seed)
        return _BatchDataset(self.records["train"], batches, self.species, self.dtype)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_dataset, batch_size=1, shuffle=True, collate_fn=_first)

    def val_dataloader(self) -> DataLoader:
        recs = self.records["val"]
        batches = [list(range(i, min(i + self.val_batch_size, len(recs)))) for i in range(0, len(recs),
                                                                                         self.val_batch_size)]
        return DataLoader(_BatchDataset(recs, batches, self.species, self.dtype), batch_size=1, shuffle=False,
                          collate_fn=_first)
