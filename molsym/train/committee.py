"""Committees: one config trains K force fields that differ in their seed, exported as one committee.

A force-field config with a ``committee`` section (or ``molsym train
--committee K``) trains its members one after another::

    committee:
      size: 4             # K members (or give the seeds)
      seeds: [0, 1, 2, 3] # default: seed, seed + 1, ..., seed + K - 1
      bootstrap: false    # true: each member trains on its own bootstrap sample of the training split
      same_order: false   # true: every member sees the batches in the order of the config's seed

Member ``k`` is a complete run in ``<output_dir>/member_<k>/`` (checkpoints,
logs, learning curve, its exported ``model.pt``) with the config's settings
and ``seed: seeds[k]``, which draws its initial weights and, unless
``same_order``, the order of its batches. The data split and the training
statistics (E0s, scale, shift) are the config's, shared by all members
(with ``bootstrap`` too). ``<output_dir>/committee.json``
(:func:`molsym.calculator.committee.write_committee`) lists the members'
model files; ``MolSymCalculator`` and ``molsym md --model`` take it.

Resuming
--------
``train_committee(cfg, resume="last")`` skips the members whose
``model.pt`` exists (finished), resumes a member that has a
``checkpoints/last.ckpt`` from it and starts the others. A fresh run into an
``output_dir`` holding members' checkpoints or model files stops before
training (:class:`~molsym.train.run.OutputExistsError`) unless ``force``,
which deletes them all first.

Example
-------
>>> result = train_committee(load_config("configs/acac.yaml", settings={"committee.size": 3}))  # doctest: +SKIP
>>> MolSymCalculator(result["committee"])  # doctest: +SKIP
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from molsym.train.config import ConfigError
from molsym.train.run import (FINAL_EVAL_FRAMES, RUN_CHECKPOINTS, build_datamodule, clear_or_refuse,
                              checkpoint_dir, train)

__all__ = ["train_committee", "member_seeds", "member_config", "member_dir", "check_committee_output",
           "evaluate_committee", "CommitteeMean", "COMMITTEE_KEYS", "COMMITTEE_FILE"]

#: keys of a config's ``committee`` section
COMMITTEE_KEYS = ("size", "seeds", "bootstrap", "same_order")
#: the committee file in ``<output_dir>``
COMMITTEE_FILE = "committee.json"
#: each member's exported model, in its folder
MEMBER_MODEL = "model.pt"


def member_seeds(cfg: Dict[str, Any]) -> List[int]:
    """The members' seeds of a config with a ``committee`` section.

    Raises :class:`ConfigError` (one line naming the key) for fewer than two
    members, a size that disagrees with the seeds, repeated seeds, and a
    committee whose members would all be the same model (``init`` with
    ``same_order: true`` and no ``bootstrap``).
    """
    node = cfg.get("committee") or {}
    size, seeds = node.get("size"), node.get("seeds")
    if seeds is None:
        if size is None:
            raise ConfigError("committee: give its size (committee.size: K) or its members' seeds "
                              "(committee.seeds: [...])")
        base = int(cfg.get("seed", 0))
        seeds = [base + k for k in range(int(size))]
    seeds = [int(s) for s in seeds]
    if size is not None and int(size) != len(seeds):
        raise ConfigError(f"committee.size is {size} but committee.seeds lists {len(seeds)} seeds")
    if len(seeds) < 2:
        raise ConfigError(f"a committee needs at least 2 members, got {len(seeds)} (committee.size)")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"committee.seeds {seeds} repeat a seed: members with the same seed are the same model")
    if cfg.get("init") and node.get("same_order") and not node.get("bootstrap"):
        raise ConfigError("committee: every member starts from init.model's weights, and with same_order: true "
                          "and bootstrap: false they would all be the same model; drop same_order or set "
                          "bootstrap: true")
    return seeds


def member_dir(cfg: Dict[str, Any], k: int) -> Path:
    """``<output_dir>/member_<k>``: member ``k``'s run."""
    return Path(cfg.get("output_dir", "outputs/run")) / f"member_{k}"


