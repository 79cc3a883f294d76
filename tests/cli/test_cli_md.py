"""`molsym md` end to end on tiny runs."""
import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.io import read, write

from molsym.calculator import MolSymCalculator, write_committee
from molsym.cli.main import main
from molsym.md import LOG_COLUMNS, SPREAD_COLUMN
from molsym.nn.io import save_model
from molsym.nn.model import build_model


@pytest.fixture
def start(ethanol_start):
    return ethanol_start


@pytest.mark.parametrize("ensemble", ["nve", "langevin"])
def test_md_writes_trajectory_log_and_plot(tmp_path, model_file, start, ensemble, capsys):
    out = tmp_path / "run" / "traj.extxyz"
    code = main(["md", "--model", str(model_file), "--atoms", str(start), "--ensemble", ensemble,
                 "--temperature", "300", "--timestep", "0.5", "--steps", "20", "--log-every", "5",
                 "--out", str(out), "--quiet", "--max-drift", "1.0"])
    assert code == 0
    assert len(read(out, ":")) == 5
    rows = np.loadtxt(out.with_name("traj.log"))
    assert rows.shape == (5, 6) and rows[-1, 0] == 20
    assert out.with_name("traj_trace.png").read_bytes()[:4] == b"\x89PNG"
    assert "ns/day" in capsys.readouterr().out


def test_md_committee(tmp_path, model_file, start):
    out = tmp_path / "c.extxyz"
    assert main(["md", "--model", str(model_file), str(model_file), "--atoms", str(start),
                 "--steps", "4", "--log-every", "2", "--out", str(out), "--quiet", "--no-watchdog"]) == 0
    frame = read(out, -1)
    assert np.abs(frame.arrays["forces_std"]).max() == 0.0  # the same model twice: no spread
    assert frame.info["energy_std"] == 0.0 and "forces" in frame.calc.results


def test_watchdog_exit_code(tmp_path, model_file, start, capsys):
    out = tmp_path / "w.extxyz"
    code = main(["md", "--model", str(model_file), "--atoms", str(start), "--steps", "50",
                 "--out", str(out), "--quiet", "--bond-threshold", "0.0001"])
    assert code == 3
    assert "STOPPED by the watchdog" in capsys.readouterr().out and out.exists()


