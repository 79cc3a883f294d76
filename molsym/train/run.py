"""Assemble and run a training job from a resolved config (see ``configs/``).

Config sections
---------------
``seed``, ``dtype`` (``float32``/``float64``), ``cutoff``, ``output_dir``;
``data`` (class_path/init_args of a LightningDataModule with ``.statistics``);
``model`` (a :func:`molsym.nn.build_model` dict; ``species``, ``e0s``,
``avg_num_neighbors``, ``scale`` may be ``auto``: taken from the training
statistics; ``shift: auto`` is fitted by :func:`fit_shift`); ``loss`` (list of terms); ``optimizer``, ``scheduler``;
``ema_decay``; ``checkpoint`` (``monitor``, ``every_n_train_steps``);
``trainer`` (keyword arguments of :class:`lightning.pytorch.Trainer`);
``callbacks`` (optional list of class_path specs).

Labels
------
Before anything is built, :func:`molsym.train.labels.check_labels` refuses
a config that needs labels the data lacks (a forces loss term on data
without forces, ``scale: auto`` without training forces) with one line
naming the file, the label and what to change.

Final metrics
-------------
After training, :func:`evaluate_exported` evaluates the weights that are
exported (the EMA weights of the returned ``best`` checkpoint) on the first
:data:`FINAL_EVAL_FRAMES` frames of the training and validation splits with
:func:`molsym.train.evaluate.predict`, the function behind ``molsym eval``:
the same numbers as ``molsym eval`` of the exported model on those frames.
"""
from __future__ import annotations

import copy
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

import lightning.pytorch as pl
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from molsym.nn.model import DEFAULT_CONFIG, STORED_DEFAULTS, stored_config
from molsym.train.config import ConfigError, instantiate
from molsym.train.data import ResumableDataModule
from molsym.train.labels import check_labels
from molsym.train.logs import build_loggers, checkpoint_step
from molsym.train.module import ForceFieldModule
from molsym.train.plots import plot_learning_curve
from molsym.train.progress import LogProgress

__all__ = ["fill_model_config", "build_datamodule", "build_module", "build_generator_module", "is_generator_config", "build_trainer", "train",
           "checkpoint_dir", "resolve_resume", "check_fresh_output", "clear_or_refuse", "OutputExistsError", "fit_shift",
           "evaluate_exported", "FINAL_EVAL_FRAMES"]

#: model keys that ``auto`` fills from the data statistics, and the statistic used.
AUTO_KEYS = {"species": "species", "e0s": "e0s", "avg_num_neighbors": "avg_num_neighbors",
             "scale": "force_rms", "shift": "mean_energy_per_atom"}
DEFAULT_AUTO = ("species", "e0s", "avg_num_neighbors")
#: The label each ``auto`` statistic is computed from (``None`` when the data lacks it).
STAT_LABELS = {"force_rms": "forces", "mean_energy_per_atom": "energy"}
#: Frames per split (the first ones, in split order) on which :func:`evaluate_exported` evaluates.
FINAL_EVAL_FRAMES = 1000


def fill_model_config(model: Dict[str, Any], stats: Dict[str, Any], dtype: str) -> Dict[str, Any]:
    """Replace ``auto`` (or missing species/E0s/neighbour count) by training statistics.

    Parameters
    ----------
    model : dict
        The config's ``model`` section.
    stats : dict
        ``MolDataModule.statistics`` (``e0s`` eV, ``force_rms`` eV/Å,
        ``mean_energy_per_atom`` eV, ``avg_num_neighbors``, ``species``).
    dtype : str
        ``float32`` or ``float64``.
    """
    out = copy.deepcopy(model)
    for key, stat in AUTO_KEYS.items():
        if out.get(key, "auto" if key in DEFAULT_AUTO else None) == "auto":
            if stat not in stats:
                raise ConfigError(f"model.{key}: auto needs the data statistic {stat!r}, which is missing")
            value = stats[stat]
            if value is None:
                raise ConfigError(f"model.{key}: auto needs the data statistic {stat!r}, but the training "
                                  f"data has no {STAT_LABELS.get(stat, stat)} labels: set model.{key} to a number")
            if key == "e0s":
                value = {int(z): float(e) for z, e in value.items()}
            elif key == "species":
                value = [int(z) for z in value]
            else:
                value = float(value)
            out[key] = value
    out["dtype"] = dtype
    for key in STORED_DEFAULTS:  # written out, so that a checkpoint keeps the run's short-range physics
        out.setdefault(key, copy.deepcopy(DEFAULT_CONFIG[key]))
    return out


