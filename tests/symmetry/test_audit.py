"""The audit must pass symmetric functions and catch each kind of broken one."""
import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.emt import EMT

from molsym.symmetry.audit import KINDS, assert_symmetric, audit, calculator_function
from molsym.symmetry.group import random_permutation, random_rotation
from molsym.symmetry.laws import atom_vector, invariant, points


def pair_energy(atoms):
    """A symmetric toy model: harmonic pairs; forces analytic."""
    x = atoms.positions
    d = x[:, None] - x[None]
    r2 = (d ** 2).sum(-1)
    return {"energy": 0.5 * r2.sum() * 0.1, "forces": -0.2 * d.sum(1) * 1.0}


@pytest.fixture
def ethanol():
    return molecule("CH3CH2OH")


def test_group_elements_are_orthogonal_with_requested_determinant():
    rng = np.random.default_rng(1)
    for reflection, det in ((False, 1.0), (True, -1.0)):
        R = random_rotation(rng, reflection)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(R), det)
    perm = random_permutation(rng, 5)
    assert sorted(perm) == list(range(5)) and not np.array_equal(perm, np.arange(5))


def test_symmetric_toy_model_passes_to_1e10(ethanol):
    report = assert_symmetric(pair_energy, ethanol)
    for per in report.errors.values():
        assert per["energy"] < 1e-10 and per["forces"] < 1e-10
    assert report.distinguishes_mirror_images is False


def test_emt_calculator_passes(ethanol):
    assert audit(calculator_function(EMT()), ethanol).passed


def test_non_invariant_energy_is_caught_for_rotation_not_translation(ethanol):
    def fn(atoms):
        out = pair_energy(atoms)
        out["energy"] = out["energy"] + atoms.positions[:, 0].std()  # depends on orientation
        return out
    report = audit(fn, ethanol)
    assert not report.passed
    assert report.errors["rotation"]["energy"] > 1e-3
    assert report.errors["translation"]["energy"] < 1e-10
    with pytest.raises(AssertionError, match="FAIL"):
        assert_symmetric(fn, ethanol)


def test_unrotated_forces_are_caught(ethanol):
    def fn(atoms):
        out = pair_energy(atoms)
        out["forces"] = np.tile(out["forces"][:, :1], (1, 3))  # not a vector
        return out
    report = audit(fn, ethanol)
    assert report.errors["rotation"]["forces"] > 1e-3
    assert report.errors["permutation"]["forces"] < 1e-10


def test_permutation_breaking_is_caught(ethanol):
    def fn(atoms):
        out = pair_energy(atoms)
        out["energy"] = out["energy"] + float(np.dot(np.arange(len(atoms)), atoms.numbers))
        return out
    report = audit(fn, ethanol)
    assert report.errors["permutation"]["energy"] > 0.5
    assert report.errors["rotation"]["energy"] < 1e-10


def test_chiral_energy_is_reported_as_distinguishing_mirror_images(ethanol):
    def fn(atoms):
        x = atoms.positions - atoms.positions.mean(0)
        triple = float(np.dot(np.cross(x[3], x[4]), x[6]))  # a pseudoscalar (H atoms off the mirror plane)
        return {"energy": pair_energy(atoms)["energy"] + triple}
    report = audit(fn, ethanol, laws={"energy": invariant}, kinds=("rotation", "reflection"))
    assert report.errors["reflection"]["energy"] > 1e-3, report.table()
    assert report.distinguishes_mirror_images is True


def test_points_law_includes_translation(ethanol):
    def fn(atoms):
        return {"pos": atoms.positions.copy(), "forces": pair_energy(atoms)["forces"]}
    report = audit(fn, ethanol, laws={"pos": points, "forces": atom_vector})
    assert report.passed
    assert set(report.errors) == set(KINDS)
