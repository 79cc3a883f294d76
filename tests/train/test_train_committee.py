"""Committees: K members that differ in seed, one committee file, the mean's errors, resume after a kill."""
import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from ase.io import read

from molsym.calculator import MolSymCalculator, load_force_field, read_committee
from molsym.data.collate import collate
from molsym.data.graph import atoms_to_frame, frame_to_graph
from molsym.train import train, train_committee
from molsym.train.committee import CommitteeMean, member_config, member_seeds
from molsym.train.config import ConfigError
from molsym.train.data import ResumableDataModule
from molsym.train.run import OutputExistsError
from molsym.train.schema import check_config

from train_kill import Killed, KillAt
from train_tiny_data import tiny_config


def _committee_config(data, out, **committee):
    cfg = tiny_config(data, out, max_epochs=1)
    cfg["committee"] = {"size": 2, **committee}
    return cfg


def _weights(path):
    return {k: v for k, v in load_force_field(path).state_dict().items() if v.is_floating_point()}


def test_members_differ_and_form_one_committee(lj_data, tmp_path):
    cfg = _committee_config(lj_data, tmp_path / "c")
    lines = []
    result = train_committee(cfg, report=lines.append)
    assert result["seeds"] == [3, 4] and [m["status"] for m in result["members"]] == ["trained", "trained"]
    assert lines[0].startswith("committee member 1/2 (seed 3")
    files = [tmp_path / "c" / f"member_{k}" / "model.pt" for k in range(2)]
    assert [p.resolve() for p in read_committee(result["committee"])] == [p.resolve() for p in files]
    for k in range(2):
        assert (tmp_path / "c" / f"member_{k}" / "checkpoints" / "last.ckpt").is_file()
    first, second = _weights(files[0]), _weights(files[1])
    assert any(not torch.equal(first[k], second[k]) for k in first)

    evaluation = result["evaluation"]
    assert evaluation["split"] == "val" and evaluation["frames"] == (4, 4)
    assert set(evaluation["metrics"]) == {"member_0", "member_1", "mean"}
    assert evaluation["metrics"]["member_0"] != evaluation["metrics"]["member_1"]

    # the mean scored in the table is the mean MolSymCalculator gives for the committee file
    atoms = read(lj_data, 0)
    atoms.calc = MolSymCalculator(result["committee"])
    mean = CommitteeMean([load_force_field(p) for p in files])
    out = mean(collate([frame_to_graph(atoms_to_frame(atoms), mean.cutoff, torch.float64)]))
    assert atoms.get_potential_energy() == pytest.approx(float(out["energy"][0]), abs=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), out["forces"].numpy(), atol=1e-10)


def test_resume_skips_finished_members_and_resumes_the_interrupted_one(lj_data, tmp_path):
    cfg = _committee_config(lj_data, tmp_path / "c", bootstrap=True)
    cfg["trainer"]["max_epochs"] = 2
    cfg["checkpoint"]["every_n_train_steps"] = 3
    with pytest.raises(Killed):
        train_committee(cfg, extra_callbacks=[KillAt(8, member=1)], final_eval_frames=0)
    finished = tmp_path / "c" / "member_0" / "model.pt"
    before = finished.read_bytes()
    assert torch.load(tmp_path / "c" / "member_1" / "checkpoints" / "last.ckpt", weights_only=True)[
        "global_step"] == 6
    assert not (tmp_path / "c" / "member_1" / "model.pt").exists()

    with pytest.raises(OutputExistsError, match=r"earlier committee .*--resume last"):
        train_committee(cfg)                        # a fresh run does not overwrite it
    with pytest.raises(ConfigError, match="--resume last"):
        train_committee(cfg, resume="best")

    result = train_committee(cfg, resume="last", final_eval_frames=0)
    assert [m["status"] for m in result["members"]] == ["finished earlier", "resumed"]
    assert finished.read_bytes() == before
    # the resumed member ends where an uninterrupted run of the same member ends (same seed, same bootstrap)
    alone = train(member_config(cfg, 1, 4) | {"output_dir": str(tmp_path / "alone")}, bootstrap=True,
                  final_eval_frames=0)
    resumed = result["members"][1]["result"]["module"].state_dict()
    for k, v in alone["module"].state_dict().items():
        if k.startswith(("model.", "ema.")):
            torch.testing.assert_close(resumed[k], v, rtol=0, atol=1e-12, msg=k)

    # --force starts the whole committee over
    result = train_committee(cfg, force=True, final_eval_frames=0)
    assert [m["status"] for m in result["members"]] == ["trained", "trained"]


def test_bootstrap_samples_are_seeded_draws_with_replacement():
    class Inner(pl.LightningDataModule):
        def train_dataloader(self):
            return torch.utils.data.DataLoader(list(range(40)), batch_size=4)

    def sample(seed):
        loader = ResumableDataModule(Inner(), seed=0, bootstrap_seed=seed).train_dataloader()
        return sorted(int(i) for batch in loader for i in batch)

    a, b = sample(1), sample(2)
    assert len(a) == 40 and len(set(a)) < 40          # drawn with replacement
    assert a == sample(1) and a != b
    whole = ResumableDataModule(Inner(), seed=0).train_dataloader()
    assert sorted(int(i) for batch in whole for i in batch) == list(range(40))


@pytest.mark.parametrize("committee, message", [
    ({"size": 1}, "at least 2 members"),
    ({"size": 3, "seeds": [1, 2]}, "committee.size is 3 but committee.seeds lists 2 seeds"),
    ({"seeds": [1, 1]}, "repeat a seed"),
    ({}, "give its size"),
])
def test_committee_settings_are_checked(tmp_path, committee, message):
    cfg = tiny_config(tmp_path / "data.xyz", tmp_path / "c")
    cfg["committee"] = committee
    with pytest.raises(ConfigError, match=message):
        check_config(cfg)


def test_committee_keys_and_identical_members(tmp_path):
    cfg = tiny_config(tmp_path / "data.xyz", tmp_path / "c")
    cfg["committee"] = {"sizes": 2}
    with pytest.raises(ConfigError, match=r"unknown config key 'committee\.sizes' \(did you mean 'size'\?\)"):
        check_config(cfg)
    cfg["committee"] = {"size": 2, "bootstrap": 1}
    with pytest.raises(ConfigError, match="is not a boolean"):
        check_config(cfg)
    cfg["committee"] = {"size": 2, "same_order": True}
    assert member_seeds(cfg) == [3, 4]
    cfg["init"] = {"model": "m.pt"}
    with pytest.raises(ConfigError, match="would all be the same model"):
        check_config(cfg)
