"""run_md with every ensemble, its log, trajectory frames and trace plot; arguments it refuses."""
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


@pytest.mark.parametrize("name, value", [("temperature", -1.0), ("temperature", float("nan")),
                                         ("timestep", float("inf")), ("friction", -0.01), ("tdamp", 0.0),
                                         ("steps", -2), ("log_every", 0), ("traj_every", 0)])
def test_an_unusable_argument_is_named(water, model_file, name, value):
    water.calc = MolSymCalculator(model_file)
    with pytest.raises(ValueError, match=rf"^{name} must be .*, got {value}$"):
        run_md(water, "langevin", progress=False, **{"steps": 1, name: value})
    assert not water.get_momenta().any()  # refused before any velocity was drawn


def test_frames_hold_the_runs_results_not_the_start_labels(tmp_path, model_file, water):
    """The start structure's reference labels (method, temperature, energy, forces) are not copied."""
    water.info.update(method="gfn2-xtb", temperature=500.0, energy=-123.4)
    water.arrays["ref_forces"] = np.ones((3, 3))
    water.set_masses([16.0, 2.014, 1.008])  # deuterium: a custom mass is part of the run
    water.calc = MolSymCalculator(model_file)
    out = tmp_path / "t.extxyz"
    result = run_md(water, "nve", temperature=300, timestep=0.5, steps=6, out=str(out), log_every=3,
                    progress=False)
    frames = read(out, ":")
    assert [f.info["step"] for f in frames] == [0, 3, 6]
    for frame, epot, temp, t_ps in zip(frames, result.log["epot_eV"], result.log["temperature_K"],
                                       result.log["time_ps"]):
        assert set(frame.info) == {"step", "time_ps", "temperature_K"}
        assert set(frame.arrays) == {"numbers", "positions", "momenta", "masses"}
        assert frame.get_potential_energy() == pytest.approx(epot, abs=1e-6)
        assert frame.info["temperature_K"] == pytest.approx(temp, abs=0.01)
        assert frame.info["time_ps"] == pytest.approx(t_ps)
    np.testing.assert_allclose(frames[-1].get_forces(), water.get_forces(), atol=1e-7)
    np.testing.assert_allclose(frames[-1].get_momenta(), water.get_momenta(), atol=1e-7)
    np.testing.assert_allclose(frames[-1].get_masses(), [16.0, 2.014, 1.008])


def test_trace_png(tmp_path, model_file, water):
    water.calc = MolSymCalculator(model_file)
    result = run_md(water, "nve", steps=10, log_every=2, progress=False)
    png = plot_trace(result.log, tmp_path / "trace.png", len(water), title="test", instability_step=6)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert not list(tmp_path.glob("*.tmp*"))  # atomic write left nothing behind
