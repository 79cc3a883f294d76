"""Small flow generators and molecules shared by the flow tests."""
import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from molsym.flow import FlowMatchingGenerator

TINY_NETWORK = {"hidden": 16, "edge_dim": 8, "msg_dim": 8, "num_layers": 2, "num_rbf": 8}


def embedded(smiles: str, seed: int = 0):
    """``(atomic_numbers, pos Å)`` of an MMFF-relaxed RDKit conformer with explicit hydrogens."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    AllChem.MMFFOptimizeMolecule(mol)
    return np.array([a.GetAtomicNum() for a in mol.GetAtoms()]), mol.GetConformer().GetPositions()


@pytest.fixture
def tiny_generator():
    torch.manual_seed(0)
    return FlowMatchingGenerator([1, 6, 7, 8, 9], torch.tensor([0.0, 0, 0, 1, 1, 1, 1]), network=TINY_NETWORK)
