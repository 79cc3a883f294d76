"""Reference SMILES sets for novelty, and the full metrics table.

``reference_smiles("qm9")`` is the set of canonical SMILES of the QM9
training split (standard 100k split, seed 0), perceived from the geometries
with the same bond tables as generated molecules, so that a generated copy of
a training molecule always matches. It is computed once (a few minutes) and
cached under ``$MOLSYM_CACHE`` (default ``~/.cache/molsym``). A path may be
given instead: a ``.smi``/``.txt`` file with one SMILES per line, or any
molecule file (``.sdf``, ``.xyz``) whose geometries are perceived.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional, Sequence, Set, Tuple

import numpy as np

from molsym.data.errors import DataError
from molsym.files import atomic_write_text

from .rdkit_metrics import build_molecule, canonical_smiles, mol_to_smiles, rdkit_metrics
from .stability import stability_metrics

__all__ = ["cache_dir", "smiles_of_geometries", "reference_smiles", "evaluate_molecules"]


def cache_dir() -> Path:
    """Folder for cached reference sets (``$MOLSYM_CACHE`` or ``~/.cache/molsym``)."""
    return Path(os.environ.get("MOLSYM_CACHE", Path.home() / ".cache" / "molsym"))


def smiles_of_geometries(molecules: Sequence[Tuple[np.ndarray, np.ndarray]], progress: bool = False) -> Set[str]:
    """Canonical SMILES of every valid molecule in ``molecules`` (``(Z, pos)`` pairs)."""
    from tqdm.auto import tqdm

    out = set()
    for z, pos in tqdm(molecules, desc="reference SMILES", disable=not progress):
        s = mol_to_smiles(build_molecule(z, pos))
        if s is not None:
            out.add(s)
    return out


def reference_smiles(reference: str, progress: bool = True) -> Set[str]:
    """The reference set named ``reference`` ("qm9" or a file path)."""
    if reference == "qm9":
        cached = cache_dir() / "qm9_train_smiles.txt"
        if cached.exists():
            return set(cached.read_text().split())
        from ..data import qm9_split
        from ..qm9 import load_qm9_frames

        frames = load_qm9_frames()
        train = qm9_split(len(frames), seed=0)["train"]
        smiles = smiles_of_geometries([(frames[i]["atomic_numbers"], frames[i]["pos"]) for i in train], progress)
        atomic_write_text(cached, "\n".join(sorted(smiles)) + "\n")
        return smiles
    path = Path(reference)
    if not path.exists():
        raise FileNotFoundError(f"reference must be 'qm9' or an existing file, got {reference!r}")
    if path.suffix in (".smi", ".txt"):
        out = set()
        for i, line in enumerate(path.read_text().splitlines()):
            if not line.strip():
                continue
            s = canonical_smiles(line.split()[0])
            if s is None:
                raise DataError(str(path), i, f"RDKit cannot parse SMILES {line.split()[0]!r}")
            out.add(s)
        return out
    if path.suffix == ".sdf":
        from molsym.generate.export import read_sdf

        return smiles_of_geometries([(m.atomic_numbers, m.pos) for m in read_sdf(path, bonds=False)], progress)
    from ..qm9 import frames_from_extxyz

    return smiles_of_geometries([(f["atomic_numbers"], f["pos"]) for f in frames_from_extxyz(path)], progress)


def evaluate_molecules(molecules: Sequence[Tuple[np.ndarray, np.ndarray]],
                       reference: Optional[Set[str]] = None) -> Dict[str, float]:
    """All metrics: atom / molecule stability, validity, uniqueness, valid×unique, novelty."""
    out = stability_metrics(molecules)
    chem = rdkit_metrics(molecules, reference)
    out.update({k: v for k, v in chem.items() if k != "smiles"})
    out["smiles"] = chem["smiles"]
    return out
