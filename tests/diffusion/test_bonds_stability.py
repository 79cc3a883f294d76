"""Bond tables, atom/molecule stability and RDKit metrics on molecules of known structure."""
import numpy as np
import pytest

from molsym.diffusion.evaluation import (
    ALLOWED_VALENCE, DOUBLE, SINGLE, TRIPLE, atom_stability, bond_order, bond_order_matrix,
    build_molecule, evaluate_molecules, mol_to_smiles, rdkit_metrics, stability_metrics,
)

from diffusion_helpers import embedded


def test_tables_are_symmetric_and_ordered():
    for table in (SINGLE, DOUBLE, TRIPLE):
        for (a, b), v in table.items():
            assert table[(b, a)] == v
    for pair, d2 in DOUBLE.items():
        assert d2 < SINGLE[pair]
        if pair in TRIPLE:
            assert TRIPLE[pair] < d2
    assert ALLOWED_VALENCE == {1: 1, 6: 4, 7: 3, 8: 2, 9: 1}


def test_bond_order_thresholds():
    assert bond_order(6, 6, 1.53) == 1
    assert bond_order(6, 6, 1.33) == 2
    assert bond_order(6, 6, 1.20) == 3
    assert bond_order(6, 6, 1.70) == 0  # beyond single + margin
    assert bond_order(6, 8, 1.21) == 2
    assert bond_order(1, 6, 1.09) == 1 and bond_order(6, 1, 1.25) == 0
    assert bond_order(1, 8, 1.5) == 0
    assert bond_order(9, 6, 1.36) == 1 and bond_order(6, 9, 1.30) == 1  # no C=F entry


@pytest.mark.parametrize("smiles,expected", [
    ("CC", {(6, 6): 1}), ("C=C", {(6, 6): 2}), ("C#C", {(6, 6): 3}), ("C#N", {(6, 7): 3}),
    ("C=O", {(6, 8): 2}), ("CO", {(6, 8): 1}), ("CN", {(6, 7): 1}), ("CF", {(6, 9): 1}),
])
def test_known_molecules_are_stable_with_the_right_orders(smiles, expected):
    z, pos = embedded(smiles)
    order = bond_order_matrix(z, pos)
    for (a, b), k in expected.items():
        i, j = np.nonzero((z[:, None] == a) & (z[None, :] == b) & ~np.eye(len(z), dtype=bool))
        assert len(i) and (order[i, j] == k).all()
    stable, valence = atom_stability(z, pos)
    assert stable.all(), valence
    # the vectorised matrix agrees with the scalar rule on every pair
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    for i in range(len(z)):
        for j in range(len(z)):
            if i != j:
                assert order[i, j] == bond_order(z[i], z[j], d[i, j])


def test_stretched_molecule_is_unstable():
    z, pos = embedded("CCO")
    assert stability_metrics([(z, pos)])["mol_stability"] == 1.0
    m = stability_metrics([(z, pos * 1.3)])
    assert m["mol_stability"] == 0.0 and m["atom_stability"] < 0.5


def test_validity_uniqueness_novelty():
    ethanol = embedded("CCO")
    ethanol2 = embedded("CCO", seed=3)
    propyne = embedded("CC#C")
    z, pos = ethanol
    broken = (np.array([6, 1, 1, 1, 1, 1]), np.vstack([[0, 0, 0], 1.05 * np.array(
        [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]])]))  # a carbon with five H: invalid
    mols = [ethanol, ethanol2, propyne, broken]
    m = rdkit_metrics(mols, reference={"CCO"})
    assert m["smiles"][:3] == ["CCO", "CCO", "C#CC"] and m["smiles"][3] is None
    assert m["validity"] == pytest.approx(3 / 4)
    assert m["uniqueness"] == pytest.approx(2 / 3)
    assert m["valid_unique"] == pytest.approx(2 / 4)
    assert m["novelty"] == pytest.approx(1 / 2)  # propyne is new, ethanol is not
    full = evaluate_molecules(mols, None)
    assert full["mol_stability"] == pytest.approx(3 / 4) and np.isnan(full["novelty"])


def test_largest_fragment_is_scored():
    za, pa = embedded("CCO")
    zb, pb = embedded("C")
    mol = build_molecule(np.concatenate([za, zb]), np.vstack([pa, pb + 20.0]))
    assert mol_to_smiles(mol) == "CCO"
