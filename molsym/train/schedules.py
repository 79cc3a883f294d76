"""Learning-rate schedules that torch does not ship: cosine decay over a wall-clock budget.

Equal-time benchmarks (``scripts/bench_acac.py --minutes M``) stop training
after ``M`` minutes, not after a number of epochs, so a schedule defined in
epochs either ends early (the rest of the budget at the floor) or is cut
half-way (the learning rate never comes down). :class:`WallClockCosineLR`
decays with the fraction of the budget spent instead.
"""
from __future__ import annotations

import math
import time
from typing import Callable, List

import torch

__all__ = ["WallClockCosineLR"]


class WallClockCosineLR(torch.optim.lr_scheduler.LRScheduler):
    """``lr = eta_min + (base_lr − eta_min) · (1 + cos(π f)) / 2``, ``f`` = elapsed / budget (≤ 1).

    Step it every optimizer step (``interval: step`` in a molsym config). The
    elapsed time is saved in ``state_dict`` and restored by
    ``load_state_dict``, so a resumed run continues where the interrupted one
    was on the schedule (the time between the two runs does not count).

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    budget_seconds : float
        Wall-clock time over which the rate decays to ``eta_min``.
    eta_min : float, default 0
        Final learning rate.
    clock : callable, default ``time.monotonic``
        Seconds; injectable for tests.

    Example (config)::

        scheduler:
          class_path: molsym.train.schedules.WallClockCosineLR
          init_args: {budget_seconds: 1800, eta_min: 1.0e-4}
          interval: step
    """

    def __init__(self, optimizer: torch.optim.Optimizer, budget_seconds: float, eta_min: float = 0.0,
                 clock: Callable[[], float] = time.monotonic, last_epoch: int = -1):
        if budget_seconds <= 0:
            raise ValueError(f"budget_seconds must be > 0, got {budget_seconds}")
        self.budget_seconds = float(budget_seconds)
        self.eta_min = float(eta_min)
        self.clock = clock
        self.elapsed_before = 0.0        # seconds spent in earlier (resumed-from) runs
        self.started = clock()
        super().__init__(optimizer, last_epoch)

    def elapsed(self) -> float:
        """Seconds of budget spent so far."""
        return self.elapsed_before + self.clock() - self.started

    def fraction(self) -> float:
        """Fraction of the budget spent, in [0, 1]."""
        return min(1.0, max(0.0, self.elapsed() / self.budget_seconds))

    def get_lr(self) -> List[float]:
        c = 0.5 * (1.0 + math.cos(math.pi * self.fraction()))
        return [self.eta_min + (base - self.eta_min) * c for base in self.base_lrs]

    def state_dict(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "clock", "started")}
        state["elapsed_before"] = self.elapsed()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)
        self.started = self.clock()
