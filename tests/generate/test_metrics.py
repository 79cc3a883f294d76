"""Scores of generated molecules by both protocols, on molecules whose answers are known."""
import math

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from molsym.flow import molecule_graph
from molsym.generate import GeneratedMolecule, allowed_valence, generation_metrics, graph_atom_stability
from molsym.generate.export import read_sdf, write_sdf


def _molecule(smiles, seed=0, bonds=True):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    AllChem.MMFFOptimizeMolecule(mol)
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    pos = mol.GetConformer().GetPositions()
    charges, classes = molecule_graph(z, pos)
    return GeneratedMolecule(z, pos, charges, classes if bonds else None)


def test_allowed_valences():
    assert [allowed_valence(z, 0) for z in (1, 6, 7, 8, 9)] == [1, 4, 3, 2, 1]
    assert allowed_valence(7, 1) == 4 and allowed_valence(8, -1) == 1 and allowed_valence(6, -1) == 3
    assert allowed_valence(16, 0) == -1  # unknown elements are never stable


def test_real_molecules_are_stable_valid_and_scored_by_both_protocols():
    mols = [_molecule(s) for s in ("CCO", "CC#N", "c1ccccc1", "CCO")]
    # benzene (MMFF C-C 1.39-1.40 A) sits on the double-bond limit of the distance tables (1.34 + 0.05 A)
    m = generation_metrics(mols, novelty_reference={"CCO"})
    assert m["atom_stable"] == 1.0 and m["mol_stable"] == 1.0
    assert m["validity"] == 1.0 and m["connected"] == 1.0
    assert m["uniqueness"] == pytest.approx(0.75) and m["novelty"] == pytest.approx(2 / 3)
    assert m["mol_stable_dist"] >= 0.75 and m["validity_dist"] >= 0.75
    assert m["smiles"][0] == "CCO" and m["smiles"][2] == "c1ccccc1"


def test_a_broken_bond_graph_is_unstable_but_the_distances_still_agree():
    mol = _molecule("CCO")
    broken = mol.bonds.copy()
    c, o = 1, 2  # the C-O bond of CCO (atom order of the SMILES)
    assert broken[c, o] == 1
    broken[c, o] = broken[o, c] = 2
    bad = GeneratedMolecule(mol.atomic_numbers, mol.pos, mol.charges, broken)
    stable = graph_atom_stability(bad)
    assert not stable[c] and not stable[o] and stable[0]
    m = generation_metrics([bad])
    assert m["mol_stable"] == 0.0 and m["validity"] == 0.0
    assert m["mol_stable_dist"] == 1.0  # geometry is fine: the EDM protocol does not see the bond graph
    assert math.isnan(m["novelty"])


def test_without_generated_bonds_only_the_distance_protocol(tmp_path):
    m = generation_metrics([_molecule("CCO", bonds=False)])
    assert "mol_stable" not in m and m["mol_stable_dist"] == 1.0


def test_sdf_round_trip_keeps_bonds_and_charges(tmp_path):
    mols = [_molecule("[NH3+]CC(=O)[O-]"), _molecule("C=CC#N"), _molecule("CO", bonds=False)]
    path = write_sdf(tmp_path / "m.sdf", mols, properties=[{"note": "zwitterion"}])
    back = read_sdf(path)
    assert len(back) == 3
    for a, b in zip(mols[:2], back[:2]):
        assert np.array_equal(a.bonds, b.bonds) and np.array_equal(a.charges, b.charges)
        assert np.allclose(a.pos, b.pos, atol=1e-4)
    assert back[2].bonds is None  # written with distance bonds, read back without
    supplier = Chem.SDMolSupplier(str(path), removeHs=False)
    assert next(iter(supplier)).GetProp("note") == "zwitterion"
