"""`molsym md` end to end on tiny runs."""
import numpy as np
import pytest
from ase.build import molecule
from ase.io import read, write

from molsym.cli.main import main


@pytest.fixture
def start(tmp_path):
    path = tmp_path / "start.xyz"
    write(path, molecule("CH3CH2OH"))
    return path


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
