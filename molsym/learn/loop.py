"""The active-learning loop of ``molsym learn``: seed → (train committee → explore → select → label)*.

Everything lives in one folder ``out``::

    seed.xyz, seed_isolated_atoms.xyz   seed MD with the labeller, lone-atom energies (E0s)
    iter_<i>/train.xyz                  the labelled frames iteration i trained on
    iter_<i>/member_<k>/                each committee member's training run and model.pt
    iter_<i>/committee.json             the iteration's committee
    iter_<i>/md_<j>.xyz, md_<j>.log     its exploration runs (mean forces and spread per frame)
    iter_<i>/labelled.xyz               the frames it selected, labelled
    data.xyz, data_isolated_atoms.xyz   every labelled frame (extxyz), for training elsewhere
    committee.json, model.pt            the final committee and its member 0 alone
    learning.png, learn.log, state.json the figures, the log, the loop's state

Iteration ``i`` trains ``K`` members on the seed and every frame labelled so
far (member ``k`` of iteration ``i > 0`` fine-tunes member ``k`` of
iteration ``i - 1``, :mod:`molsym.train.finetune`), runs ``md_runs``
Langevin runs with the committee, alternately at ``temperature`` and
``hot_temperature``, and stops when the committee agrees everywhere
(:func:`molsym.learn.select.converged`), when a budget is spent or at
``max_iterations``; otherwise it labels the frames of
:func:`~molsym.learn.select.select_frames` and goes on.

Resuming
--------
``state.json`` is rewritten (atomically) after each completed iteration.
After a kill, :func:`learn` with ``resume=True`` continues at the first
incomplete iteration: members with a ``model.pt`` are kept, an interrupted
member resumes from its ``last.ckpt``, exploration runs again (same seeds).
A new run into a folder that holds an earlier one stops
(:class:`LearnError`) unless ``force``, which deletes the earlier run's files
(only the names above).
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from molsym.files import atomic_write_text

from molsym.learn.members import train_members
from molsym.learn.settings import DEFAULT_CONFIG, LearnError, LearnSettings

__all__ = ["LearnSettings", "LearnError", "learn", "read_state", "force_rmse", "read_test_set", "DEFAULT_CONFIG",
           "STATE_FILE"]

STATE_FILE = "state.json"
STATE_FORMAT = "molsym-learn"
_OWN_FILES = ("seed.xyz", "seed_isolated_atoms.xyz", "data.xyz", "data_isolated_atoms.xyz", "committee.json",
              "model.pt", "learning.png", "learn.log", STATE_FILE)


def read_state(out) -> Optional[Dict[str, Any]]:
    """The loop state saved in ``out`` (None when there is none); :class:`LearnError` when unreadable."""
    path = Path(out) / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise LearnError(f"{path}: cannot read the learn state ({err})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise LearnError(f"{path}: not a molsym learn state file")
    return state


def _earlier_files(out: Path) -> List[Path]:
    return [out / n for n in _OWN_FILES if (out / n).exists()] + sorted(out.glob("iter_[0-9][0-9][0-9]"))


class _Log:
    """Lines to the report callback and to ``learn.log`` (appended, flushed per line)."""

    def __init__(self, path: Path, report: Optional[Callable[[str], None]]):
        self.path, self.report = path, report

    def __call__(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with open(self.path, "a") as fh:
            fh.write(f"{stamp} {line}\n")
        if self.report is not None:
            self.report(line)


def learn(settings: LearnSettings, resume: bool = False, force: bool = False,
          report: Optional[Callable[[str], None]] = None, extra_callbacks=()) -> Dict[str, Any]:
    """Run (or continue) the loop described in the module docstring; return the final state.

    Parameters
    ----------
    settings : LearnSettings
        For ``resume``, the budgets, ``max_iterations``, ``threshold``, ``spread_quantile``
        given here (not None) replace the saved ones; the rest is the saved
        run's. A run that stopped on a budget or at ``max_iterations``
        continues when the new values allow it (its last iteration explores
        again with the kept members).
    resume : continue the run saved in ``settings.out``
    force : delete an earlier run's files in ``settings.out`` first
    report : called with each progress line (the CLI prints them)
    extra_callbacks : Lightning callbacks for every member's training (tests)

    Returns
    -------
    dict
        The state (``iterations``: one record per iteration, ``stopped``:
        why the loop ended, ``committee``, ``model``, ``data``, ``plot``).
    """
    from molsym.learn.label import labeller

    out = Path(settings.out)
    state = read_state(out)
    if resume:
        if state is None:
            raise LearnError(f"{out}: no earlier learn run to resume ({STATE_FILE} not found)")
        saved = LearnSettings(**{f.name: state["settings"][f.name] for f in fields(LearnSettings)
                                 if f.name in state["settings"]})
        for name in ("budget_frames", "budget_minutes", "max_iterations", "threshold", "spread_quantile", "parallel"):
            if getattr(settings, name) is not None:
                setattr(saved, name, getattr(settings, name))
        saved.out = str(out)
        settings = saved
    else:
        earlier = _earlier_files(out) if out.is_dir() else []
        if earlier and not force:
            raise LearnError(f"{out} holds an earlier learn run ({earlier[0].name}); --resume continues it, "
                             "--force deletes it and starts over")
        for path in earlier:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        state = None
    settings.check()
    method = labeller(settings.labeller)
    out.mkdir(parents=True, exist_ok=True)
    say = _Log(out / "learn.log", report)
    popped = None
    if state is None:
        state = {"format": STATE_FORMAT, "version": 1, "settings": asdict(settings), "elapsed_s": 0.0,
                 "iterations": [], "stopped": None}
    else:
        state["settings"] = asdict(settings)
        if state.get("stopped") == "converged":
            say(f"{out}: this run converged earlier; nothing to do")
            return state
        state["stopped"] = None
        if state["iterations"] and state["iterations"][-1].get("stop"):
            # it stopped on a budget: that iteration's members are kept, its exploration runs again
            # and the (new) budgets decide whether it labels and goes on
            popped = state["iterations"].pop()
        say(f"resuming {out} after {len(state['iterations'])} completed iterations")
    clock = _Clock(state)
    test = read_test_set(settings.test) if settings.test else None

    if "seed" not in state:
        state["seed"] = _seed(settings, method, out, say)
        state["elapsed_s"] = clock.elapsed()
        _save(out, state)
    seed_frames = _read(out / "seed.xyz")
    charge, mult = state["seed"]["charge"], state["seed"]["multiplicity"]
    while True:
        i = len(state["iterations"])
        stop = _budget_stop(settings, clock.elapsed(), i)
        if stop:
            if popped is not None and popped["iteration"] == i:  # nothing new: the stopped iteration stays
                state["iterations"].append({**popped, "stop": stop})
            state["stopped"] = stop
            say(f"stopping before iteration {i}: {stop}")
            break
        it_dir = out / f"iter_{i:03d}"
        train_frames = seed_frames + [f for k in range(i) for f in _read(out / f"iter_{k:03d}" / "labelled.xyz")]
        record: Dict[str, Any] = {"iteration": i, "train_frames": len(train_frames)}
        t0 = time.perf_counter()
        committee = train_members(settings, it_dir, train_frames, out / "seed_isolated_atoms.xyz", i, say,
                                  extra_callbacks)
        record["train_s"] = time.perf_counter() - t0
        if test is not None:
            record["test_force_rmse"] = force_rmse(committee, test)
            say(f"iteration {i}: committee force RMSE on the test set {1e3 * record['test_force_rmse']:.1f} meV/Å")

        t0 = time.perf_counter()
        candidates, runs = _explore(settings, committee, train_frames, it_dir, i)
        record["explore_s"] = time.perf_counter() - t0
        spreads = np.array([c.spread for c in candidates if np.isfinite(c.spread)])
        quantile = settings.spread_quantile
        record.update(runs=[asdict(r) for r in runs], fired=sum(c.fired for c in candidates),
                      max_spread=float(spreads.max()) if len(spreads) else None,
                      mean_spread=float(spreads.mean()) if len(spreads) else None,
                      quantile_spread=float(np.quantile(spreads, quantile)) if len(spreads) else None)
        of = "" if quantile == 1.0 else f", its {100 * quantile:g} % quantile {_fmt(record['quantile_spread'])}"
        say(f"iteration {i}: {len(runs)} MD runs, {sum(r.steps for r in runs)} steps, largest force spread "
            f"{_fmt(record['max_spread'])} eV/Å{of} (threshold {settings.threshold:g}), "
            f"watchdog fired in {sum(r.instability is not None for r in runs)} of {len(runs)} runs")
        stop = _converged_or_spent(settings, candidates, clock.elapsed(), i, len(train_frames))
        if stop:
            record["stop"] = stop
            state["iterations"].append(record)
            state["stopped"] = stop
            state["elapsed_s"] = clock.elapsed()
            _save(out, state)
            say(f"stopping after iteration {i}: {stop}")
            break

        t0 = time.perf_counter()
        n = settings.frames_per_iteration
        if settings.budget_frames is not None:
            n = min(n, settings.budget_frames - len(train_frames))
        chosen = _select(candidates, n, settings)
        labelled, kept = _label(chosen, method, charge, mult, it_dir, i, say)
        record["label_s"] = time.perf_counter() - t0
        record.update(selected=len(chosen), labelled=len(labelled), failed=len(chosen) - len(labelled),
                      new_force_rmse=_new_frame_error(kept, labelled),
                      new_spread=float(np.mean([c.spread for c in chosen])) if chosen else None)
        say(f"iteration {i}: labelled {len(labelled)} of {len(chosen)} selected frames "
            f"({record['fired']} where the watchdog fired); committee force RMSE on them "
            f"{_fmt(record['new_force_rmse'], 1e3)} meV/Å")
        state["iterations"].append(record)
        state["elapsed_s"] = clock.elapsed()
        _save(out, state)
    return _finish(out, state, seed_frames, say)


# ------------------------------------------------------------------ stages
def _seed(settings: LearnSettings, method, out: Path, say) -> Dict[str, Any]:
    from molsym.data.generate import generate_dataset

    say(f"seed: {settings.seed_frames} frames of {method.name} Langevin MD of {settings.smiles} "
        f"at {settings.temperature:g} K")
    result = generate_dataset(settings.smiles, out / "seed.xyz", method=method, temperature=settings.temperature,
                              frames=settings.seed_frames, seed=settings.seed, timestep_fs=settings.timestep,
                              stride=settings.seed_stride, equilibration_steps=settings.seed_equilibration,
                              progress=False)
    first = _read(result.path)[0]
    say(f"seed: {result.frames} frames in {result.seconds:.1f} s")
    return {"frames": result.frames, "seconds": result.seconds, "charge": int(first.info.get("charge", 0)),
            "multiplicity": int(first.info.get("multiplicity", 1))}


def _explore(settings: LearnSettings, committee: Path, frames: list, it_dir: Path, i: int):
    from molsym.learn.explore import explore

    rng = np.random.default_rng([settings.seed, i])
    starts = [frames[int(j)] for j in rng.integers(0, len(frames), settings.md_runs)]
    temperatures = [settings.temperature if j % 2 == 0 else settings.hot for j in range(settings.md_runs)]
    return explore(committee, starts, temperatures, settings.md_steps, it_dir, sample_every=settings.sample_every,
                   timestep=settings.timestep, seed=int(settings.seed) + 1000 * i)


def _select(candidates, n: int, settings: LearnSettings):
    from molsym.learn.select import select_frames, sane_watchdog_frames
    return select_frames(sane_watchdog_frames(candidates), n, settings.min_gap, settings.threshold)


def _label(chosen, method, charge: int, mult: int, it_dir: Path, i: int, say):
    """Label the chosen frames into ``<it_dir>/labelled.xyz``; returns the labelled frames and their
    candidates (those whose labelling failed left out)."""
    from molsym.learn.label import label_frames

    labelled, failed = label_frames([c.atoms for c in chosen], method, charge, mult,
                                    report=lambda line: say(f"iteration {i}: {line}"))
    bad = {k for k, _ in failed}
    kept = [c for k, c in enumerate(chosen) if k not in bad]
    for frame, c in zip(labelled, kept):
        frame.info.update(config_type="learn", iteration=i, md_run=c.run, md_step=c.step, watchdog=bool(c.fired))
    _write(it_dir / "labelled.xyz", labelled)
    return labelled, kept


def _new_frame_error(kept, labelled) -> Optional[float]:
    """RMS over atoms and axes of committee-mean minus label forces on the newly labelled frames (eV/Å)."""
    diffs = [np.asarray(c.atoms.get_forces()) - f.arrays["forces"] for c, f in zip(kept, labelled)
             if c.atoms.calc is not None and np.isfinite(c.atoms.get_forces()).all()]
    return float(np.sqrt(np.mean(np.concatenate(diffs) ** 2))) if diffs else None


def force_rmse(model, frames: list) -> float:
    """Force RMSE (eV/Å) of ``model`` (a model or committee file, float64) on labelled ``frames``."""
    from molsym.calculator import MolSymCalculator

    calc = MolSymCalculator(model, dtype="float64")
    diffs = []
    for frame in frames:
        atoms = frame.copy()
        atoms.calc = calc
        diffs.append(atoms.get_forces() - frame.arrays["forces"])
    return float(np.sqrt(np.mean(np.concatenate(diffs) ** 2)))


# ------------------------------------------------------------------ stopping rules
def _budget_stop(settings: LearnSettings, elapsed: float, i: int) -> Optional[str]:
    """Why no iteration ``i`` may start (iterations or minutes spent), or None."""
    if i >= settings.max_iterations:
        return f"max iterations ({settings.max_iterations}) reached"
    if settings.budget_minutes is not None and elapsed >= 60 * settings.budget_minutes:
        return f"time budget ({settings.budget_minutes:g} min) spent"
    return None


def _converged_or_spent(settings: LearnSettings, candidates, elapsed: float, i: int,
                        n_frames: int) -> Optional[str]:
    """Why iteration ``i`` labels nothing and the loop ends after it (converged or a budget), or None."""
    from molsym.learn.select import converged

    if converged(candidates, settings.threshold, settings.spread_quantile):
        return "converged"
    if settings.budget_frames is not None and n_frames >= settings.budget_frames:
        return f"frame budget ({settings.budget_frames}) spent"
    return _budget_stop(settings, elapsed, i + 1)


# ------------------------------------------------------------------ end of the run
def _finish(out: Path, state, seed_frames: list, say) -> Dict[str, Any]:
    from molsym.calculator.committee import read_committee, write_committee
    from molsym.learn.plots import plot_learning

    done = [r for r in state["iterations"] if (out / f"iter_{r['iteration']:03d}" / "committee.json").is_file()]
    frames = seed_frames + [f for r in state["iterations"]
                            for f in _read(out / f"iter_{r['iteration']:03d}" / "labelled.xyz")]
    _write(out / "data.xyz", frames)
    shutil.copyfile(out / "seed_isolated_atoms.xyz", out / "data_isolated_atoms.xyz")
    state["data"] = str(out / "data.xyz")
    if done:
        last = out / f"iter_{done[-1]['iteration']:03d}" / "committee.json"
        members = read_committee(last)
        state["committee"] = str(write_committee(out / "committee.json", members,
                                                 extra={"iteration": done[-1]["iteration"]}))
        shutil.copyfile(members[0], out / "model.pt")
        state["model"] = str(out / "model.pt")
    if state["iterations"]:
        state["plot"] = str(plot_learning(state, out / "learning.png"))
    _save(out, state)
    say(f"done ({state['stopped']}): {len(frames)} labelled frames in {out / 'data.xyz'}, "
        f"committee {state.get('committee')}, {state['elapsed_s'] / 60:.1f} min in all")
    return state


# ------------------------------------------------------------------ files
class _Clock:
    """Wall time of the run: what earlier sessions spent plus this one's."""

    def __init__(self, state):
        self.before, self.start = float(state.get("elapsed_s", 0.0)), time.perf_counter()

    def elapsed(self) -> float:
        return self.before + time.perf_counter() - self.start


def _save(out: Path, state) -> None:
    atomic_write_text(out / STATE_FILE, json.dumps(state, indent=1, default=float) + "\n")


def _read(path: Path) -> list:
    from ase.io import read
    return read(path, ":") if path.is_file() and path.stat().st_size else []


def _write(path: Path, frames: Sequence) -> None:
    from molsym.data.generate import _write_extxyz_atomic
    _write_extxyz_atomic(path, list(frames))


def read_test_set(path) -> list:
    """Labelled frames for :func:`force_rmse`: forces in ``arrays`` (DataError naming the frame without)."""
    from molsym.data.errors import DataError

    if not Path(path).is_file():
        raise FileNotFoundError(f"test set not found: {path}")
    frames = _read(Path(path))
    for k, frame in enumerate(frames):
        if "forces" not in frame.arrays:
            try:
                frame.arrays["forces"] = frame.get_forces()
            except Exception:  # noqa: BLE001 - no forces in any form
                raise DataError(str(path), k, "the test set needs forces") from None
    return frames


def _fmt(value, scale: float = 1.0) -> str:
    return "n/a" if value is None else f"{scale * value:.3g}"
