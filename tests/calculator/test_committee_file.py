"""Committee files: MolSymCalculator takes one as its members; the largest force spread it reports;
loaders that need one model refuse it in one line."""
import json

import numpy as np
import pytest

from molsym.calculator import (MolSymCalculator, is_committee_file, load_force_field, max_force_std,
                               read_committee, write_committee)
from molsym.nn.io import ModelFileError


def test_a_committee_file_is_its_members(tmp_path, committee_files, acac):
    path = write_committee(tmp_path / "run" / "committee.json", committee_files, seeds=[1, 2, 3])
    assert is_committee_file(path) and not is_committee_file(committee_files[0])
    assert [p.resolve() for p in read_committee(path)] == [p.resolve() for p in committee_files]
    stored = json.loads(path.read_text())
    assert stored["seeds"] == [1, 2, 3] and not any(m.startswith("/") for m in stored["members"])  # relative

    acac.calc = MolSymCalculator(committee_files)
    acac.get_potential_energy()
    expected = dict(acac.calc.results)
    acac.calc = MolSymCalculator(path)
    assert len(acac.calc.models) == 3
    assert acac.get_potential_energy() == expected["energy"]
    np.testing.assert_array_equal(acac.calc.results["forces_std"], expected["forces_std"])


def test_max_force_std_is_the_largest_per_atom_spread(committee_files, acac):
    acac.calc = MolSymCalculator(committee_files)
    acac.get_forces()
    res = acac.calc.results
    forces = np.stack([MolSymCalculator(p).get_forces(acac) for p in committee_files])  # [K, n, 3]
    rms = np.sqrt(((forces - forces.mean(0)) ** 2).sum(-1).mean(0))                     # [n] eV/Å
    assert res["max_force_std"] == pytest.approx(rms.max(), rel=1e-9) and res["max_force_std"] > 0
    assert res["max_force_std"] == max_force_std(res["forces_std"])
    acac.calc = MolSymCalculator(committee_files[0])
    acac.get_forces()
    assert "max_force_std" not in acac.calc.results  # one model: no spread


def test_one_model_loaders_refuse_a_committee_file(tmp_path, committee_files):
    path = write_committee(tmp_path / "committee.json", committee_files[:2])
    with pytest.raises(ModelFileError, match=r"committee\.json: a committee of 2 models") as err:
        load_force_field(path)
    assert "\n" not in str(err.value)


def test_a_missing_member_is_named(tmp_path, committee_files):
    moved = tmp_path / "gone.pt"
    moved.write_bytes(committee_files[0].read_bytes())
    path = write_committee(tmp_path / "committee.json", [moved, committee_files[1]])
    moved.unlink()
    with pytest.raises(ModelFileError, match=r"committee\.json: member model file\(s\) not found: .*gone\.pt"):
        MolSymCalculator(path)
    path.write_text(json.dumps({"format": "molsym-committee", "format_version": 1, "members": []}))
    with pytest.raises(ModelFileError, match="non-empty list of member files"):
        MolSymCalculator(path)