def member_config(cfg: Dict[str, Any], k: int, seed: int) -> Dict[str, Any]:
    """Member ``k``'s run config: ``cfg`` without its committee section, ``seed`` and the member's folder."""
    out = copy.deepcopy(cfg)
    out.pop("committee", None)
    out["seed"] = int(seed)
    out["output_dir"] = str(member_dir(cfg, k))
    return out


def _member_files(cfg: Dict[str, Any], k: int) -> List[Path]:
    folder = member_dir(cfg, k)
    return [folder / "checkpoints" / name for name in RUN_CHECKPOINTS] + [folder / MEMBER_MODEL]


def check_committee_output(cfg: Dict[str, Any], size: int, resume: Optional[str], force: bool) -> None:
    """A fresh committee stops before an earlier one's members (or, with ``force``, deletes them);
    a resumed one must resume ``last``."""
    out = Path(cfg.get("output_dir", "outputs/run"))
    if resume is not None:
        if resume != "last":
            raise ConfigError(f"a committee resumes with --resume last (each member from its own last "
                              f"checkpoint; finished members are kept), not {resume!r}")
        return
    found = [p for k in range(size) for p in _member_files(cfg, k) if p.is_file()]
    if (out / COMMITTEE_FILE).is_file():
        found.append(out / COMMITTEE_FILE)
    shown = ", ".join(str(p.relative_to(out)) for p in found[:3]) + (", ..." if len(found) > 3 else "")
    clear_or_refuse(found, force, lambda: (
        f"{out} already holds an earlier committee ({shown}): pass --resume last to "
        "continue it (finished members are kept), or --force to delete it and start over"))


class CommitteeMean(torch.nn.Module):
    """The mean prediction of force fields that share one cutoff: a committee as one model on batches.

    ``forward(batch, compute_forces, compute_stress)`` returns the members'
    mean of every output (energy [B] eV, node_energy [N] eV, forces [N, 3]
    eV/Å, stress [B, 3, 3] eV/Å³): what ``MolSymCalculator`` gives for the
    committee, so :func:`molsym.train.evaluate.predict` can score it.
    """

    def __init__(self, models: Sequence[torch.nn.Module]):
        super().__init__()
        cutoffs = sorted({float(m.cutoff) for m in models})
        if len(cutoffs) != 1:
            raise ValueError(f"CommitteeMean needs members with one cutoff, got {cutoffs} Å")
        self.members = torch.nn.ModuleList(models)
        self.cutoff = cutoffs[0]
        self.species = list(models[0].species)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.members[0].parameters()).dtype

    def forward(self, batch: Dict[str, torch.Tensor], compute_forces: bool = True,
                compute_stress: bool = False) -> Dict[str, torch.Tensor]:
        outs = [m(batch, compute_forces=compute_forces, compute_stress=compute_stress) for m in self.members]
        return {key: torch.stack([o[key].detach() for o in outs]).mean(dim=0) for key in outs[0]}


def evaluate_committee(model_files: Sequence[Path], dm, max_frames: Optional[int] = FINAL_EVAL_FRAMES,
                       batch_size: int = 16) -> Dict[str, Any]:
    """Each member's and the committee mean's errors on the validation split (the training split without one).

    Returns ``{"split", "frames": (evaluated, in the split), "metrics": {"member_<k>": {...}, ...,
    "mean": {...}}}`` (metrics of :func:`molsym.train.evaluate.predict`: meV, meV/Å).
    """
    from molsym.calculator.loading import load_force_field
    from molsym.train.evaluate import predict

    split = "val"
    frames, total = dm.split_frames(split, max_frames)
    if not frames:
        split = "train"
        frames, total = dm.split_frames(split, max_frames)
    models = [load_force_field(path) for path in model_files]
    metrics = {f"member_{k}": predict(m, frames, batch_size=batch_size, progress=False)["metrics"]
               for k, m in enumerate(models)}
    metrics["mean"] = predict(CommitteeMean(models), frames, batch_size=batch_size, progress=False)["metrics"]
    return {"split": split, "frames": (len(frames), total), "metrics": metrics}


