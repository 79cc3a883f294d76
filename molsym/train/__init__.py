"""Training force fields through Lightning: declared losses, metrics, EMA,
resumable seeded loaders, config loading, evaluation and export.

file → :mod:`~molsym.train.config` → :mod:`~molsym.train.run` (data module,
:class:`~molsym.train.module.ForceFieldModule`, Trainer) → checkpoints →
:mod:`~molsym.train.export` / :mod:`~molsym.train.evaluate`. Fine-tuning from a model file:
:mod:`~molsym.train.finetune`; committees: :mod:`~molsym.train.committee`.
"""
from molsym.train.config import ConfigError, apply_overrides, instantiate, load_config, resolve
from molsym.train.data import EpochSampler, ResumableDataLoader, ResumableDataModule
from molsym.train.evaluate import evaluate_frames, format_table, predict
from molsym.train.export import export_checkpoint, load_any_model, load_checkpoint_model
from molsym.train.loss import LOSS_FUNCTIONS, LossTerm, WeightedLoss, loss_from_config
from molsym.train.metrics import ForceFieldMetrics, frame_errors
from molsym.train.module import ForceFieldModule
from molsym.train.run import train
from molsym.train.committee import train_committee

__all__ = [
    "ConfigError", "apply_overrides", "instantiate", "load_config", "resolve",
    "EpochSampler", "ResumableDataLoader", "ResumableDataModule",
    "evaluate_frames", "format_table", "predict",
    "export_checkpoint", "load_any_model", "load_checkpoint_model",
    "LOSS_FUNCTIONS", "LossTerm", "WeightedLoss", "loss_from_config",
    "ForceFieldMetrics", "frame_errors", "ForceFieldModule", "train", "train_committee",
]