def fit_shift(model_cfg: Dict[str, Any], dataset, max_frames: int = 200, batch_size: int = 25,
              weights: Optional[Dict[str, Any]] = None) -> float:
    """Least-squares per-atom shift (eV) so that E0s + shift term match the training energies.

    The model's energy is linear in its ``shift``: ``E = a + shift · b`` per
    molecule. ``b`` is measured on an untrained copy of the model (shift 1
    minus shift 0, so it does not depend on how the shift is spread over
    atoms) and ``shift = Σ b (E_ref − a) / Σ b²`` (``a``: E0s plus the
    untrained network, built from the same RNG state as the model, or the
    network with ``weights`` loaded when a fine-tuning run gives them) over
    up to ``max_frames`` training frames in file order. The global RNG is
    left untouched.
    """
    import torch

    from molsym.data import keys as K
    from molsym.data.collate import collate
    from molsym.nn import build_model

    with torch.random.fork_rng():
        model = build_model(dict(model_cfg, shift=0.0))
    if weights is not None:
        model.load_state_dict(weights)
    model.eval()
    num = den = 0.0
    n = min(len(dataset), max_frames)
    for start in range(0, n, batch_size):
        batch = collate([dataset[i] for i in range(start, min(n, start + batch_size))])
        with torch.no_grad():
            model.shift = 0.0
            base = model(batch, compute_forces=False)[K.ENERGY]
            model.shift = 1.0
            b = (model(batch, compute_forces=False)[K.ENERGY] - base).double()
        ref = batch[K.ENERGY].double()
        num += float((b * (ref - base.double())).sum())     # base: E0s + the untrained network
        den += float((b * b).sum())
    if den == 0.0:
        raise ConfigError("model.shift: auto cannot be fitted: the shift does not change the energy")
    return num / den


def build_datamodule(cfg: Dict[str, Any]) -> pl.LightningDataModule:
    """Instantiate the data module and compute its statistics (``setup("fit")``)."""
    dm = instantiate(cfg["data"])
    dm.prepare_data()
    dm.setup("fit")
    return dm


def is_generator_config(cfg: Dict[str, Any]) -> bool:
    """A config whose ``model`` names a class (``class_path``) trains a generator; else a force field."""
    return isinstance(cfg.get("model"), dict) and "class_path" in cfg["model"]


def build_generator_module(cfg: Dict[str, Any], stats: Dict[str, Any]):
    """The :class:`~molsym.train.generator_module.GeneratorModule` for a generator config.

    ``model.init_args.atom_counts: auto`` (or absent) becomes the histogram
    of training molecule sizes (``stats["num_atoms"]``). A generator class
    with a ``config_from_statistics(init_args, stats)`` classmethod may
    fill further arguments from the data statistics first.
    """
    import torch

    from molsym.train.generator_module import GeneratorModule

    from molsym.train.config import import_object

    spec = copy.deepcopy(cfg["model"])
    args = spec.setdefault("init_args", {})
    hook = getattr(import_object(spec["class_path"]), "config_from_statistics", None)
    if hook is not None:  # a generator may fill more of its arguments from the data (e.g. condition scales)
        args = spec["init_args"] = hook(args, stats)
    if args.get("atom_counts", "auto") == "auto":
        if "num_atoms" not in stats:
            raise ConfigError("model.init_args.atom_counts: auto needs the data statistic 'num_atoms'")
        sizes = torch.as_tensor(stats["num_atoms"], dtype=torch.long)
        args["atom_counts"] = torch.bincount(sizes).double().tolist()
    options = dict(cfg.get("generator") or {})
    return GeneratorModule(model=spec, optimizer=cfg["optimizer"], scheduler=cfg.get("scheduler"),
                           ema_decay=float(cfg.get("ema_decay", 0.999)),
                           ema_warmup=bool(cfg.get("ema_warmup", True)), seed=int(cfg.get("seed", 0)),
                           dtype=str(cfg.get("dtype", "float32")), **options)


