"""Which explored frames to label: the committee's largest disagreements, spread out in time.

Each candidate is a frame of a committee MD run with its largest per-atom
force spread (``max_force_std``, eV/Å) and whether the watchdog stopped the
run there. :func:`select_frames`:

1. takes every frame where a watchdog fired (the model broke there: the
   data were thin);
2. then, in order of decreasing spread, frames whose spread is above
   ``threshold``, skipping any within ``min_gap`` MD steps of a frame already
   chosen from the same run (neighbouring frames of one run are nearly the
   same structure; labelling both teaches little more than labelling one);
3. stops at ``n`` frames (the watchdog frames first, when there are more
   than ``n`` of them).

:func:`converged` is the loop's stopping rule: no watchdog fired and every
frame's spread (or a quantile of them, ``--spread-quantile``) is below ``threshold``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Sequence

import numpy as np

__all__ = ["Candidate", "select_frames", "converged", "sane_watchdog_frames", "BROKEN_DISTANCE"]

#: Å: a watchdog frame with two atoms closer than this is past saving; the frame before it is labelled
BROKEN_DISTANCE = 0.5


@dataclass
class Candidate:
    """One explored frame: its MD run, step, committee force spread (eV/Å) and watchdog verdict."""

    run: int
    step: int
    spread: float
    fired: bool = False
    atoms: Any = None


def select_frames(candidates: Sequence[Candidate], n: int, min_gap: int, threshold: float = 0.0) -> List[Candidate]:
    """At most ``n`` candidates to label (see the module docstring), watchdog frames first."""
    if n <= 0:
        return []
    fired = [c for c in candidates if c.fired][:n]
    chosen = list(fired)
    rest = sorted((c for c in candidates if not c.fired and c.spread > threshold),
                  key=lambda c: (-c.spread, c.run, c.step))
    for c in rest:
        if len(chosen) >= n:
            break
        if any(s.run == c.run and abs(s.step - c.step) < min_gap for s in chosen):
            continue
        chosen.append(c)
    return chosen


def sane_watchdog_frames(candidates: Sequence[Candidate], min_distance: float = BROKEN_DISTANCE
                         ) -> List[Candidate]:
    """The candidates with each broken watchdog frame's verdict moved to the frame sampled before it.

    A watchdog fires once atoms have collapsed or flown apart; that structure
    (atoms 0.004 Å apart, NaN positions) teaches nothing and fails the data
    checks. When a fired frame has non-finite positions or a pair closer than
    ``min_distance`` Å, the latest earlier frame of the same run counts as the
    watchdog frame instead (the last structure before the break).
    """

    out = [Candidate(c.run, c.step, c.spread, c.fired, c.atoms) for c in candidates]
    for k, c in enumerate(out):
        if not c.fired or c.atoms is None or _sane(c.atoms, min_distance):
            continue
        c.fired = False
        earlier = [e for e in out[:k] if e.run == c.run and e.step < c.step]
        if earlier:
            max(earlier, key=lambda e: e.step).fired = True
    return out


def _sane(atoms, min_distance: float) -> bool:
    import numpy as np

    pos = np.asarray(atoms.positions)
    if not np.isfinite(pos).all():
        return False
    if len(pos) < 2:
        return True
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)[np.triu_indices(len(pos), 1)]
    return bool(d.min() >= min_distance)


def converged(candidates: Sequence[Candidate], threshold: float, quantile: float = 1.0) -> bool:
    """True when no watchdog fired and the ``quantile`` of the candidates' spreads is below ``threshold`` (eV/Å).

    ``quantile`` 1 (the default) is the largest spread; 0.99 lets the rarest 1 % of frames (single
    outliers of the hot runs) exceed the threshold.
    """
    if not candidates or any(c.fired for c in candidates):
        return False
    return float(np.quantile([c.spread for c in candidates], quantile)) < threshold
