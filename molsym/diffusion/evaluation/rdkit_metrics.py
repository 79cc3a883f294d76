"""RDKit molecules from generated geometries, and validity / uniqueness / novelty.

Bonds come from the distance tables of :mod:`.bonds`. A molecule is *valid*
when RDKit can sanitise it; its SMILES is the canonical SMILES (no
stereochemistry) of its largest fragment. *Uniqueness* is the fraction of
distinct SMILES among valid molecules, *novelty* the fraction of distinct
valid SMILES absent from a reference (training) set — as in Hoogeboom et al.
(2022).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np
from rdkit import Chem, RDLogger

from .bonds import bond_order_matrix

__all__ = ["build_molecule", "mol_to_smiles", "canonical_smiles", "rdkit_metrics"]

_BOND_TYPES = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}


def build_molecule(atomic_numbers: np.ndarray, pos: np.ndarray,
                   charges: Optional[np.ndarray] = None) -> Chem.Mol:
    """Unsanitised RDKit molecule with a 3D conformer and table-derived bonds."""
    mol = Chem.RWMol()
    for i, z in enumerate(atomic_numbers):
        atom = Chem.Atom(int(z))
        if charges is not None and charges[i]:
            atom.SetFormalCharge(int(charges[i]))
        atom.SetNoImplicit(True)  # hydrogens are explicit in generated molecules
        mol.AddAtom(atom)
    order = bond_order_matrix(atomic_numbers, pos)
    for i, j in zip(*np.nonzero(np.triu(order))):
        mol.AddBond(int(i), int(j), _BOND_TYPES[int(order[i, j])])
    conf = Chem.Conformer(len(atomic_numbers))
    for i, p in enumerate(np.asarray(pos, dtype=np.float64)):
        conf.SetAtomPosition(i, [float(v) for v in p])
    mol.AddConformer(conf, assignId=True)
    return mol.GetMol()


def mol_to_smiles(mol: Chem.Mol) -> Optional[str]:
    """Canonical SMILES of the largest fragment if ``mol`` sanitises, else None."""
    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.Mol(mol)
        Chem.SanitizeMol(mol)
        frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=True)
    except (ValueError, RuntimeError):  # Chem.AtomValenceException etc. derive from ValueError
        return None
    finally:
        RDLogger.EnableLog("rdApp.*")
    largest = max(frags, key=lambda m: m.GetNumAtoms())
    return Chem.MolToSmiles(Chem.RemoveHs(largest, sanitize=False), isomericSmiles=False)


def canonical_smiles(smiles: str) -> Optional[str]:
    """Canonical non-isomeric SMILES of a SMILES string (None if RDKit rejects it)."""
    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(smiles)
    finally:
        RDLogger.EnableLog("rdApp.*")
    return None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False)


def rdkit_metrics(molecules: Sequence[Tuple[np.ndarray, np.ndarray]],
                  reference: Optional[Set[str]] = None) -> Dict[str, float]:
    """Validity, uniqueness (among valid), validity×uniqueness and novelty.

    Parameters
    ----------
    molecules : sequence of ``(atomic_numbers [n], pos [n, 3] Å)``
    reference : canonical SMILES of the training set (for novelty), optional.

    Returns
    -------
    dict with ``validity``, ``uniqueness``, ``valid_unique``, ``novelty``
    (NaN without a reference) and ``smiles`` (list, None for invalid).
    """
    smiles: List[Optional[str]] = [mol_to_smiles(build_molecule(z, p)) for z, p in molecules]
    valid = [s for s in smiles if s is not None]
    unique = set(valid)
    n = max(len(molecules), 1)
    out = {
        "validity": len(valid) / n,
        "uniqueness": len(unique) / len(valid) if valid else 0.0,
        "valid_unique": len(unique) / n,
        "novelty": float("nan"),
        "smiles": smiles,
    }
    if reference is not None:
        out["novelty"] = (len(unique - reference) / len(unique)) if unique else 0.0
    return out
