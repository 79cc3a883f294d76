"""WallClockCosineLR: cosine in the fraction of a wall-clock budget, resumable."""
import math

import pytest
import torch

from molsym.train.schedules import WallClockCosineLR


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def make(clock, budget=10.0, eta_min=0.01):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    return opt, WallClockCosineLR(opt, budget, eta_min=eta_min, clock=clock)


def test_learning_rate_follows_the_budget_fraction():
    clock = FakeClock()
    opt, sched = make(clock)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0)
    for spent, expected in ((2.5, 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi / 4))), (5.0, 0.505),
                            (10.0, 0.01), (50.0, 0.01)):
        clock.t = 100.0 + spent
        opt.step()
        sched.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(expected, abs=1e-12)


def test_resume_continues_from_the_saved_elapsed_time():
    clock = FakeClock()
    opt, sched = make(clock)
    clock.t += 4.0
    state = sched.state_dict()
    assert state["elapsed_before"] == pytest.approx(4.0) and "clock" not in state
    clock.t += 1000.0                                   # time between the runs does not count
    opt2, sched2 = make(clock)
    sched2.load_state_dict(state)
    clock.t += 1.0
    opt2.step()
    sched2.step()
    assert sched2.fraction() == pytest.approx(0.5)
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.505)


def test_bad_budget_is_refused():
    with pytest.raises(ValueError, match="budget_seconds must be > 0"):
        make(FakeClock(), budget=0.0)
