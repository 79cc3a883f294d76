"""run_md with every ensemble, its log, trajectory and trace plot."""
import numpy as np
import pytest
from ase.io import read

from molsym.calculator import MolSymCalculator
from molsym.md import ENSEMBLES, LOG_COLUMNS, make_dynamics, plot_trace, run_md


@pytest.mark.parametrize("ensemble", ENSEMBLES)
def test_tiny_run_every_ensemble(tmp_path, model_file, water, ensemble):
    water.calc = MolSymCalculator(model_file)
    out, log = tmp_path / "t.extxyz", tmp_path / "t.log"
    result = run_md(water, ensemble, temperature=300, timestep=0.5, steps=12, out=str(out),
                    log_path=str(log), log_every=4, progress=False)
    assert result.instability is None and result.steps == 12
    assert list(result.log) == list(LOG_COLUMNS)
    np.testing.assert_array_equal(result.log["step"], [0, 4, 8, 12])
    np.testing.assert_allclose(result.log["time_ps"], [0, 0.002, 0.004, 0.006])
    frames = read(out, ":")
    assert len(frames) == 4 and "energy" in frames[-1].calc.results
    np.testing.assert_allclose(frames[-1].positions, water.positions, atol=1e-7)
    rows = np.loadtxt(log)
    assert rows.shape == (4, len(LOG_COLUMNS))
    np.testing.assert_allclose(rows[:, 4], rows[:, 2] + rows[:, 3], atol=2e-6)  # etot = epot + ekin
    assert result.steps_per_s > 0 and result.ns_per_day == pytest.approx(
        result.steps_per_s * 0.5 * 86400 * 1e-6)


def test_initial_velocities_follow_temperature(model_file):
    from ase.build import molecule
    atoms = molecule("C6H6")
    atoms.calc = MolSymCalculator(model_file)
    temps = []
    for seed in range(8):
        run_md(atoms, "nve", temperature=400, steps=0, seed=seed, progress=False)
        temps.append(atoms.get_temperature())
        assert np.abs(atoms.get_momenta().sum(0)).max() < 1e-10  # no net momentum
    assert 250 < np.mean(temps) < 550


def test_keep_velocities_and_seed_reproducible(model_file, water):
    water.calc = MolSymCalculator(model_file)
    a, b = water.copy(), water.copy()
    a.calc = b.calc = MolSymCalculator(model_file)
    ra = run_md(a, "langevin", steps=6, seed=3, log_every=2, progress=False)
    rb = run_md(b, "langevin", steps=6, seed=3, log_every=2, progress=False)
    np.testing.assert_array_equal(ra.log["etot_eV"], rb.log["etot_eV"])
    p = a.get_momenta().copy()
    run_md(a, "nve", steps=0, velocities=False, progress=False)
    np.testing.assert_array_equal(a.get_momenta(), p)


def test_bad_arguments(water, model_file):
    water.calc = MolSymCalculator(model_file)
    with pytest.raises(ValueError, match="ensemble"):
        run_md(water, "npt", steps=1, progress=False)
    with pytest.raises(ValueError, match="timestep"):
        run_md(water, "nve", steps=1, timestep=0.0, progress=False)
    with pytest.raises(ValueError, match="ensemble"):
        make_dynamics(water, "nph", 0.5)


def test_trace_png(tmp_path, model_file, water):
    water.calc = MolSymCalculator(model_file)
    result = run_md(water, "nve", steps=10, log_every=2, progress=False)
    png = plot_trace(result.log, tmp_path / "trace.png", len(water), title="test", instability_step=6)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert not list(tmp_path.glob("*.tmp*"))  # atomic write left nothing behind
