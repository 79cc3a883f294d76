"""The stability watchdog: bonds, close contacts, NVE drift and NaN/inf, alone and inside run_md."""
import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.calculators.calculator import Calculator, all_changes
from ase.io import read

from molsym.md import ENSEMBLES, MDInstabilityError, StabilityWatchdog, non_finite, run_md


def test_bonds_found_from_covalent_radii():
    dog = StabilityWatchdog(molecule("CH3CH2OH"))
    assert len(dog.bonds) == 8  # C-C, C-O, O-H, 5 C-H
    assert np.all((dog.ref_lengths > 0.9) & (dog.ref_lengths < 1.6))


def test_quiet_on_small_moves(water):
    dog = StabilityWatchdog(water, max_energy_drift=0.01)
    water.positions += np.random.default_rng(0).normal(scale=0.05, size=(3, 3))
    assert dog.find(water, step=3, total_energy=-1.0) is None
    assert dog.find(water, step=4, total_energy=-1.02) is None  # 6.7 meV/atom < 10


@pytest.mark.parametrize("shift, sign", [(0.6, "+"), (-0.55, "-")])
def test_bond_stretch_and_compression(water, shift, sign):
    dog = StabilityWatchdog(water, min_distance=0.1)
    water.positions[1, 0] += shift  # O0–H1 along x
    found = dog.find(water, step=12)
    assert found.kind == "bond" and found.atoms == (0, 1) and found.step == 12
    assert "step 12" in found.message and "O0–H1" in found.message and f"change {sign}" in found.message


def test_threshold_is_respected(water):
    water.positions[1, 0] += 0.3
    assert StabilityWatchdog(water.copy(), bond_threshold=0.5).find(water, 1) is None  # reference is the moved one
    dog = StabilityWatchdog(molecule("H2O"), bond_threshold=0.2)
    moved = molecule("H2O")
    moved.positions[1] += 0.3 * moved.positions[1] / np.linalg.norm(moved.positions[1] - moved.positions[0])
    assert dog.find(moved, 1) is not None


def test_min_distance(water):
    dog = StabilityWatchdog(water, bond_threshold=10.0, min_distance=0.7)
    water.positions[2] = water.positions[1] + [0.0, 0.5, 0.0]  # H1 and H2 0.5 Å apart
    found = dog.find(water, step=5)
    assert found.kind == "min_distance" and set(found.atoms) == {1, 2}
    assert "H1" in found.message and "H2" in found.message and "0.500 Å" in found.message


def test_min_distance_uses_periodic_images():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    dog = StabilityWatchdog(atoms, bond_threshold=10.0, min_distance=1.0)
    assert dog.find(atoms, 0) is None
    atoms.positions[0] = [3.55, 0.0, 0.0]  # its image sits at x = -0.05 Å
    atoms.positions[1] = [0.20, 0.0, 0.0]  # 0.25 Å from that image, 3.35 Å from atom 0 itself
    found = dog.find(atoms, 1)
    assert found.kind == "min_distance" and set(found.atoms) == {0, 1}
    assert found.value == pytest.approx(0.25)


def test_energy_drift(water):
    dog = StabilityWatchdog(water, max_energy_drift=0.001)
    assert dog.find(water, 0, total_energy=-10.0) is None
    found = dog.find(water, 9, total_energy=-9.99)
    assert found.kind == "energy_drift" and "+3.33 meV/atom" in found.message
    with pytest.raises(MDInstabilityError, match="step 10"):
        dog.check(water, 10, total_energy=float("nan"))


def test_broken_potential_stops_run_and_keeps_trajectory(tmp_path, water, harmonic):
    water.calc = harmonic(water, k=-20.0)  # pushes every pair apart: a broken model
    out, log = tmp_path / "traj.extxyz", tmp_path / "md.log"
    result = run_md(water, "nve", temperature=300, timestep=0.5, steps=5000, out=str(out),
                    log_path=str(log), log_every=5, watchdog=StabilityWatchdog(water), progress=False)
    assert result.instability is not None and result.instability.kind == "bond"
    assert 0 < result.steps < 5000 and result.instability.step == result.steps
    frames = read(out, ":")
    assert len(frames) == result.steps // 5 + 1 + (result.steps % 5 != 0)
    last = frames[-1].get_distance(*result.instability.atoms)
    assert abs(last - water.get_distance(*result.instability.atoms)) < 1e-6  # the failing frame was kept
    rows = np.loadtxt(log)
    assert rows[-1, 0] == result.steps


