"""Generated molecules: one record type for every generator, and its RDKit molecule.

A :class:`GeneratedMolecule` holds atomic numbers, positions (Å), formal
charges and, for generators that make bonds, the bond class of every pair
(:data:`molsym.flow.data.BOND_CLASSES`). :func:`to_rdkit` builds the RDKit
molecule with the *generated* bonds (or, without them, with bonds from the
distance tables of :mod:`molsym.diffusion.evaluation.bonds`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from rdkit import Chem

__all__ = ["GeneratedMolecule", "BOND_ORDER", "to_rdkit", "sanitized"]

#: Bond order of each bond class (none, single, double, triple, aromatic).
BOND_ORDER = np.array([0.0, 1.0, 2.0, 3.0, 1.5])
_RDKIT_BOND = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE,
               4: Chem.BondType.AROMATIC}


@dataclass
class GeneratedMolecule:
    """One generated molecule: ``atomic_numbers [n]``, ``pos [n, 3]`` Å, ``charges [n]``, ``bonds [n, n]``."""

    atomic_numbers: np.ndarray
    pos: np.ndarray
    charges: np.ndarray
    bonds: Optional[np.ndarray] = None

    @property
    def num_atoms(self) -> int:
        return len(self.atomic_numbers)


def to_rdkit(mol: GeneratedMolecule, bonds: str = "generated") -> Chem.Mol:
    """Unsanitised RDKit molecule with a 3D conformer and explicit hydrogens.

    ``bonds="generated"`` uses the molecule's own bond classes (an error if it
    has none); ``"distance"`` perceives bond orders from the distance tables
    (the EDM protocol).
    """
    if bonds == "distance":
        from molsym.diffusion.evaluation.rdkit_metrics import build_molecule

        return build_molecule(mol.atomic_numbers, mol.pos, mol.charges)
    if bonds != "generated":
        raise ValueError(f"bonds must be 'generated' or 'distance', got {bonds!r}")
    if mol.bonds is None:
        raise ValueError("this molecule has no generated bonds; use bonds='distance'")
    classes = np.asarray(mol.bonds)
    rw = Chem.RWMol()
    for z, q in zip(mol.atomic_numbers, mol.charges):
        atom = Chem.Atom(int(z))
        atom.SetFormalCharge(int(q))
        atom.SetNoImplicit(True)
        rw.AddAtom(atom)
    for i, j in zip(*np.nonzero(np.triu(classes, 1))):
        rw.AddBond(int(i), int(j), _RDKIT_BOND[int(classes[i, j])])
        if int(classes[i, j]) == 4:
            rw.GetBondBetweenAtoms(int(i), int(j)).SetIsAromatic(True)
            rw.GetAtomWithIdx(int(i)).SetIsAromatic(True)
            rw.GetAtomWithIdx(int(j)).SetIsAromatic(True)
    conf = Chem.Conformer(mol.num_atoms)
    for i, p in enumerate(np.asarray(mol.pos, dtype=np.float64)):
        conf.SetAtomPosition(i, [float(v) for v in p])
    rw.AddConformer(conf, assignId=True)
    return rw.GetMol()


def sanitized(rdmol: Chem.Mol) -> Optional[Chem.Mol]:
    """A sanitised copy of ``rdmol``, or None when RDKit rejects it (valence, kekulisation)."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        out = Chem.Mol(rdmol)
        Chem.SanitizeMol(out)
        return out
    except (ValueError, RuntimeError):
        return None
    finally:
        RDLogger.EnableLog("rdApp.*")
