"""One iteration's committee: K members trained (or kept, or resumed), one after another or in worker
processes; member k of iteration i > 0 fine-tunes member k of iteration i - 1."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Optional

from molsym.learn.settings import DEFAULT_CONFIG, LearnError, LearnSettings

__all__ = ["train_members", "quiet_lightning"]


def train_members(settings: LearnSettings, it_dir: Path, frames: list, isolated: Path, i: int, say,
                  extra_callbacks) -> Path:
    """Train (or keep, or resume) the iteration's members; write and return its committee file."""
    from molsym.calculator.committee import write_committee
    from molsym.data.generate import _write_extxyz_atomic
    from molsym.train.committee import member_config
    from molsym.train.config import ConfigError, load_config
    from molsym.train.run import checkpoint_dir

    it_dir.mkdir(parents=True, exist_ok=True)
    data = it_dir / "train.xyz"
    if not data.is_file():
        _write_extxyz_atomic(data, list(frames))
    config = settings.config or str(DEFAULT_CONFIG)
    try:
        cfg = load_config(config, settings.overrides, settings={
            "output_dir": str(it_dir), "data.init_args.train": [str(data), str(isolated)],
            "data.init_args.cache_dir": str(it_dir / "cache"),
            "trainer.max_time": {"seconds": int(round(60 * settings.train_minutes))},
            "trainer.enable_progress_bar": False, "trainer.enable_model_summary": False,
            "seed": int(settings.seed) + 1000 * i})
    except ConfigError as err:
        raise LearnError(str(err)) from None
    models, seeds, jobs = [], [], []
    for k in range(settings.committee):
        seed = int(settings.seed) + 1000 * i + k
        mcfg = member_config(cfg, k, seed)
        model = Path(mcfg["output_dir"]) / "model.pt"
        models.append(model)
        seeds.append(seed)
        if model.is_file():
            say(f"iteration {i}: member {k + 1}/{settings.committee} finished earlier, kept")
            continue
        if i > 0:
            mcfg["init"] = {"model": str(it_dir.parent / f"iter_{i - 1:03d}" / f"member_{k}" / "model.pt"),
                            "refit": False}
        resume = "last" if (checkpoint_dir(mcfg) / "last.ckpt").is_file() else None
        jobs.append((k, mcfg, resume, model))

    def start(k, resume):
        say(f"iteration {i}: member {k + 1}/{settings.committee} "
            f"{'resumed' if resume else ('fine-tuned' if i else 'trained')} on {len(frames)} frames "
            f"for up to {settings.train_minutes:g} min")

    def done(k, summary):
        say(f"iteration {i}: member {k + 1}/{settings.committee}: {summary['epochs']} epochs in "
            f"{summary['seconds']:.0f} s, validation force RMSE {_fmt(summary['val_forces_rmse'])} meV/Å")

    if settings.parallel > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import torch

        threads = max(1, torch.get_num_threads() // settings.parallel)
        with ProcessPoolExecutor(max_workers=min(settings.parallel, len(jobs)),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = []
            for k, mcfg, resume, model in jobs:
                start(k, resume)
                futures.append((k, pool.submit(_train_member, mcfg, resume, model, threads, ())))
            for k, future in futures:
                done(k, future.result())
    else:
        for k, mcfg, resume, model in jobs:
            start(k, resume)
            done(k, _train_member(mcfg, resume, model, None, extra_callbacks))
    return write_committee(it_dir / "committee.json", models, seeds=seeds, extra={"iteration": i})


def _train_member(mcfg: Dict[str, Any], resume: Optional[str], model: Path, threads: Optional[int],
                  extra_callbacks) -> Dict[str, Any]:
    """Train one member and export its model; returns epochs, seconds and the validation force RMSE.
    Runs in this process or in a worker process (``threads``: its torch threads)."""
    from molsym.train.export import export_checkpoint
    from molsym.train.run import train

    if threads is not None:
        import torch
        torch.set_num_threads(threads)
    with quiet_lightning():
        result = train(mcfg, resume=resume, force=resume is None, extra_callbacks=extra_callbacks,
                       final_eval_frames=0)
    export_checkpoint(result["best"], model)
    for ckpt in Path(result["best"]).parent.glob("*.ckpt"):  # model.pt is what the loop reads from here on
        ckpt.unlink()
    return {"epochs": result["trainer"].current_epoch, "seconds": result["fit_seconds"],
            "val_forces_rmse": result["metrics"].get("val/forces_rmse")}


@contextmanager
def quiet_lightning():
    """Lightning's info lines (devices, time limit) off while a member trains: the learn log says it."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3g}"
