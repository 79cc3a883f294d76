"""Kill a training mid-run, as a crash or ``kill -9`` would, and compare the weights of two runs."""
from typing import Optional

import lightning.pytorch as pl


class Killed(RuntimeError):
    pass


class KillAt(pl.Callback):
    """Raise after optimizer step ``step``; with ``member``, only in that committee member's run."""

    def __init__(self, step: int, member: Optional[int] = None):
        self.step, self.member = step, member

    def on_train_batch_end(self, trainer, *args):
        if self.member is not None and not trainer.default_root_dir.endswith(f"member_{self.member}"):
            return
        if trainer.global_step == self.step:
            where = "" if self.member is None else f" of member {self.member}"
            raise Killed(f"killed at step {self.step}{where}")


def states(module):
    """Copies of the trained and EMA weights of a LightningModule, by name."""
    return {k: v.clone() for k, v in module.state_dict().items() if k.startswith(("model.", "ema."))}
