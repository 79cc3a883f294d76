"""Scores of generated molecules by both protocols of the literature.

* **Generated bonds** (MiDi, EQGAT-diff, SemlaFlow): an atom is stable when
  the orders of its generated bonds (aromatic 1.5) add up to the valence its
  element has at its formal charge (:func:`allowed_valence`); validity is
  RDKit sanitisation of the molecule with those bonds and charges.
* **Distances** (EDM, Hoogeboom et al. 2022): bonds are perceived from the
  distance tables and the charges ignored
  (:mod:`molsym.diffusion.evaluation`), so figures compare with EDM's.

Uniqueness is over the canonical SMILES of valid molecules, novelty against
a reference set of canonical SMILES (the training set).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Set

import numpy as np
from rdkit import Chem

from .molecules import BOND_ORDER, GeneratedMolecule, sanitized, to_rdkit

__all__ = ["allowed_valence", "graph_atom_stability", "molecule_smiles", "generation_metrics"]

_BASE_VALENCE = {1: 1, 6: 4, 7: 3, 8: 2, 9: 1}


def allowed_valence(z: int, charge: int) -> int:
    """Valence of element ``z`` at formal charge ``charge`` (C: 4 − |q|; N, O: base + q; H, F: 1 − |q|)."""
    base = _BASE_VALENCE.get(int(z))
    if base is None:
        return -1
    if z == 6 or z in (1, 9):
        return base - abs(int(charge))
    return base + int(charge)


def graph_atom_stability(mol: GeneratedMolecule) -> np.ndarray:
    """``[n] bool``: each atom's generated bond orders sum to its allowed valence."""
    valence = BOND_ORDER[np.asarray(mol.bonds, dtype=np.int64)].sum(1)
    allowed = np.array([allowed_valence(z, q) for z, q in zip(mol.atomic_numbers, mol.charges)])
    return np.abs(valence - allowed) < 1e-6


def molecule_smiles(mol: GeneratedMolecule, bonds: str = "generated") -> Optional[str]:
    """Canonical SMILES (no stereo) of the largest fragment if RDKit sanitises the molecule, else None."""
    rd = sanitized(to_rdkit(mol, bonds))
    if rd is None:
        return None
    frags = Chem.GetMolFrags(rd, asMols=True, sanitizeFrags=False)
    largest = max(frags, key=lambda m: m.GetNumAtoms())
    return Chem.MolToSmiles(Chem.RemoveHs(largest, sanitize=False), isomericSmiles=False)


def _chemistry(smiles: Sequence[Optional[str]], connected: Sequence[bool],
               reference: Optional[Set[str]]) -> Dict[str, float]:
    n = max(len(smiles), 1)
    valid = [s for s in smiles if s is not None]
    unique = set(valid)
    out = {"validity": len(valid) / n,
           "connected": sum(bool(c) for c, s in zip(connected, smiles) if s is not None) / n,
           "uniqueness": len(unique) / len(valid) if valid else 0.0,
           "valid_unique": len(unique) / n,
           "novelty": float("nan")}
    if reference is not None:
        out["novelty"] = len(unique - reference) / len(unique) if unique else 0.0
    return out


def generation_metrics(molecules: Iterable[GeneratedMolecule], novelty_reference: Optional[Set[str]] = None,
                       novelty_reference_dist: Optional[Set[str]] = None) -> Dict[str, float]:
    """Stability, validity, uniqueness and novelty by both protocols.

    Keys without suffix use the generated bonds (absent for generators
    without bonds); keys ending in ``_dist`` use distance-perceived bonds.
    Novelty is measured against ``novelty_reference`` (and, for the distance
    protocol, ``novelty_reference_dist`` when given, else the same set; see
    :func:`molsym.generate.reference.reference_sets`). ``smiles``
    (generated-bond protocol when available) lists each molecule's SMILES or None.
    """
    from molsym.diffusion.evaluation.stability import atom_stability

    molecules = list(molecules)
    out: Dict[str, float] = {"num_molecules": len(molecules)}
    stable = [atom_stability(m.atomic_numbers, m.pos)[0] for m in molecules]
    out["atom_stable_dist"] = float(np.concatenate(stable).mean()) if molecules else 0.0
    out["mol_stable_dist"] = float(np.mean([s.all() for s in stable])) if molecules else 0.0
    smiles_d = [molecule_smiles(m, "distance") for m in molecules]
    frags_d = [s is not None and "." not in s for s in smiles_d]
    ref_d = novelty_reference if novelty_reference_dist is None else novelty_reference_dist
    out.update({f"{k}_dist": v for k, v in _chemistry(smiles_d, frags_d, ref_d).items()})
    out["smiles"] = smiles_d
    if molecules and all(m.bonds is not None for m in molecules):
        stable = [graph_atom_stability(m) for m in molecules]
        out["atom_stable"] = float(np.concatenate(stable).mean())
        out["mol_stable"] = float(np.mean([s.all() for s in stable]))
        smiles = [molecule_smiles(m, "generated") for m in molecules]
        connected = [_connected(m) for m in molecules]
        out.update(_chemistry(smiles, connected, novelty_reference))
        out["smiles"] = smiles
    return out


def _connected(mol: GeneratedMolecule) -> bool:
    """Whether the generated bond graph is one fragment."""
    adj = np.asarray(mol.bonds) > 0
    seen, stack = {0}, [0]
    while stack:
        i = stack.pop()
        for j in np.nonzero(adj[i])[0]:
            if int(j) not in seen:
                seen.add(int(j))
                stack.append(int(j))
    return len(seen) == mol.num_atoms
