"""Labellers: registered methods or any ASE calculator; a failed frame is skipped and reported."""
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from molsym.learn import LabellerError, label_frames, labeller

from learn_tiny import EMT as EMT_SPEC


class FailsWhenClose(Calculator):
    """EMT, except that it raises for any pair closer than 0.5 Å (an SCF that does not converge)."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if np.min(atoms.get_all_distances()[np.triu_indices(len(atoms), 1)]) < 0.5:
            raise RuntimeError("SCF did not converge\nsecond line")
        ref = atoms.copy()
        ref.calc = EMT()
        self.results = {"energy": ref.get_potential_energy(), "forces": ref.get_forces()}


def _water(scale=1.0):
    return Atoms("OH2", positions=np.array([[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]) * scale)


def test_specs():
    assert labeller("gfn2-xtb").name == "gfn2-xtb"
    assert labeller("GFN2-xTB").name == "gfn2-xtb"
    emt = labeller(EMT_SPEC)
    frame = _water()
    frame.calc = emt.calculator(0, 1)
    assert np.isfinite(frame.get_potential_energy())
    with pytest.raises(LabellerError, match="not a known method"):
        labeller("dft")
    with pytest.raises(LabellerError, match="cannot import"):
        labeller("no.such.module:Calc")
    with pytest.raises(LabellerError, match="did not return an ASE calculator"):
        labeller("builtins:dict")


def test_failed_frames_are_skipped_and_reported(monkeypatch):
    import sys
    monkeypatch.setattr(sys.modules[__name__], "FailsWhenClose", FailsWhenClose, raising=False)
    method = labeller(f"{__name__}:FailsWhenClose")
    frames = [_water(), _water(0.3), _water(1.05)]
    frames[0].info["step"] = 7
    lines = []
    done, failed = label_frames(frames, method, report=lines.append)
    assert len(done) == 2 and [k for k, _ in failed] == [1]
    assert "SCF did not converge" in failed[0][1] and "second line" not in failed[0][1]
    assert len(lines) == 1 and "frame 1" in lines[0]
    ref = _water()
    ref.calc = EMT()
    assert done[0].info["energy"] == pytest.approx(ref.get_potential_energy())
    np.testing.assert_allclose(done[0].arrays["forces"], ref.get_forces())
    assert done[0].calc is None and done[0].info["step"] == 7 and done[0].info["method"] == method.name


def test_labels_that_fail_the_data_checks_are_skipped():
    frames = [_water(), _water()]
    frames[1].positions[2] = frames[1].positions[0] + [0.004, 0, 0]   # two atoms on top of each other
    done, failed = label_frames(frames, labeller(EMT_SPEC))
    assert len(done) == 1 and failed[0][0] == 1 and "apart" in failed[0][1]
