"""The calculator drives ASE's optimisers and integrators, with and without constraints."""
import numpy as np
import pytest
from ase import units
from ase.constraints import FixAtoms
from ase.md.langevin import Langevin
from ase.md.nose_hoover_chain import NoseHooverChainNVT
from ase.md.nvtberendsen import NVTBerendsen
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS, FIRE

from molsym.calculator import MolSymCalculator


@pytest.mark.parametrize("optimizer", [BFGS, FIRE])
def test_optimizers_lower_the_energy(model_file, acac, optimizer):
    acac.calc = MolSymCalculator(model_file)
    acac.set_constraint(FixAtoms(indices=[0, 1]))
    fixed = acac.positions[:2].copy()
    e_start = acac.get_potential_energy()
    optimizer(acac, logfile=None).run(fmax=1e-3, steps=15)
    assert acac.get_potential_energy() < e_start
    np.testing.assert_array_equal(acac.positions[:2], fixed)
    assert np.abs(acac.get_forces()[:2]).max() == 0.0  # constraint applied to forces


def _integrators():
    dt = 0.5 * units.fs
    rng = np.random.default_rng(1)
    return {
        "verlet": lambda a: VelocityVerlet(a, dt),
        "langevin": lambda a: Langevin(a, dt, temperature_K=300, friction=0.01 / units.fs, fixcm=False, rng=rng),
        "nose_hoover": lambda a: NoseHooverChainNVT(a, dt, temperature_K=300, tdamp=50 * units.fs),
        "berendsen": lambda a: NVTBerendsen(a, dt, temperature_K=300, taut=50 * units.fs),
    }


@pytest.mark.parametrize("name", list(_integrators()))
def test_integrators_run_with_constraints(model_file, acac, name):
    acac.calc = MolSymCalculator(model_file)
    acac.set_constraint(FixAtoms(indices=[5]))
    thermalize_momenta(acac, temperature_K=300, rng=np.random.default_rng(0))
    start = acac.positions.copy()
    dyn = _integrators()[name](acac)
    dyn.run(10)
    assert dyn.nsteps == 10
    assert np.isfinite(acac.get_potential_energy())
    np.testing.assert_array_equal(acac.positions[5], start[5])
    assert np.abs(acac.positions - start).max() > 1e-4  # the other atoms moved


def test_verlet_conserves_energy_over_short_run(model_file, acac):
    acac.calc = MolSymCalculator(model_file)
    thermalize_momenta(acac, temperature_K=300, rng=np.random.default_rng(0))
    dyn = VelocityVerlet(acac, 0.25 * units.fs)
    totals = []
    for _ in dyn.irun(40):
        totals.append(acac.get_potential_energy() + acac.get_kinetic_energy())
    # consistent forces: drift tiny compared with the kinetic energy (~0.5 eV)
    assert np.ptp(totals) < 5e-3
