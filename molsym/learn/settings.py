"""What ``molsym learn`` does: its settings, their checks, the default training recipe."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

__all__ = ["LearnSettings", "LearnError", "DEFAULT_CONFIG"]

#: the members' training recipe when no --config is given
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "resources" / "learn.yaml"


class LearnError(ValueError):
    """A learn run that cannot start or continue as asked (one line)."""


@dataclass
class LearnSettings:
    """What ``molsym learn`` does; units K, fs, eV/Å, minutes.

    ``parallel`` members train at once, each in its own process with an equal
    share of the torch threads (results as when trained one after another).
    ``hot_temperature`` defaults to twice ``temperature``; ``budget_frames``
    counts every labelled frame, the seed included; ``budget_minutes`` is wall
    time over all sessions of the run.
    """

    smiles: str
    out: str
    labeller: str = "gfn2-xtb"
    config: Optional[str] = None
    overrides: List[str] = field(default_factory=list)
    temperature: float = 300.0
    hot_temperature: Optional[float] = None
    committee: int = 3
    seed_frames: int = 40
    seed_stride: int = 20
    seed_equilibration: int = 400
    frames_per_iteration: int = 20
    max_iterations: int = 6
    md_runs: int = 4
    md_steps: int = 2000
    sample_every: int = 10
    min_gap: int = 100
    threshold: float = 0.15
    spread_quantile: float = 1.0
    budget_frames: Optional[int] = None
    budget_minutes: Optional[float] = None
    train_minutes: float = 1.0
    parallel: int = 1
    timestep: float = 0.5
    seed: int = 0
    test: Optional[str] = None

    @property
    def hot(self) -> float:
        return float(self.hot_temperature) if self.hot_temperature else 2.0 * float(self.temperature)

    def check(self) -> None:
        """Raise :class:`LearnError` naming the first setting out of range."""
        positive = ["temperature", "committee", "parallel", "seed_frames", "seed_stride", "frames_per_iteration",
                    "max_iterations", "md_runs", "md_steps", "sample_every", "threshold", "train_minutes",
                    "timestep"]
        for name in positive:
            if not getattr(self, name) > 0:
                raise LearnError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)!r}")
        if self.committee < 2:
            raise LearnError(f"committee must have at least 2 members (their spread is the signal), "
                             f"got {self.committee}")
        for name in ("hot_temperature", "budget_frames", "budget_minutes"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise LearnError(f"{name.replace('_', '-')} must be positive, got {value!r}")
        if not 0 < self.spread_quantile <= 1:
            raise LearnError(f"spread-quantile must be in (0, 1], got {self.spread_quantile!r}")
        if self.seed_equilibration < 0 or self.min_gap < 0 or self.seed < 0:
            raise LearnError("seed-equilibration, min-gap and seed must be 0 or more")
