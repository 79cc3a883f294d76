import ase.io
import pytest
from ase.build import molecule

from molsym.cli.main import main


@pytest.fixture
def xyz(tmp_path):
    path = tmp_path / "ethanol.xyz"
    ase.io.write(path, molecule("CH3CH2OH"))
    return str(path)


def test_check_any_ase_calculator_passes(xyz, capsys):
    assert main(["check", "--calculator", "ase.calculators.emt:EMT", "--atoms", xyz]) == 0
    out = capsys.readouterr().out
    assert "reflection" in out and "PASS" in out and "chiral" in out


def test_check_fails_with_exit_1_when_tolerance_is_impossible(xyz, capsys):
    assert main(["check", "--calculator", "ase.calculators.emt:EMT", "--atoms", xyz, "--tolerance", "1e-30"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_check_bad_factory_is_one_line_error(xyz, capsys):
    assert main(["check", "--calculator", "nonexistent.module:Calc", "--atoms", xyz]) == 2
    err = capsys.readouterr().err
    assert "cannot load calculator" in err and "Traceback" not in err


def test_check_missing_structure_names_the_file(tmp_path, capsys):
    missing = str(tmp_path / "nope.xyz")
    assert main(["check", "--calculator", "ase.calculators.emt:EMT", "--atoms", missing]) == 2
    assert "nope.xyz" in capsys.readouterr().err
