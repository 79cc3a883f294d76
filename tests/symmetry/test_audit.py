"""The audit must pass symmetric functions and catch each kind of broken one."""
import functools

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.calculator import Calculator, all_changes
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


class PairCalculator(Calculator):
    """:func:`pair_energy` as an ASE calculator; ``nan_energy``/``nan_forces`` spoil one output."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, nan_energy=False, nan_forces=False):
        super().__init__()
        self.nan_energy, self.nan_forces = nan_energy, nan_forces

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        out = pair_energy(self.atoms)
        forces = out["forces"].copy()
        if self.nan_forces:
            forces[1, 2] = np.nan
        self.results = {"energy": np.nan if self.nan_energy else out["energy"], "forces": forces}


def test_nan_forces_fail_with_their_own_message(ethanol):
    report = audit(calculator_function(PairCalculator(nan_forces=True)), ethanol)
    assert not report.passed
    assert set(report.non_finite) == {"forces"}
    message = report.non_finite["forces"]
    assert message.startswith("forces: non-finite values (NaN) in the model's output")
    assert "the structure as given" in message
    assert all(np.isnan(per["forces"]) for per in report.errors.values())
    assert all(per["energy"] < 1e-10 for per in report.errors.values())  # the energy is fine
    table = report.table()
    assert message in table and "result: FAIL" in table and "PASS" not in table
    with pytest.raises(AssertionError, match="non-finite"):
        assert_symmetric(calculator_function(PairCalculator(nan_forces=True)), ethanol)


def test_nan_energy_fails_and_says_nothing_about_chirality(ethanol):
    report = audit(calculator_function(PairCalculator(nan_energy=True)), ethanol)
    assert not report.passed and set(report.non_finite) == {"energy"}
    assert report.non_finite["energy"].startswith("energy: non-finite values (NaN) in the model's output")
    assert report.distinguishes_mirror_images is None
    assert "PASS" not in report.table()


def test_non_finite_output_under_a_transformation_only_is_caught(ethanol):
    start = ethanol.positions.copy()

    def fn(atoms):  # finite for the structure as given, inf for every transformed copy
        out = pair_energy(atoms)
        if not np.allclose(atoms.positions, start):
            out["forces"][0, 0] = np.inf
        return out
    report = audit(fn, ethanol, kinds=("rotation", "translation"))
    assert not report.passed
    message = report.non_finite["forces"]
    assert "(inf)" in message and "rotation, translation" in message and "as given" not in message


def test_calculator_function_starts_every_evaluation_from_a_clean_state(ethanol):
    built, resets = [], []

    class Counting(PairCalculator):
        def reset(self):
            resets.append(1)
            super().reset()

    def factory():
        built.append(Counting())
        return built[-1]
    report = audit(calculator_function(factory), ethanol, trials=2)
    assert report.passed and len(built) == 1 + 2 * len(KINDS)  # one fresh calculator per evaluation
    assert audit(calculator_function(Counting), ethanol, trials=2).passed  # a class is a factory too
    resets.clear()
    audit(calculator_function(Counting()), ethanol, trials=2)  # an instance is reset before each evaluation
    assert len(resets) == 1 + 2 * len(KINDS)


@pytest.fixture
def water():
    return molecule("H2O")


def _tblite():
    return pytest.importorskip("tblite.ase").TBLite


@pytest.mark.parametrize("given", ["factory", "instance"])
def test_tblite_passes_when_each_structure_starts_from_a_clean_state(water, given):
    # tblite starts an SCF from the last call's wavefunction: evaluated with one shared instance (the old
    # audit), water's forces differed by ~7e-5 eV/Å between rotated copies; from a clean state, ~1e-13.
    factory = functools.partial(_tblite(), method="GFN2-xTB", verbosity=0)
    calc = factory if given == "factory" else factory()  # fresh instance per evaluation / reset() each time
    report = audit(calculator_function(calc), water)
    assert report.passed, report.table()
    assert max(per["forces"] for per in report.errors.values()) < 1e-8
    assert max(per["energy"] for per in report.errors.values()) < 1e-8
