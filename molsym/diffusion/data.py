"""Molecules for the diffusion model: frames → molecule records → batches.

A *molecule record* is a dict of numpy arrays: ``atomic_numbers [n]``,
``pos [n, 3]`` (Å), ``charges [n]`` (formal charges, int) and
``condition [C]`` (raw property values, only for a conditional model).
:func:`collate_molecules` concatenates records into the batch layout of
:class:`~molsym.diffusion.diffusion.EquivariantDiffusion`. Molecules are
small and the graph is fully connected, so no neighbour list is needed.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from molsym.data.errors import DataError

__all__ = [
    "formal_charges_from_geometry",
    "molecules_from_frames",
    "MoleculeDataset",
    "collate_molecules",
    "qm9_split",
    "DiffusionDataModule",
]

Record = Dict[str, np.ndarray]


def formal_charges_from_geometry(atomic_numbers: np.ndarray, pos: np.ndarray, total_charge: int = 0) -> np.ndarray:
    """Formal charges ``[n]`` from RDKit's distance-based bond perception.

    Uses ``rdDetermineBonds.DetermineBonds`` (connectivity from covalent radii,
    bond orders and charges from the total charge). Returns zeros if RDKit
    cannot assign bond orders (rare for QM9).
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
        return np.zeros(len(atomic_numbers), dtype=np.int64)
    finally:
        RDLogger.EnableLog("rdApp.*")
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


class DiffusionDataModule(L.LightningDataModule):
    """Lightning data module over lists of molecule records."""

    def __init__(self, train: Sequence[Record], val: Sequence[Record], species: Sequence[int],
                 batch_size: int = 64, val_batch_size: Optional[int] = None, dtype: str = "float32",
                 num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.train_set, self.val_set = MoleculeDataset(train), MoleculeDataset(val)
        self.species = list(species)
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size or batch_size
        self.dtype = getattr(torch, dtype)
        self.num_workers = num_workers
        self.seed = seed

    def _collate(self, records):
        return collate_molecules(records, self.species, self.dtype)

    def train_dataloader(self):
        gen = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, drop_last=True,
                          collate_fn=self._collate, num_workers=self.num_workers, generator=gen)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.val_batch_size, shuffle=False,
                          collate_fn=self._collate, num_workers=self.num_workers)
