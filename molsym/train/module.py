"""The LightningModule that trains a :class:`molsym.nn.ForceField`.

Everything the step needs is declared in the config: the model (a
``build_model`` dict), the loss terms, the optimizer and scheduler specs and
the EMA decay. The exponential moving average of the weights
(:class:`torch.optim.swa_utils.AveragedModel`) is what validation, test,
checkpoint selection and export use.

Forces are ``-∂E/∂pos``, so validation and test re-enable autograd; run the
Trainer with ``inference_mode=False``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import lightning.pytorch as pl
import torch
from torch.optim.swa_utils import AveragedModel

from molsym.data import keys as K
from molsym.train.config import instantiate
from molsym.train.loss import loss_from_config
from molsym.train.metrics import ForceFieldMetrics

__all__ = ["ForceFieldModule", "EMAUpdate", "optimizers_from_specs"]



class EMAUpdate:
    """``avg ← d·avg + (1 − d)·current`` for lists of tensors.

    ``d = decay``, or with ``warmup`` ``d = min(decay, (1 + n) / (10 + n))``
    after ``n`` updates, so the average follows the fast early training
    instead of carrying the random initial weights for ~1/(1 − decay) steps.
    A picklable class (unlike a closure), so modules holding it can be sent
    to ``ddp_spawn`` processes. Integer buffers are copied.
    """

    def __init__(self, decay: float, warmup: bool = False):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.warmup = bool(warmup)

    def decay_at(self, num_averaged) -> float:
        """The decay used for the update after ``num_averaged`` earlier updates."""
        if not self.warmup:
            return self.decay
        n = float(num_averaged)
        return min(self.decay, (1.0 + n) / (10.0 + n))

    def __call__(self, averaged: List[torch.Tensor], current: List[torch.Tensor], num_averaged) -> None:
        weight = 1.0 - self.decay_at(num_averaged)
        for avg, cur in zip(averaged, current):
            if avg.is_floating_point():
                avg.lerp_(cur, weight)
            else:
                avg.copy_(cur)


def optimizers_from_specs(parameters, optimizer: Dict[str, Any], scheduler: Optional[Dict[str, Any]] = None):
    """``configure_optimizers``'s answer for ``class_path`` specs: the optimizer, and the scheduler with its
    ``monitor`` (default ``val/loss``) and ``interval`` (default ``epoch``) when one is given."""
    opt = instantiate(optimizer, parameters)
    if not scheduler:
        return opt
    sched = instantiate(scheduler, opt)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": scheduler.get("monitor", "val/loss"),
                                                "interval": scheduler.get("interval", "epoch")}}


class ForceFieldModule(pl.LightningModule):
    """Train a force field with declared losses and an EMA of the weights.

    Parameters
    ----------
    model : dict
        The :func:`molsym.nn.build_model` config (species, E0s, cutoff,
        dtype, ... filled in).
    loss : list of dict
        Loss terms, see :func:`molsym.train.loss.loss_from_config`.
    optimizer : dict
        ``{"class_path": "torch.optim.AdamW", "init_args": {...}}``.
    scheduler : dict, optional
        A ``class_path``/``init_args`` spec plus optional ``monitor``
        (default ``val/loss``) and ``interval`` (``epoch`` or ``step``).
    ema_decay : float
        Decay of the weight average; 0 disables EMA.
    ema_warmup : bool
        Use ``min(ema_decay, (1 + n) / (10 + n))`` after ``n`` steps (see :class:`EMAUpdate`).

    Example
    -------
    >>> module = ForceFieldModule(model_cfg, [{"key": "forces"}],
    ...     {"class_path": "torch.optim.AdamW", "init_args": {"lr": 1e-3}})  # doctest: +SKIP
    """

    def __init__(self, model: Dict[str, Any], loss: List[Dict[str, Any]], optimizer: Dict[str, Any],
                 scheduler: Optional[Dict[str, Any]] = None, ema_decay: float = 0.99,
                 ema_warmup: bool = False):
        super().__init__()
        self.save_hyperparameters()
        from molsym.nn import build_model

        self.model = build_model(model)
        self.loss_fn = loss_from_config(loss)
        self.ema: Optional[AveragedModel] = None
        if ema_decay > 0:
            self.ema = AveragedModel(self.model, multi_avg_fn=EMAUpdate(ema_decay, ema_warmup), use_buffers=True)
            self.ema.requires_grad_(False)
        self.train_metrics = ForceFieldMetrics()
        self.val_metrics = ForceFieldMetrics()
        self.test_metrics = ForceFieldMetrics()
        self._compute_stress = K.STRESS in self.loss_fn.keys

    # ----------------------------------------------------------------- models
    @property
    def averaged_model(self) -> torch.nn.Module:
        """The model that is evaluated and exported (EMA weights when enabled)."""
        return self.ema.module if self.ema is not None else self.model

    def forward(self, batch: Mapping[str, torch.Tensor], model: Optional[torch.nn.Module] = None):
        """Predictions of ``model`` (default: the trained weights) for ``batch``.

        Forces are computed when a loss term needs them or the batch has
        force labels (they are then reported, even when no loss term uses
        them); a batch of energies only with an energy loss skips them.
        """
        model = self.model if model is None else model
        forces = K.FORCES in self.loss_fn.keys or K.FORCES in batch or self._compute_stress
        return model(batch, compute_forces=forces, compute_stress=self._compute_stress)

    # ------------------------------------------------------------------ steps
    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        pred = self(batch)
        loss, parts = self.loss_fn(pred, batch)
        self._record("train", loss, parts, pred, batch)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate("val", batch)

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate("test", batch)

    def _evaluate(self, split: str, batch) -> None:
        with torch.enable_grad():  # forces are a gradient, also when validating
            pred = self(batch, model=self.averaged_model)
        pred = {k: v.detach() for k, v in pred.items()}
        loss, parts = self.loss_fn(pred, batch)
        self._record(split, loss, parts, pred, batch)

    def _record(self, split: str, loss, parts, pred, batch) -> None:
        size = int(batch[K.NUM_ATOMS].shape[0])
        on_step = split == "train"
        self.log(f"{split}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True,
                 batch_size=size, sync_dist=not on_step)
        for name, value in parts.items():
            self.log(f"{split}/loss_{name}", value, on_step=False, on_epoch=True, batch_size=size,
                     sync_dist=not on_step)
        getattr(self, f"{split}_metrics").update(pred, batch)

    def _log_metrics(self, split: str) -> None:
        metrics = getattr(self, f"{split}_metrics")
        values = metrics.compute()
        self.log_dict({f"{split}/{k}": v.float() for k, v in values.items()},
                      prog_bar=False, sync_dist=False, rank_zero_only=False)
        if split == "val" and "forces_rmse" in values:
            self.log("val/F_rmse", values["forces_rmse"].float(), prog_bar=True)
        metrics.reset()

    def on_train_epoch_end(self) -> None:
        self._log_metrics("train")

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    # ------------------------------------------------------------- optimizer
    def configure_optimizers(self):
        return optimizers_from_specs(self.model.parameters(), self.hparams.optimizer, self.hparams.scheduler)

    def optimizer_step(self, *args, **kwargs) -> None:
        """Step the optimizer, then fold the new weights into the EMA.

        Done here rather than in ``on_train_batch_end`` so that a checkpoint
        written after a step already holds that step's EMA update.
        """
        super().optimizer_step(*args, **kwargs)
        if self.ema is not None:
            self.ema.update_parameters(self.model)
