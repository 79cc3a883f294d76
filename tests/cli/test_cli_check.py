import sys
import types

import ase.io
import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.calculator import Calculator, all_changes

from molsym.cli.main import main


class Pairs(Calculator):
    """Harmonic pairs: a symmetric toy calculator."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.positions[:, None] - self.atoms.positions[None]
        self.results = {"energy": 0.05 * float((d ** 2).sum()), "forces": -0.2 * d.sum(1)}


class NaNForces(Pairs):
    """One force component is NaN."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results["forces"][0, 1] = np.nan


class NaNEnergy(Pairs):
    """The energy is NaN (forces finite)."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results["energy"] = float("nan")


@pytest.fixture
def nan_calculators(monkeypatch):
    """The calculators above, importable as ``nan_calcs:NaNForces`` and ``nan_calcs:NaNEnergy``."""
    module = types.ModuleType("nan_calcs")
    module.NaNForces, module.NaNEnergy = NaNForces, NaNEnergy
    monkeypatch.setitem(sys.modules, "nan_calcs", module)


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


@pytest.mark.parametrize("factory, output", [("NaNForces", "forces"), ("NaNEnergy", "energy")])
def test_check_non_finite_output_is_a_fail_naming_the_output(xyz, capsys, nan_calculators, factory, output):
    assert main(["check", "--calculator", f"nan_calcs:{factory}", "--atoms", xyz]) == 1
    out = capsys.readouterr().out
    assert f"{output}: non-finite values (NaN) in the model's output" in out
    assert "result: FAIL" in out and "PASS" not in out


def test_check_calculator_spec_that_builds_no_calculator_is_one_line_error(xyz, capsys):
    for spec, says in (("math:pi", "not a class or function"), ("ase.io:read", "no arguments"),
                       ("collections:OrderedDict", "did not return an ASE calculator")):
        assert main(["check", "--calculator", spec, "--atoms", xyz]) == 2
        err = capsys.readouterr().err
        assert says in err and spec in err and err.count("\n") == 1 and "Traceback" not in err


def test_check_tblite_passes_with_a_fresh_calculator_per_structure(tmp_path, capsys):
    pytest.importorskip("tblite.ase")
    water = tmp_path / "water.xyz"
    ase.io.write(water, molecule("H2O"))
    assert main(["check", "--calculator", "tblite.ase:TBLite", "--atoms", str(water)]) == 0
    assert "result: PASS" in capsys.readouterr().out
