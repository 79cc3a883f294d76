"""Write generated molecules: SDF (with bonds), extxyz, and a PNG grid of 2D depictions.

A *generated molecule* is a tuple ``(atomic_numbers [n], pos [n, 3] Å,
charges [n])``. Bonds in the SDF come from the distance tables of
:mod:`molsym.diffusion.evaluation.bonds` (the same bonds the stability
metric sees); molecules RDKit cannot sanitise are still written, unsanitised,
with the SD property ``valid = 0``. Every file is written atomically.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from rdkit import Chem, RDLogger

from molsym.data.errors import DataError
from molsym.files import atomic_path

from .evaluation.rdkit_metrics import build_molecule, mol_to_smiles

__all__ = ["split_samples", "write_sdf", "read_sdf", "write_extxyz", "draw_grid"]

Molecule = Tuple[np.ndarray, np.ndarray, np.ndarray]


def split_samples(out: Dict[str, torch.Tensor]) -> List[Molecule]:
    """Cut the flat output of :func:`molsym.diffusion.sample` into molecules."""
    sizes = out["num_atoms"].tolist()
    z = np.split(out["atomic_numbers"].cpu().numpy(), np.cumsum(sizes)[:-1])
    pos = np.split(out["pos"].detach().cpu().double().numpy(), np.cumsum(sizes)[:-1])
    ch = np.split(out["charges"].cpu().numpy(), np.cumsum(sizes)[:-1])
    return list(zip(z, pos, ch))


def write_sdf(path, molecules: Sequence[Molecule]) -> Path:
    """SDF with table bonds, formal charges and the SD properties ``valid`` and ``smiles``."""
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        writer = Chem.SDWriter(str(tmp))
        writer.SetKekulize(False)
        RDLogger.DisableLog("rdApp.*")
        try:
            for i, (z, pos, charges) in enumerate(molecules):
                mol = build_molecule(z, pos, charges)
                smiles = mol_to_smiles(mol)
                mol.UpdatePropertyCache(strict=False)
                mol.SetProp("_Name", f"molsym_generated_{i}")
                mol.SetProp("valid", "1" if smiles else "0")
                mol.SetProp("smiles", smiles or "")
                writer.write(mol)
        finally:
            writer.close()
            RDLogger.EnableLog("rdApp.*")
    return path


def read_sdf(path) -> List[Molecule]:
    """Atoms, positions (Å) and formal charges of every molecule of an SDF (bonds are ignored:
    the metrics re-derive them from distances)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    supplier = Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False, strictParsing=False)
    molecules = []
    for i, mol in enumerate(supplier):
        if mol is None or mol.GetNumConformers() == 0:
            raise DataError(str(path), i, "unreadable SDF record (no atoms or no coordinates)")
        z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
        ch = np.array([a.GetFormalCharge() for a in mol.GetAtoms()], dtype=np.int64)
        molecules.append((z, np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64), ch))
    if not molecules:
        raise DataError(str(path), None, "no molecules in SDF file")
    return molecules


def write_extxyz(path, molecules: Sequence[Molecule]) -> Path:
    """All molecules as extxyz frames; formal charges in the per-atom array ``formal_charge``."""
    import ase
    import ase.io

    frames = []
    for z, pos, charges in molecules:
        atoms = ase.Atoms(numbers=z, positions=pos)
        atoms.arrays["formal_charge"] = np.asarray(charges, dtype=np.int64)
        frames.append(atoms)
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        ase.io.write(tmp, frames, format="extxyz")
    return path


def draw_grid(path, molecules: Sequence[Molecule], max_mols: int = 16, per_row: int = 4) -> Path:
    """PNG grid of 2D depictions (hydrogens hidden) of the first valid molecules.

    Invalid molecules are skipped; if none is valid the grid shows the first
    molecules as unsanitised graphs.
    """
    from rdkit.Chem import Draw, rdDepictor

    mols, legends = [], []
    for i, (z, pos, charges) in enumerate(molecules):
        mol = build_molecule(z, pos, charges)
        smiles = mol_to_smiles(mol)
        if smiles is None:
            continue
        m2 = Chem.MolFromSmiles(smiles)
        rdDepictor.Compute2DCoords(m2)
        mols.append(m2)
        legends.append(f"#{i} {smiles}")
        if len(mols) >= max_mols:
            break
    if not mols:  # draw raw graphs so the user still sees something
        for i, (z, pos, charges) in enumerate(molecules[:max_mols]):
            m2 = Chem.RWMol(build_molecule(z, pos, charges))
            m2.UpdatePropertyCache(strict=False)
            rdDepictor.Compute2DCoords(m2)
            mols.append(m2.GetMol())
            legends.append(f"#{i} (invalid)")
    if not mols:
        raise ValueError("no molecules to draw")
    image = Draw.MolsToGridImage(mols, molsPerRow=per_row, subImgSize=(250, 250), legends=legends)
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        image.save(tmp, format="PNG")
    return path
