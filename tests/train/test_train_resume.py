"""A run killed mid-epoch and resumed from its last checkpoint ends where an
uninterrupted run with the same seed ends, bit for bit."""
import lightning.pytorch as pl
import pytest
import torch

from molsym.train import train
from molsym.train.run import checkpoint_dir

from train_tiny_data import tiny_config


class Killed(RuntimeError):
    pass


class KillAt(pl.Callback):
    """Raise after optimizer step ``step`` — as if the process were killed."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            raise Killed(f"killed at step {self.step}")


def _states(module):
    return {k: v.clone() for k, v in module.state_dict().items() if k.startswith(("model.", "ema."))}


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


def test_resume_without_checkpoint_is_a_clear_error(lj_data, tmp_path):
    cfg = tiny_config(lj_data, tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="last.ckpt"):
        train(cfg, resume="last")
