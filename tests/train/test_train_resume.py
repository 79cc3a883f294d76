"""A run killed mid-epoch and resumed from its last checkpoint ends where an
uninterrupted run with the same seed ends, bit for bit."""
import csv

import pytest
import torch

from molsym.train import train
from molsym.train.run import OutputExistsError, checkpoint_dir

from train_kill import Killed, KillAt, states as _states
from train_tiny_data import tiny_config


def test_resume_mid_epoch_matches_uninterrupted(lj_data, tmp_path):
    # 20 training frames, batch 4 → 5 steps per epoch; 3 epochs = 15 steps.
    extra = {"max_epochs": 3}
    ref = train(tiny_config(lj_data, tmp_path / "ref", **extra))
    ref_state = _states(ref["module"])

    cfg = tiny_config(lj_data, tmp_path / "killed", **extra)
    cfg["checkpoint"]["every_n_train_steps"] = 3
    with pytest.raises(Killed):
        train(cfg, extra_callbacks=[KillAt(8)])
    last = torch.load(checkpoint_dir(cfg) / "last.ckpt", weights_only=True)
    # the last checkpoint is from step 6: epoch 1, one batch in (mid-epoch)
    assert last["global_step"] == 6 and last["epoch"] == 1

    resumed = train(cfg, resume="last")
    assert resumed["trainer"].global_step == ref["trainer"].global_step == 15
    state = _states(resumed["module"])
    assert state.keys() == ref_state.keys()
    for k in ref_state:
        torch.testing.assert_close(state[k], ref_state[k], rtol=0, atol=1e-12, msg=k)

    # the resumed run continued the killed run's logs: one version, the whole history, as uninterrupted
    out = tmp_path / "killed"
    assert [p.name for p in (out / "csv").iterdir()] == ["version_0"]
    assert [p.name for p in (out / "tensorboard").iterdir()] == ["version_0"]
    assert _val_epochs(out) == _val_epochs(tmp_path / "ref") == [0, 1, 2]
    assert _train_steps(out) == _train_steps(tmp_path / "ref")


def _rows(out):
    with open(out / "csv" / "version_0" / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def _val_epochs(out):
    return [int(r["epoch"]) for r in _rows(out) if r.get("val/loss")]


def _train_steps(out):
    return sorted(int(r["step"]) for r in _rows(out) if r.get("train/loss_step"))


def test_resume_without_checkpoint_is_a_clear_error(lj_data, tmp_path):
    cfg = tiny_config(lj_data, tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="last.ckpt"):
        train(cfg, resume="last")


def test_fresh_run_refuses_an_earlier_runs_checkpoints_unless_forced(lj_data, tmp_path):
    cfg = tiny_config(lj_data, tmp_path / "run", max_epochs=1)
    train(cfg)
    folder = checkpoint_dir(cfg)
    before = {name: (folder / name).read_bytes() for name in ("last.ckpt", "best.ckpt")}

    # a second fresh run stops before training, naming the folder and both ways on; nothing is touched
    with pytest.raises(OutputExistsError) as info:
        train(cfg)
    message = str(info.value)
    assert str(folder) in message and "--resume last" in message and "--force" in message
    assert "\n" not in message
    assert {name: (folder / name).read_bytes() for name in before} == before

    # --resume continues it in the same folder
    resumed = train(dict(cfg, trainer=dict(cfg["trainer"], max_epochs=2)), resume="last")
    assert resumed["trainer"].current_epoch == 2

    # --force starts over: a new run of one epoch replaces the checkpoints
    forced = train(cfg, force=True)
    assert forced["trainer"].global_step == 5
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 1


def test_forced_run_deletes_the_old_checkpoints_before_training(lj_data, tmp_path):
    cfg = tiny_config(lj_data, tmp_path / "run", max_epochs=1)
    folder = checkpoint_dir(cfg)
    folder.mkdir(parents=True)
    (folder / "best.ckpt").write_bytes(b"an earlier run")
    with pytest.raises(OutputExistsError, match="best.ckpt.*--resume best"):
        train(cfg)
    with pytest.raises(Killed):  # killed before its first checkpoint: no stale checkpoint is left to resume
        train(cfg, force=True, extra_callbacks=[KillAt(1)])
    assert not (folder / "best.ckpt").exists() and not (folder / "last.ckpt").exists()