def build_module(cfg: Dict[str, Any], stats: Dict[str, Any], train_dataset=None,
                 model_config: Optional[Dict[str, Any]] = None) -> pl.LightningModule:
    """The LightningModule for ``cfg`` with the model filled from ``stats``.

    A generator config (:func:`is_generator_config`) gives a
    :class:`~molsym.train.generator_module.GeneratorModule`; otherwise a
    :class:`ForceFieldModule`. With ``train_dataset`` given and
    ``model.shift: auto``, the shift is fitted by :func:`fit_shift` instead
    of taken from the statistics.

    With an ``init`` section (fine-tuning, :mod:`molsym.train.finetune`) the
    model must fit the file ``init.model``; it starts from that file's
    weights, and its E0s, scale and shift are the file's unless
    ``init.refit`` is true.

    ``model_config`` (a force field's complete ``build_model`` config, the
    one a resumed run's checkpoint holds) is used as it is: no ``auto``,
    ``init`` or shift fit.
    """
    if is_generator_config(cfg):
        return build_generator_module(cfg, stats)
    init, weights = None, None
    if model_config is not None:  # a resumed run: the checkpoint's model, as it was
        model_cfg = copy.deepcopy(model_config)
    else:
        model_cfg = fill_model_config(cfg["model"], stats, cfg.get("dtype", "float64"))
        init = cfg.get("init")
        refit = not init or bool(init.get("refit", False))
        if init:
            from molsym.train.finetune import init_model_config, read_init_model

            file_cfg, weights = read_init_model(init["model"])
            model_cfg = init_model_config(model_cfg, file_cfg, init["model"], refit=refit)
        if cfg["model"].get("shift") == "auto" and train_dataset is not None and refit:
            model_cfg["shift"] = fit_shift(model_cfg, train_dataset, weights=weights)
    module = ForceFieldModule(model=model_cfg, loss=cfg["loss"], optimizer=cfg["optimizer"],
                              scheduler=cfg.get("scheduler"), ema_decay=float(cfg.get("ema_decay", 0.99)),
                              ema_warmup=bool(cfg.get("ema_warmup", False)))
    if weights is not None:
        from molsym.train.finetune import load_initial_weights

        load_initial_weights(module, weights, init["model"])
    return module


def checkpoint_dir(cfg: Dict[str, Any]) -> Path:
    """``<output_dir>/checkpoints``: where ``best.ckpt`` and ``last.ckpt`` go."""
    return Path(cfg.get("output_dir", "outputs/run")) / "checkpoints"


def build_trainer(cfg: Dict[str, Any], extra_callbacks=(), resume: Optional[str] = None) -> pl.Trainer:
    """A Trainer with best/last checkpoints, CSV + TensorBoard loggers and the LR monitor.

    With ``resume`` (the checkpoint a run continues from) the loggers
    continue the run's latest log version (:func:`molsym.train.logs.build_loggers`),
    so the CSV, TensorBoard and learning curve hold the whole run.

    When standard output is not a terminal and the config does not set
    ``trainer.enable_progress_bar``, the bar is replaced by
    :class:`~molsym.train.progress.LogProgress` (a line every
    ``4 × log_every_n_steps`` steps and after every validation).

    ``inference_mode=False`` (forces need autograd in validation) and
    ``use_distributed_sampler=False`` (:class:`~molsym.train.data.EpochSampler`
    splits batches itself) are always set.
    """
    out = Path(cfg.get("output_dir", "outputs/run"))
    ck = dict(cfg.get("checkpoint") or {})
    monitor = ck.get("monitor", "val/loss")
    callbacks = [
        ModelCheckpoint(dirpath=checkpoint_dir(cfg), filename="best", monitor=monitor, mode="min", save_top_k=1,
                        enable_version_counter=False, auto_insert_metric_name=False),
        ModelCheckpoint(dirpath=checkpoint_dir(cfg), filename="last", monitor=None, save_top_k=1,
                        every_n_train_steps=ck.get("every_n_train_steps"), enable_version_counter=False),
        LearningRateMonitor(logging_interval="epoch"),
    ]
    callbacks += [instantiate(spec) for spec in cfg.get("callbacks") or []]
    callbacks += list(extra_callbacks)
    kwargs = dict(cfg.get("trainer") or {})
    if "enable_progress_bar" not in kwargs and not sys.stdout.isatty():
        # piped to a file: a plain line per N steps, not a bar redrawn several times a second
        kwargs["enable_progress_bar"] = False
        callbacks.append(LogProgress(every_n_steps=int(kwargs.get("log_every_n_steps") or 50) * 4))
    loggers = build_loggers(out, checkpoint_step(resume) if resume else None, resuming=resume is not None) \
        if kwargs.pop("logger", True) else False
    for forced in ("inference_mode", "use_distributed_sampler", "default_root_dir", "callbacks"):
        if forced in kwargs:
            raise ConfigError(f"trainer.{forced} is set by molsym and may not be given in the config")
    return pl.Trainer(default_root_dir=str(out), callbacks=callbacks, logger=loggers, inference_mode=False,
                      use_distributed_sampler=False, **kwargs)


