"""Write and read generated molecules: SDF (bonds and charges), extxyz, a PNG grid.

The SDF carries each molecule's generated bonds and formal charges (or, for
a generator without bonds, the bonds perceived from distances) with the SD
properties ``valid`` (RDKit sanitises it) and ``smiles``. Molecules RDKit
rejects are still written, unsanitised, so nothing generated is lost.
Every file is written atomically.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np
from rdkit import Chem, RDLogger

from molsym.data.errors import DataError
from molsym.files import atomic_path

from .metrics import molecule_smiles
from .molecules import GeneratedMolecule, to_rdkit

__all__ = ["write_sdf", "read_sdf", "write_xyz", "draw_grid"]

_CLASS_OF_BOND = {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3,
                  Chem.BondType.AROMATIC: 4}


def _bond_source(mol: GeneratedMolecule) -> str:
    return "generated" if mol.bonds is not None else "distance"


def write_sdf(path, molecules: Sequence[GeneratedMolecule], properties: Sequence[dict] = ()) -> Path:
    """SDF of ``molecules``; ``properties[i]`` adds SD properties to molecule ``i``."""
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        writer = Chem.SDWriter(str(tmp))
        writer.SetKekulize(False)
        RDLogger.DisableLog("rdApp.*")
        try:
            for i, mol in enumerate(molecules):
                rd = to_rdkit(mol, _bond_source(mol))
                smiles = molecule_smiles(mol, _bond_source(mol))
                rd.UpdatePropertyCache(strict=False)
                rd.SetProp("_Name", f"molsym_generated_{i}")
                rd.SetProp("valid", "1" if smiles else "0")
                rd.SetProp("smiles", smiles or "")
                rd.SetProp("bonds", _bond_source(mol))
                for key, value in (properties[i] if i < len(properties) else {}).items():
                    rd.SetProp(str(key), str(value))
                writer.write(rd)
        finally:
            writer.close()
            RDLogger.EnableLog("rdApp.*")
    return path


def read_sdf(path, bonds: bool = True) -> List[GeneratedMolecule]:
    """Molecules of an SDF: atoms, positions (Å), formal charges and (``bonds``) the file's bonds.

    A record written by a generator without bonds (SD property
    ``bonds=distance``) is read without bonds, so metrics perceive them
    again from distances.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    supplier = Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False, strictParsing=False)
    molecules = []
    for i, mol in enumerate(supplier):
        if mol is None or mol.GetNumConformers() == 0:
            raise DataError(str(path), i, "unreadable SDF record (no atoms or no coordinates)")
        z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
        charges = np.array([a.GetFormalCharge() for a in mol.GetAtoms()], dtype=np.int64)
        pos = np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64)
        classes = None
        keep = bonds and not (mol.HasProp("bonds") and mol.GetProp("bonds") == "distance")
        if keep:
            classes = np.zeros((len(z), len(z)), dtype=np.int64)
            for b in mol.GetBonds():
                k = _CLASS_OF_BOND.get(b.GetBondType())
                if k is None:
                    raise DataError(str(path), i, f"bond type {b.GetBondType()} is not single/double/triple/aromatic")
                classes[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] = classes[b.GetEndAtomIdx(), b.GetBeginAtomIdx()] = k
        molecules.append(GeneratedMolecule(z, pos, charges, classes))
    if not molecules:
        raise DataError(str(path), None, "no molecules in SDF file")
    return molecules


def write_xyz(path, molecules: Sequence[GeneratedMolecule]) -> Path:
    """All molecules as extxyz frames; formal charges in the per-atom array ``formal_charge``."""
    import ase
    import ase.io

    frames = []
    for mol in molecules:
        atoms = ase.Atoms(numbers=mol.atomic_numbers, positions=mol.pos)
        atoms.arrays["formal_charge"] = np.asarray(mol.charges, dtype=np.int64)
        frames.append(atoms)
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        ase.io.write(tmp, frames, format="extxyz")
    return path


def draw_grid(path, molecules: Sequence[GeneratedMolecule], max_mols: int = 16, per_row: int = 4) -> Path:
    """PNG grid of 2D depictions (hydrogens hidden) of the first valid molecules.

    If none is valid the grid shows the first molecules as unsanitised graphs.
    """
    from rdkit.Chem import Draw, rdDepictor

    mols, legends = [], []
    for i, mol in enumerate(molecules):
        smiles = molecule_smiles(mol, _bond_source(mol))
        if smiles is None:
            continue
        m2 = Chem.MolFromSmiles(smiles)
        rdDepictor.Compute2DCoords(m2)
        mols.append(m2)
        legends.append(f"#{i} {smiles}")
        if len(mols) >= max_mols:
            break
    if not mols:
        for i, mol in enumerate(molecules[:max_mols]):
            m2 = Chem.RWMol(to_rdkit(mol, _bond_source(mol)))
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
