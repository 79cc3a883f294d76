"""Scores of generated molecules: bond orders, stability, RDKit validity, uniqueness, novelty."""
from .bonds import ALLOWED_VALENCE, DOUBLE, MARGINS, SINGLE, TRIPLE, bond_order, bond_order_matrix
from .rdkit_metrics import build_molecule, canonical_smiles, mol_to_smiles, rdkit_metrics
from .reference import evaluate_molecules, reference_smiles, smiles_of_geometries
from .stability import atom_stability, stability_metrics

__all__ = [
    "ALLOWED_VALENCE", "DOUBLE", "MARGINS", "SINGLE", "TRIPLE",
    "atom_stability", "bond_order", "bond_order_matrix", "build_molecule", "canonical_smiles",
    "evaluate_molecules", "mol_to_smiles", "rdkit_metrics", "reference_smiles",
    "smiles_of_geometries", "stability_metrics",
]