def train_committee(cfg: Dict[str, Any], resume: Optional[str] = None, force: bool = False,
                    final_eval_frames: Optional[int] = FINAL_EVAL_FRAMES, extra_callbacks=(),
                    report: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Train the members of ``cfg``'s committee one after another, export them and write the committee file.

    Parameters
    ----------
    cfg : dict
        A resolved force-field config with a ``committee`` section.
    resume : str, optional
        ``"last"``: skip finished members, resume the interrupted one from
        its ``last.ckpt`` (see the module docstring).
    force : bool
        Delete an earlier committee's member checkpoints, model files and
        committee file first.
    final_eval_frames : int, optional
        Evaluate every member and the committee mean on the first this many
        validation frames (:func:`evaluate_committee`); ``None``: all; 0: skip.
    extra_callbacks : sequence
        Lightning callbacks given to every member's Trainer (tests).
    report : callable, optional
        Called with one line before each member (the CLI prints it).

    Returns
    -------
    dict
        ``members`` (one dict per member: ``index``, ``seed``, ``dir``,
        ``model``, ``status`` = trained / resumed / finished earlier,
        ``result`` of :func:`molsym.train.run.train` or None),
        ``committee`` (the committee file), ``evaluation``
        (:func:`evaluate_committee`, or None), ``seeds``, ``is_global_zero``.
    """
    from molsym.calculator.committee import write_committee
    from molsym.train.export import export_checkpoint

    seeds = member_seeds(cfg)
    node = cfg["committee"]
    check_committee_output(cfg, len(seeds), resume, force)
    say = report or (lambda line: None)
    base_seed = int(cfg.get("seed", 0))
    members, datamodule, rank_zero = [], None, True
    for k, seed in enumerate(seeds):
        member_cfg = member_config(cfg, k, seed)
        entry = {"index": k, "seed": seed, "dir": member_dir(cfg, k),
                 "model": member_dir(cfg, k) / MEMBER_MODEL, "result": None}
        members.append(entry)
        head = f"committee member {k + 1}/{len(seeds)} (seed {seed}, {entry['dir']})"
        if resume is not None and entry["model"].is_file():
            entry["status"] = "finished earlier"
            say(f"{head}: finished earlier, kept")
            continue
        last = checkpoint_dir(member_cfg) / "last.ckpt"
        member_resume = "last" if resume is not None and last.is_file() else None
        entry["status"] = "resumed" if member_resume else "trained"
        say(f"{head}: " + (f"resuming from {last}" if member_resume else "training"))
        result = train(member_cfg, resume=member_resume, extra_callbacks=extra_callbacks, final_eval_frames=0,
                       data_seed=base_seed if node.get("same_order") else None,
                       bootstrap=bool(node.get("bootstrap", False)))
        entry["result"], datamodule = result, result["datamodule"]
        rank_zero = result["trainer"].is_global_zero
        if rank_zero:
            export_checkpoint(result["best"], entry["model"])
    out = Path(cfg.get("output_dir", "outputs/run"))
    if not rank_zero:
        return {"members": members, "committee": out / COMMITTEE_FILE, "evaluation": None, "seeds": seeds,
                "is_global_zero": False}
    committee = write_committee(out / COMMITTEE_FILE, [m["model"] for m in members], seeds=seeds,
                                extra={"bootstrap": bool(node.get("bootstrap", False)),
                                       "same_order": bool(node.get("same_order", False)),
                                       "config_file": cfg.get("config_file")})
    evaluation = None
    if final_eval_frames != 0:
        if datamodule is None:  # every member finished earlier: the split and statistics come from the cache
            datamodule = build_datamodule(member_config(cfg, 0, seeds[0]))
        if hasattr(datamodule, "split_frames"):
            evaluation = evaluate_committee([m["model"] for m in members], datamodule, final_eval_frames)
    return {"members": members, "committee": committee, "evaluation": evaluation, "seeds": seeds,
            "is_global_zero": True}
