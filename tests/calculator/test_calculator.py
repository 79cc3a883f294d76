"""MolSymCalculator: results, units, finite differences, skin reuse, committee, errors."""
import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.md.verlet import VelocityVerlet
from ase.md.velocitydistribution import thermalize_momenta
from ase import units

from molsym.calculator import MolSymCalculator, UnknownElementError
from molsym.data.graph import atoms_to_graph



def test_energy_forces_energies(model_file, acac, make_model):
    acac.calc = MolSymCalculator(model_file)
    e = acac.get_potential_energy()
    f = acac.get_forces()
    per_atom = acac.get_potential_energies()
    assert isinstance(e, float) and f.shape == (15, 3) and per_atom.shape == (15,)
    assert per_atom.sum() == pytest.approx(e, abs=1e-9)
    assert acac.calc.results["free_energy"] == e
    # same numbers as the model on the training path's graph
    model = make_model(0)
    out = model(atoms_to_graph(acac, model.cutoff, torch.float64))
    assert e == pytest.approx(float(out["energy"][0].detach()), abs=1e-10)
    np.testing.assert_allclose(f, out["forces"].detach().numpy(), atol=1e-10)


def test_forces_match_finite_differences(model_file, acac):
    acac.calc = MolSymCalculator(model_file)
    numeric = calculate_numerical_forces(acac, eps=1e-5)
    np.testing.assert_allclose(acac.get_forces(), numeric, atol=1e-6)


def test_stress_periodic_matches_finite_differences(model_file):
    atoms = bulk("C", "diamond", a=3.6) * (2, 1, 1)
    atoms.rattle(0.05, seed=0)
    atoms.calc = MolSymCalculator(model_file, skin=0.3)
    stress = atoms.get_stress()
    np.testing.assert_allclose(stress, calculate_numerical_stress(atoms, eps=1e-5), atol=1e-6)
    assert np.abs(stress).max() > 1e-4  # not trivially zero


def test_stress_refused_for_molecules(model_file, acac):
    acac.calc = MolSymCalculator(model_file)
    with pytest.raises(PropertyNotImplementedError):
        acac.get_stress()


@pytest.mark.parametrize("periodic", [False, True])
def test_skin_reuse_gives_identical_results(model_file, acac, periodic):
    """An MD run hot enough to cross the cutoff: skin 0.5 Å vs a fresh list every step."""
    atoms = acac
    if periodic:  # a small box, so that images and the cell shifts matter
        atoms.cell = [8.0, 8.0, 7.0]
        atoms.pbc = True
    thermalize_momenta(atoms, temperature_K=3000, rng=np.random.default_rng(0))
    runs = []
    for skin in (0.0, 0.5):
        a = atoms.copy()
        a.calc = MolSymCalculator(model_file, skin=skin)
        dyn = VelocityVerlet(a, 1.0 * units.fs)
        rows = []
        for _ in dyn.irun(40):
            rows.append((a.get_potential_energy(), a.get_forces(),
                             atoms_to_graph(a, 4.0)["edge_index"].shape[1]))
        runs.append((rows, a.calc.neighbors.builds))
    (fresh, builds_fresh), (reused, builds_reused) = runs
    assert builds_fresh == 41 and 1 <= builds_reused < 41  # the list really was reused
    assert len({r[2] for r in fresh}) > 1  # edges did cross the cutoff during the run
    for (e0, f0, n0), (e1, f1, n1) in zip(fresh, reused):
        assert e0 == e1 and n0 == n1
        np.testing.assert_array_equal(f0, f1)


def test_skin_rebuilds_on_numbers_and_cell(model_file, acac):
    calc = MolSymCalculator(model_file, skin=1.0)
    acac.calc = calc
    acac.get_forces()
    acac.numbers[-1] = 1 if acac.numbers[-1] != 1 else 8
    acac.get_forces()
    assert calc.neighbors.builds == 2
    acac.cell = [30.0, 30.0, 30.0]
    acac.get_forces()
    assert calc.neighbors.builds == 3


def test_unknown_element_is_named(model_file, acac):
    acac.calc = MolSymCalculator(model_file)
    acac.symbols[3] = "Cl"
    with pytest.raises(UnknownElementError, match=r"Cl \(Z=17\)"):
        acac.get_potential_energy()


def test_committee_mean_and_spread(committee_files, acac):
    singles = []
    for path in committee_files:
        acac.calc = MolSymCalculator(path)
        singles.append((acac.get_potential_energy(), acac.get_forces()))
    acac.calc = MolSymCalculator(committee_files)
    energies = np.array([s[0] for s in singles])
    forces = np.stack([s[1] for s in singles])
    assert acac.get_potential_energy() == pytest.approx(energies.mean(), abs=1e-9)
    np.testing.assert_allclose(acac.get_forces(), forces.mean(0), atol=1e-10)
    res = acac.calc.results
    assert res["energy_std"] == pytest.approx(energies.std(), abs=1e-9) and res["energy_std"] > 0
    np.testing.assert_allclose(res["forces_std"], forces.std(0), atol=1e-10)
    assert res["energies_std"].shape == (15,)


def test_dtype_float32_and_global_default_untouched(model_file, acac):
    before = torch.get_default_dtype()
    acac.calc = MolSymCalculator(model_file)
    e64, f64 = acac.get_potential_energy(), acac.get_forces()
    calc32 = MolSymCalculator(model_file, dtype="float32")
    acac.calc = calc32
    e32, f32 = acac.get_potential_energy(), acac.get_forces()
    assert torch.get_default_dtype() == before
    assert calc32.dtype == torch.float32 and all(p.dtype == torch.float32 for p in calc32.models[0].parameters())
    assert f32.dtype == np.float64  # results are always float64 numpy
    assert abs(e32 - e64) < 1e-2 and np.abs(f32 - f64).max() < 1e-3
    assert e32 != e64  # really computed in another precision


def test_module_input_is_not_modified(acac, make_model):
    model = make_model(0)
    model.train()
    MolSymCalculator(model, dtype="float32")
    assert model.training and next(model.parameters()).dtype == torch.float64
    assert all(p.requires_grad for p in model.parameters())


def test_bad_arguments(model_file):
    with pytest.raises(ValueError, match="at least one"):
        MolSymCalculator([])
    with pytest.raises(ValueError, match="dtype"):
        MolSymCalculator(model_file, dtype="float16")
    with pytest.raises(Exception, match="nope.pt"):
        MolSymCalculator("nope.pt")


def test_check_state_agrees_with_ase(model_file, acac):
    from ase.calculators.calculator import compare_atoms
    calc = MolSymCalculator(model_file)
    acac.calc = calc
    acac.get_potential_energy()
    variants = []
    for change in ("none", "positions", "tiny", "numbers", "cell", "pbc", "charges"):
        a = acac.copy()
        if change == "positions":
            a.positions[2, 1] += 1e-6
        elif change == "tiny":
            a.positions[2, 1] += 1e-17
        elif change == "numbers":
            a.numbers[0] = 8
        elif change == "cell":
            a.cell = [10.0, 10.0, 10.0]
        elif change == "pbc":
            a.pbc = [True, False, False]
        elif change == "charges":
            a.set_initial_charges(np.ones(len(a)))
        variants.append(a)
    for a in variants:
        assert sorted(calc.check_state(a)) == sorted(compare_atoms(calc.atoms, a))
    assert calc.check_state(variants[0]) == [] and calc.check_state(variants[1]) == ["positions"]