class OutputExistsError(FileExistsError):
    """A fresh run would overwrite the checkpoints of an earlier run in its output folder."""


#: The checkpoints a fresh run would overwrite (written by :func:`build_trainer`'s callbacks and :func:`train`).
RUN_CHECKPOINTS = ("last.ckpt", "best.ckpt")


def check_fresh_output(cfg: Dict[str, Any], resume: Optional[str] = None, force: bool = False) -> None:
    """Refuse to start a fresh run over an earlier run's checkpoints.

    A run without ``resume`` into an ``output_dir`` whose ``checkpoints/``
    already holds ``last.ckpt`` or ``best.ckpt`` raises
    :class:`OutputExistsError`, one line naming the folder. With ``force``
    those checkpoints are deleted (the run starts over; a run killed before
    its first checkpoint then leaves none of the old run's behind). A run
    with ``resume`` is never refused, and ``force`` does nothing to it.
    """
    if resume is not None:
        return
    folder = checkpoint_dir(cfg)
    found = [folder / name for name in RUN_CHECKPOINTS if (folder / name).is_file()]
    which = "last" if found and found[0].name == "last.ckpt" else "best"
    clear_or_refuse(found, force, lambda: (
        f"{folder} already holds the checkpoints of an earlier run ({', '.join(p.name for p in found)}): "
        f"pass --resume {which} to continue it, or --force to delete them and start over"))


def clear_or_refuse(found, force: bool, message) -> None:
    """An earlier run's files ``found`` in a fresh run's way: deleted with ``force``, else
    :class:`OutputExistsError` with ``message()`` (one line); nothing to do when there are none."""
    if not found:
        return
    if force:
        for path in found:
            path.unlink()
        return
    raise OutputExistsError(message())


def resolve_resume(cfg: Dict[str, Any], resume: Optional[str]) -> Optional[str]:
    """``last``/``best`` → the run's checkpoint file; a path is returned as is."""
    if resume is None:
        return None
    path = checkpoint_dir(cfg) / f"{resume}.ckpt" if resume in ("last", "best") else Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint to resume from not found: {path}")
    return str(path)


def evaluate_exported(checkpoint, dm, max_frames: Optional[int] = FINAL_EVAL_FRAMES,
                      batch_size: int = 16) -> Dict[str, Any]:
    """Metrics of the weights export writes (the checkpoint's EMA weights) on the training and validation frames.

    The model is loaded as :func:`molsym.train.export.export_checkpoint`
    loads it and evaluated by :func:`molsym.train.evaluate.predict` (eval
    mode, no weight updates, forces by autograd, on the CPU), so the
    numbers are those of ``molsym eval`` of the exported model on the same
    frames.

    Parameters
    ----------
    checkpoint : path
        A force-field training checkpoint (``best.ckpt``).
    dm : MolDataModule
        After ``setup``; its :meth:`~molsym.data.datamodule.MolDataModule.split_frames` are evaluated.
    max_frames : int, optional
        Evaluate the first ``max_frames`` frames of each split (in split
        order); ``None``: all.
    batch_size : int
        Frames per batch (as ``molsym eval --batch-size``).

    Returns
    -------
    dict
        ``checkpoint`` (str), ``epoch``, ``global_step`` (optimizer steps
        taken), ``weights`` (``ema`` or ``raw``),
        ``metrics`` ``{split: {name: value}}`` (meV, meV/Å, see
        :class:`~molsym.train.metrics.ForceFieldMetrics`) and ``frames``
        ``{split: (evaluated, in the split)}``, for the splits that have frames.
    """
    from molsym.train.evaluate import predict
    from molsym.train.export import load_checkpoint_model

    model, hp = load_checkpoint_model(checkpoint, ema=True)
    out: Dict[str, Any] = {"checkpoint": str(checkpoint), "epoch": hp["epoch"], "global_step": hp["global_step"],
                           "weights": hp["weights"], "metrics": {}, "frames": {}}
    for split in ("train", "val"):
        frames, total = dm.split_frames(split, max_frames)
        if not frames:
            continue
        out["metrics"][split] = predict(model, frames, batch_size=batch_size, progress=False)["metrics"]
        out["frames"][split] = (len(frames), total)
    return out


def _checkpoint_model_config(path) -> Optional[Dict[str, Any]]:
    """The model config a force-field checkpoint was trained with (``hyper_parameters["model"]``), or None.

    A resumed run builds its model from it, so that the values that are not
    weights (E0s, scale, shift, species, neighbour normalisation) are the
    run's, also for a fine-tuning run whose ``init`` file is not read again.
    """
    from molsym.nn.io import read_torch_file

    ckpt = read_torch_file(path, "training checkpoint")
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    model = hp.get("model") if isinstance(hp, dict) else None
    return stored_config(copy.deepcopy(model)) if isinstance(model, dict) and "representation" in model else None


