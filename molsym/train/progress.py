"""Progress for logs: one plain line every N steps and at every validation, instead of a redrawn bar.

A progress bar redraws itself a few times per second; piped to a file (nohup,
a cluster job) that is hundreds of kilobytes per minute. When standard output
is not a terminal, ``molsym train`` replaces the bar with :class:`LogProgress`:
a line with the epoch, step, training loss, steps per second and the time
left (from ``max_epochs``/``max_steps``/``max_time``, whichever ends first),
and one line with the validation figures after every validation.
"""
from __future__ import annotations

import sys
import time
from typing import Optional

import lightning.pytorch as pl

__all__ = ["LogProgress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``1h02m``, ``4m05s`` or ``12s``."""
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class LogProgress(pl.Callback):
    """Print a progress line every ``every_n_steps`` training steps and after every validation.

    Parameters
    ----------
    every_n_steps : int
        Steps between training lines.
    stream : file, optional
        Where to print (default ``sys.stdout``, flushed at every line).
    """

    def __init__(self, every_n_steps: int = 100, stream=None):
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every = int(every_n_steps)
        self.stream = stream
        self._start: Optional[float] = None
        self._start_step = 0

    def _print(self, text: str) -> None:
        stream = self.stream or sys.stdout
        print(text, file=stream, flush=True)

    def on_train_start(self, trainer, module) -> None:
        self._start, self._start_step = time.perf_counter(), trainer.global_step

    def _left(self, trainer, rate: float) -> str:
        """Time left at ``rate`` steps/s, or '?' when no limit is known."""
        limits = []
        steps_per_epoch = trainer.num_training_batches
        if trainer.max_steps and trainer.max_steps > 0:
            limits.append((trainer.max_steps - trainer.global_step) / rate)
        if trainer.max_epochs and trainer.max_epochs > 0 and steps_per_epoch not in (None, float("inf")):
            done = trainer.current_epoch * steps_per_epoch + trainer.fit_loop.epoch_loop.batch_progress.current.ready
            limits.append((trainer.max_epochs * steps_per_epoch - done) / rate)
        timer = next((c for c in trainer.callbacks if type(c).__name__ == "Timer"), None)
        if timer is not None and timer.time_remaining("train") is not None:
            limits.append(timer.time_remaining("train"))
        return format_duration(min(limits)) if limits else "?"

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step == 0 or step % self.every:
            return
        elapsed = time.perf_counter() - self._start
        rate = (step - self._start_step) / max(elapsed, 1e-9)
        loss = trainer.callback_metrics.get("train/loss_step", trainer.callback_metrics.get("train/loss"))
        loss_text = f"loss {float(loss):.4g}  " if loss is not None else ""
        self._print(f"epoch {trainer.current_epoch}  step {step}  {loss_text}{rate:.2f} steps/s  "
                    f"elapsed {format_duration(elapsed)}  left {self._left(trainer, max(rate, 1e-9))}")

    def on_validation_end(self, trainer, module) -> None:
        if trainer.sanity_checking:
            return
        shown = {k: float(v) for k, v in trainer.callback_metrics.items()
                 if k.startswith("val/") and getattr(v, "numel", lambda: 1)() == 1}
        keys = sorted(shown, key=lambda k: (k != "val/loss", k))[:8]
        text = "  ".join(f"{k[4:]} {shown[k]:.4g}" for k in keys)
        self._print(f"epoch {trainer.current_epoch}  step {trainer.global_step}  validation: {text}")