def test_inconsistent_energy_trips_drift_in_nve(water, harmonic):
    water.calc = harmonic(water, k=5.0, lie=3.0)  # energy 3x what the forces integrate to
    dog = StabilityWatchdog(water, max_energy_drift=0.002)
    result = run_md(water, "nve", temperature=300, timestep=0.5, steps=2000, watchdog=dog, progress=False)
    assert result.instability is not None and result.instability.kind == "energy_drift"


def test_stable_potential_runs_to_the_end(water, harmonic):
    water.calc = harmonic(water, k=5.0)
    dog = StabilityWatchdog(water, max_energy_drift=0.002)
    result = run_md(water, "nve", temperature=300, timestep=0.5, steps=300, watchdog=dog, progress=False)
    assert result.instability is None and result.steps == 300
    assert result.max_energy_drift < 0.002


def _proton_between_two_oxygens(h_x: float):
    from ase import Atoms
    # O at x = 0 and x = 2.5 Å (each with a methyl-free H pointing away, so the
    # O atoms have partners of their own); the shared proton starts on the left O
    return Atoms("OOHHH", positions=[[0, 0, 0], [2.5, 0, 0], [h_x, 0, 0], [-0.6, 0.75, 0], [3.1, 0.75, 0]])


def test_proton_transfer_to_an_equivalent_acceptor_is_not_an_instability():
    start = _proton_between_two_oxygens(0.98)
    dog = StabilityWatchdog(start)
    moved = _proton_between_two_oxygens(2.5 - 0.98)       # now bonded to the right O
    assert dog.find(moved, step=1) is None
    strict = StabilityWatchdog(start, allow_exchange=False)
    assert strict.find(moved, step=1).kind == "bond"
    lost = start.copy()
    lost.positions[2] = [0.5, 2.5, 0.0]                   # the proton leaves both oxygens
    assert dog.find(lost, step=2).kind == "bond"


class TurnsNonFinite(Calculator):
    """Springs to the start geometry; from call ``after + 1`` on, one force component is ``value``."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, reference, after, value):
        super().__init__()
        self.ref, self.after, self.value, self.calls = reference.positions.copy(), after, value, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        disp = self.atoms.positions - self.ref
        forces = -5.0 * disp
        if self.calls > self.after:
            forces[1, 2] = self.value
        self.results = {"energy": 2.5 * float((disp ** 2).sum()), "forces": forces}


@pytest.mark.parametrize("watched", [True, False], ids=["watchdog", "no-watchdog"])
@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("ensemble", ENSEMBLES)
def test_non_finite_forces_stop_every_integrator(tmp_path, water, ensemble, value, watched):
    """NaN or inf forces at step 3: the run stops there, says why, and keeps steps 0-3 on disk."""
    water.calc = TurnsNonFinite(water, after=3, value=value)
    out, log = tmp_path / "t.extxyz", tmp_path / "t.log"
    dog = StabilityWatchdog(water) if watched else None
    result = run_md(water, ensemble, temperature=300, timestep=0.5, steps=20, out=str(out), log_path=str(log),
                    log_every=1, watchdog=dog, progress=False)
    found = result.instability
    assert found is not None and found.kind == "non_finite" and found.step == 3 and result.steps == 3
    assert found.atoms == (1,) and "step 3: the model's force on atom H1 is not finite" in found.message
    assert str(value) in found.message
    frames = read(out, ":")
    assert [len(f) for f in frames] == [3] * 4 and np.isfinite(frames[-1].positions).all()
    np.testing.assert_array_equal(np.loadtxt(log)[:, 0], [0, 1, 2, 3])


def test_non_finite_positions_and_energy(water):
    assert non_finite(water, 0) is None
    water.calc = TurnsNonFinite(water, after=0, value=1.0)
    water.get_potential_energy()
    water.calc.results["energy"] = np.nan
    assert non_finite(water, 5).message == "step 5: the model's potential energy is not finite (nan)"
    water.positions[2, 0] = -np.inf
    found = StabilityWatchdog(molecule("H2O")).find(water, 6)
    assert found.kind == "non_finite" and found.atoms == (2,) and "position of atom H2" in found.message