def train(cfg: Dict[str, Any], resume: Optional[str] = None, extra_callbacks=(), force: bool = False,
          final_eval_frames: Optional[int] = FINAL_EVAL_FRAMES, data_seed: Optional[int] = None,
          bootstrap: bool = False) -> Dict[str, Any]:
    """Train as ``cfg`` says; return paths and final validation metrics.

    Parameters
    ----------
    cfg : dict
        A resolved config (:func:`molsym.train.config.load_config`).
    resume : str, optional
        ``last``, ``best`` or a checkpoint path to continue from. A force
        field is then rebuilt from the checkpoint's model config (its E0s,
        scale, shift and species as the run had them; ``init`` is not read).
    extra_callbacks : sequence
        More Lightning callbacks (tests use this).
    force : bool
        Start a fresh run even when ``<output_dir>/checkpoints`` holds an
        earlier run's ``last.ckpt``/``best.ckpt`` (they are deleted first).
        Without it such a run raises :class:`OutputExistsError`
        (:func:`check_fresh_output`) before anything is built.
    final_eval_frames : int, optional
        Force fields: after training, evaluate the ``best`` checkpoint's EMA
        weights (what is exported) on the first this many frames of the
        training and validation splits (:func:`evaluate_exported`);
        ``None``: every frame; 0: skip.
    data_seed : int, optional
        Seed of the batch order (default: ``cfg["seed"]``, which also seeds
        the initial weights).
    bootstrap : bool
        Train on a bootstrap sample of the training split drawn with
        ``cfg["seed"]`` (:class:`~molsym.train.data.ResumableDataModule`);
        the statistics (E0s, scale, shift) stay those of the whole split.

    Returns
    -------
    dict
        ``best``, ``last`` (checkpoint paths), ``learning_curve`` (PNG or
        None), ``metrics`` (the last logged values, floats: ``train/...``
        are running averages of the raw weights over the last epoch,
        ``val/...`` the EMA weights at the last validation), ``final``
        (:func:`evaluate_exported` of ``best``, or None: generators, other
        processes than rank 0, ``final_eval_frames=0``), ``fit_seconds``
        (wall time of ``Trainer.fit``, s), ``trainer``, ``module``,
        ``datamodule``.

    Raises
    ------
    molsym.data.errors.DataError
        When the config needs labels the data lacks
        (:func:`molsym.train.labels.check_labels`).
    """
    pl.seed_everything(int(cfg.get("seed", 0)), workers=True, verbose=False)
    ckpt_path = resolve_resume(cfg, resume)
    check_fresh_output(cfg, resume, force)
    dm = build_datamodule(cfg)
    check_labels(cfg, dm)
    resumed = _checkpoint_model_config(ckpt_path) if ckpt_path and not is_generator_config(cfg) else None
    module = build_module(cfg, dm.statistics, dm.train_dataset, model_config=resumed)
    trainer = build_trainer(cfg, extra_callbacks, resume=ckpt_path)
    seed = int(cfg.get("seed", 0))
    data = ResumableDataModule(dm, seed=seed if data_seed is None else int(data_seed),
                               bootstrap_seed=seed if bootstrap else None)
    start = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    fit_seconds = time.perf_counter() - start
    last = checkpoint_dir(cfg) / "last.ckpt"
    trainer.save_checkpoint(last, weights_only=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    curve = None
    csv_logger = next((lg for lg in trainer.loggers if isinstance(lg, CSVLogger)), None)
    if trainer.is_global_zero and csv_logger is not None:
        csv_logger.save()
        metrics_csv = Path(csv_logger.log_dir) / "metrics.csv"
        if metrics_csv.is_file():
            curve = plot_learning_curve(metrics_csv, Path(cfg.get("output_dir", "outputs/run")) / "learning_curve.png")
    best = (trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else "") or str(last)
    final = None
    if trainer.is_global_zero and not is_generator_config(cfg) and final_eval_frames != 0 \
            and hasattr(dm, "split_frames"):
        final = evaluate_exported(best, dm, final_eval_frames)
    return {"best": best, "last": str(last), "learning_curve": curve, "metrics": metrics, "final": final,
            "fit_seconds": fit_seconds,
            "trainer": trainer, "module": module, "datamodule": dm}
