"""Exploration: short Langevin MD runs with the committee, every sampled frame a candidate for labelling.

Run ``j`` starts from ``starts[j]`` (a labelled structure) at
``temperatures[j]``, with its own seed, a :class:`StabilityWatchdog` built
from its start and ``steps`` steps of ``timestep`` fs. Every
``sample_every``-th step is written to ``<out_dir>/md_<j>.xyz`` (with the
committee's mean energy and forces and its spread) and ``md_<j>.log``; those
frames are the :class:`~molsym.learn.select.Candidate` s, the frame where a
watchdog fired among them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

__all__ = ["explore", "RunSummary"]


@dataclass
class RunSummary:
    """One exploration run: where and how hot it ran, how far it got and its largest spread (eV/Å)."""

    run: int
    temperature: float
    steps: int
    max_spread: float
    instability: Optional[str]
    seconds: float


def explore(committee, starts: Sequence, temperatures: Sequence[float], steps: int, out_dir,
            sample_every: int = 10, timestep: float = 0.5, friction: float = 0.01, seed: int = 0,
            dtype: Optional[str] = None) -> Tuple[list, List[RunSummary]]:
    """Run one committee MD per start; return the candidates and a summary per run.

    Parameters
    ----------
    committee : committee file (or a list of model files) for
        :class:`~molsym.calculator.MolSymCalculator`
    starts : ``ase.Atoms``, one per run
    temperatures : K, one per run
    steps : MD steps per run
    out_dir : folder for ``md_<j>.xyz`` and ``md_<j>.log``
    sample_every : steps between candidate frames
    timestep : fs; ``friction`` : Langevin friction, 1/fs
    seed : run ``j`` draws its velocities and noise from ``seed + j``
    dtype : the models' dtype for the MD (default: as saved)
    """
    from ase import Atoms
    from ase.io import read

    from molsym.calculator import MolSymCalculator
    from molsym.learn.select import Candidate
    from molsym.md import StabilityWatchdog, run_md

    if len(starts) != len(temperatures):
        raise ValueError(f"{len(starts)} starts but {len(temperatures)} temperatures")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    candidates, summaries = [], []
    for j, (start, temperature) in enumerate(zip(starts, temperatures)):
        atoms = Atoms(numbers=start.numbers, positions=start.positions, cell=start.cell, pbc=start.pbc)
        atoms.calc = MolSymCalculator(committee, dtype=dtype)
        traj, log = out_dir / f"md_{j}.xyz", out_dir / f"md_{j}.log"
        t0 = time.perf_counter()
        result = run_md(atoms, ensemble="langevin", temperature=float(temperature), timestep=timestep,
                        steps=int(steps), out=str(traj), log_path=str(log), log_every=sample_every,
                        traj_every=sample_every, friction=friction, watchdog=StabilityWatchdog(atoms),
                        seed=int(seed) + j, progress=False)
        fired_at = result.instability.step if result.instability is not None else None
        spreads = []
        for frame in read(traj, ":"):
            step = int(frame.info["step"])
            if step == 0:
                continue  # the start is a labelled structure already
            spread = float(frame.info.get("max_force_std", float("nan")))
            spreads.append(spread)
            candidates.append(Candidate(run=j, step=step, spread=spread, fired=step == fired_at, atoms=frame))
        summaries.append(RunSummary(j, float(temperature), result.steps, max(spreads, default=float("nan")),
                                    None if result.instability is None else str(result.instability),
                                    time.perf_counter() - t0))
    return candidates, summaries