def test_user_errors(tmp_path, model_file, start, capsys):
    assert main(["md", "--model", str(tmp_path / "missing.pt"), "--atoms", str(start), "--steps", "1"]) == 2
    assert "missing.pt" in capsys.readouterr().err
    xe = tmp_path / "xe.xyz"
    write(xe, molecule("H2O") + molecule("H2O")[:1])
    atoms = read(xe)
    atoms.symbols[0] = "Xe"
    write(xe, atoms)
    assert main(["md", "--model", str(model_file), "--atoms", str(xe), "--steps", "1",
                 "--out", str(tmp_path / "x.extxyz"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Xe" in err and "xe.xyz" in err
    assert main(["md", "--model", str(model_file), "--atoms", str(start), "--steps", "-1"]) == 2


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["md", "--help"])
    text = capsys.readouterr().out
    for flag in ("--ensemble", "--friction", "--log-every", "--bond-threshold", "--max-drift", "--compile"):
        assert flag in text


@pytest.mark.parametrize("flag, value", [("--temperature", "-5"), ("--temperature", "nan"), ("--timestep", "0"),
                                         ("--timestep", "-0.5"), ("--friction", "-0.01"), ("--steps", "-1"),
                                         ("--tdamp", "0"), ("--skin", "-1")])
def test_an_unusable_flag_is_one_line_naming_it(tmp_path, model_file, start, flag, value, capsys):
    out = tmp_path / "t.extxyz"
    assert main(["md", "--model", str(model_file), "--atoms", str(start), flag, value, "--out", str(out),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"molsym md: error: {flag} must be ") and err.count("\n") == 1 and value in err
    assert not out.exists()


def boxed(tmp_path, cell, name="box.xyz"):
    atoms = molecule("CH3CH2OH")
    atoms.cell, atoms.pbc = cell, True
    if abs(atoms.cell.volume) > 0:
        atoms.center()
    path = tmp_path / name
    write(path, atoms)
    return path


def test_small_periodic_cell_is_one_warning_line_with_widths_and_cutoff(tmp_path, model_file, capsys):
    """A cell narrower than 2 × cutoff (4 Å here) runs, with one warning; a wide one says nothing.

    Vector a is 8.2 Å long, but the tilted b leaves only 7.78 Å between the planes a crosses.
    """
    out = tmp_path / "t.extxyz"
    args = ["--model", str(model_file), "--steps", "2", "--out", str(out), "--quiet", "--no-watchdog"]
    assert main(["md", "--atoms", str(boxed(tmp_path, [[8.2, 0, 0], [3.0, 9.0, 0], [0, 0, 8.5]])), *args]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("molsym md: warning: ") and "box.xyz" in err
    assert "2 × 4 Å = 8 Å" in err and "width a 7.78 Å;" in err  # b (9.00 Å) and c (8.50 Å) are wide enough
    assert len(read(out, ":")) == 2
    assert main(["md", "--atoms", str(boxed(tmp_path, [9.0, 9.0, 9.0], "wide.xyz")), *args]) == 0
    assert capsys.readouterr().err == ""


def test_small_cell_energies_equal_a_supercells(model_file):
    """Why a warning is enough: vesin counts every periodic image, even in a cell narrower than
    the cutoff itself, so energy, forces and stress equal those of a 3×2×2 supercell (per cell)."""
    from ase import Atoms

    from molsym.calculator import MolSymCalculator

    cell = np.array([[2.6, 0.0, 0.0], [0.5, 2.9, 0.0], [0.3, -0.4, 3.1]])  # widths 2.5-3.1 Å < 4 Å cutoff
    small = Atoms("COH", positions=np.random.default_rng(0).uniform(0, 1, (3, 3)) @ cell, cell=cell, pbc=True)
    small.calc = MolSymCalculator(model_file)
    big = small.repeat((3, 2, 2))
    big.calc = MolSymCalculator(model_file)
    assert big.get_potential_energy() == pytest.approx(12 * small.get_potential_energy(), rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(big.get_forces(), np.tile(small.get_forces(), (12, 1)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(big.get_stress(), small.get_stress(), rtol=0, atol=1e-12)
    assert np.abs(small.get_forces()).max() > 1e-6  # not trivially zero


def test_degenerate_periodic_cell_is_one_line(tmp_path, model_file, capsys):
    flat = boxed(tmp_path, [[5.0, 0, 0], [5.0, 0, 0], [0, 0, 7.0]], "flat.xyz")
    assert main(["md", "--model", str(model_file), "--atoms", str(flat), "--steps", "1", "--quiet",
                 "--out", str(tmp_path / "t.extxyz")]) == 2
    err = capsys.readouterr().err
    assert "flat.xyz" in err and "span no volume" in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def nan_model_file(tmp_path_factory):
    """A model file whose weights are all NaN: NaN energy and forces from the first step."""
    import torch

    from molsym.nn.io import save_model
    from molsym.nn.model import build_model

    model = build_model({"representation": {"name": "painn", "hidden": 8, "num_layers": 1},
                         "species": [1, 6, 8], "cutoff": 4.0, "dtype": "float64"})
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    return save_model(model, tmp_path_factory.mktemp("nan") / "nan.pt")


@pytest.mark.parametrize("watchdog", [[], ["--no-watchdog"]], ids=["watchdog", "no-watchdog"])
@pytest.mark.parametrize("ensemble", ["nve", "nvt", "berendsen", "langevin"])
def test_nan_forces_stop_with_the_watchdog_message(tmp_path, nan_model_file, start, ensemble, watchdog, capsys):
    out = tmp_path / "t.extxyz"
    code = main(["md", "--model", str(nan_model_file), "--atoms", str(start), "--ensemble", ensemble,
                 "--steps", "20", "--out", str(out), "--quiet", *watchdog])
    captured = capsys.readouterr()
    assert code == 3 and "Traceback" not in captured.err
    said = "STOPPED by the watchdog: " if not watchdog else "STOPPED: "
    assert f"{said}step 0: the model's force on atom C0 is not finite (nan)" in captured.out
    assert len(read(out, ":")) == 1 and out.with_name("t_trace.png").exists()


def test_frames_keep_no_labels_of_the_start_file(tmp_path, model_file, capsys):
    """`method=gfn2-xtb temperature=500.0` and the start file's energy/forces are not written beside
    the model's energies; each frame carries the run's step, time and temperature."""
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = molecule("CH3CH2OH")
    atoms.info.update(method="gfn2-xtb", temperature=500.0)
    atoms.calc = SinglePointCalculator(atoms, energy=-4242.0, forces=np.full((9, 3), 3.0))
    labelled = tmp_path / "labelled.extxyz"
    write(labelled, atoms)
    out = tmp_path / "t.extxyz"
    assert main(["md", "--model", str(model_file), "--atoms", str(labelled), "--steps", "4", "--log-every", "2",
                 "--out", str(out), "--quiet", "--max-drift", "1.0"]) == 0
    text = out.read_text()
    assert "gfn2-xtb" not in text and "temperature=" not in text and "-4242" not in text
    rows = np.loadtxt(out.with_name("t.log"))
    frames = read(out, ":")
    assert [f.info["step"] for f in frames] == [0, 2, 4]
    np.testing.assert_allclose([f.get_potential_energy() for f in frames], rows[:, 2], atol=1e-6)
    assert np.abs(frames[0].get_forces() - 3.0).min() > 1.0  # the model's forces, not the file's


def test_md_committee_file_logs_the_spread(tmp_path, start, capsys):
    """`--model committee.json`: the log's last column is the committee's largest per-atom force spread,
    the value MolSymCalculator reports (max_force_std) for the logged frames."""
    members = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = build_model({"representation": {"name": "painn", "hidden": 8, "num_layers": 1},
                             "species": [1, 6, 8], "cutoff": 4.0, "scale": 0.01, "dtype": "float64"})
        members.append(save_model(model, tmp_path / f"m{seed}.pt"))
    committee = write_committee(tmp_path / "committee.json", members)
    out = tmp_path / "c.extxyz"
    assert main(["md", "--model", str(committee), "--atoms", str(start), "--steps", "20", "--log-every", "5",
                 "--out", str(out), "--quiet", "--no-watchdog"]) == 0
    assert "largest force spread" in capsys.readouterr().out
    log = out.with_name("c.log")
    assert log.read_text().splitlines()[0].split()[1:] == list(LOG_COLUMNS) + [SPREAD_COLUMN]
    rows = np.loadtxt(log)
    assert rows.shape == (5, len(LOG_COLUMNS) + 1)
    calc = MolSymCalculator(committee)
    frames = read(out, ":")
    assert [f.info["step"] for f in frames] == rows[:, 0].tolist()
    for frame, row in zip(frames, rows):
        atoms = frame.copy()
        atoms.calc = calc
        atoms.get_forces()
        assert calc.results["max_force_std"] > 0
        assert row[-1] == pytest.approx(calc.results["max_force_std"], abs=2e-6)
        assert frame.info["max_force_std"] == pytest.approx(calc.results["max_force_std"], abs=1e-6)
