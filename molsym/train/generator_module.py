"""The LightningModule that trains a molecule generator (flow matching or EDM diffusion).

The generator is named by the config's ``model`` spec (``class_path`` /
``init_args``) and must provide ``training_loss(batch, generator=None)``
returning a dict with ``loss`` and its named terms, and
``sample_molecules(num, steps, generator)`` returning generated molecules
(see :mod:`molsym.generate.molecules`); an optional
``validation_metrics(batch, generator)`` adds scalars logged as ``val/<name>``
(EDM: ``val/nll``). As for force fields, the EMA of the
weights is what validation, checkpoint selection and export use. With
``val_samples > 0`` every validation also samples that many molecules from
the EMA model and logs their stability (``val/mol_stable`` on the generated
bonds where the model makes bonds, ``val/mol_stable_dist`` by the EDM distance
protocol), so the learning curve shows quality, not only the loss.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional

import lightning.pytorch as pl
import torch
from torch.optim.swa_utils import AveragedModel

from molsym.train.config import instantiate
from molsym.train.module import EMAUpdate, optimizers_from_specs

__all__ = ["GeneratorModule"]


class GeneratorModule(pl.LightningModule):
    """Train a generator with an EMA of its weights.

    Parameters
    ----------
    model : dict
        ``{"class_path": ..., "init_args": {...}}`` of the generator (plain
        types, with ``atom_counts`` filled in by ``molsym train``).
    optimizer, scheduler : dict
        ``class_path``/``init_args`` specs as for force fields (the scheduler
        may carry ``monitor`` and ``interval``).
    ema_decay : float
        Decay of the weight average (0: no EMA).
    ema_warmup : bool
        ``min(decay, (1 + n) / (10 + n))`` after ``n`` steps.
    val_samples : int
        Molecules sampled at each validation (0: none).
    val_steps : int
        Integration steps of those samples.
    seed : int
        Seed of the training draws: step ``k`` uses a generator seeded from
        ``(seed, k)``, so a run resumed from a checkpoint repeats an
        uninterrupted one.
    dtype : str
        ``float32`` or ``float64``: precision of the generator's weights.

    Example
    -------
    >>> spec = {"class_path": "molsym.flow.FlowMatchingGenerator",
    ...         "init_args": {"species": [1, 6], "atom_counts": [0, 0, 1],
    ...                       "network": {"hidden": 8, "edge_dim": 4, "msg_dim": 8, "num_layers": 1}}}
    >>> m = GeneratorModule(spec, {"class_path": "torch.optim.AdamW", "init_args": {"lr": 1e-3}})
    >>> type(m.averaged_model).__name__
    'FlowMatchingGenerator'
    """

    def __init__(self, model: Dict[str, Any], optimizer: Dict[str, Any], scheduler: Optional[Dict[str, Any]] = None,
                 ema_decay: float = 0.999, ema_warmup: bool = True, val_samples: int = 0, val_steps: int = 20,
                 seed: int = 0, dtype: str = "float32"):
        super().__init__()
        self.save_hyperparameters()
        self.model = instantiate(model).to(getattr(torch, dtype))
        self.ema: Optional[AveragedModel] = None
        if ema_decay > 0:
            self.ema = AveragedModel(self.model, multi_avg_fn=EMAUpdate(ema_decay, ema_warmup), use_buffers=True)
            self.ema.requires_grad_(False)
        self._epoch_start = None

    @property
    def averaged_model(self) -> torch.nn.Module:
        """The generator that is evaluated and exported (EMA weights when enabled)."""
        return self.ema.module if self.ema is not None else self.model

    @staticmethod
    def _size(batch) -> int:
        return int(batch["num_atoms"].shape[0])

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        # the draws of step k depend on (seed, k) alone, so a resumed run repeats an uninterrupted one
        gen = torch.Generator().manual_seed(int(self.hparams.seed) * 1_000_003 + int(self.global_step))
        out = self.model.training_loss(batch, generator=gen)
        size = self._size(batch)
        self.log("train/loss", out["loss"], on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        for name, value in out.items():
            if name != "loss":
                self.log(f"train/loss_{name}", value, on_step=False, on_epoch=True, batch_size=size)
        return out["loss"]

    def validation_step(self, batch, batch_idx: int) -> None:
        gen = torch.Generator().manual_seed(1000 + batch_idx)  # the same noise every validation
        with torch.no_grad():
            out = self.averaged_model.training_loss(batch, generator=gen)
        size = self._size(batch)
        self.log("val/loss", out["loss"], prog_bar=True, batch_size=size)
        for name, value in out.items():
            if name != "loss":
                self.log(f"val/loss_{name}", value, batch_size=size)
        extra = getattr(self.averaged_model, "validation_metrics", None)
        if extra is not None:  # figures a generator reports beside its loss (EDM: the NLL bound)
            with torch.no_grad():
                for name, value in extra(batch, generator=gen).items():
                    self.log(f"val/{name}", value, batch_size=size)

    def on_validation_epoch_end(self) -> None:
        n = int(self.hparams.val_samples)
        if n <= 0 or self.trainer.sanity_checking:
            return
        from molsym.generate.metrics import generation_metrics

        start = time.perf_counter()
        gen = torch.Generator().manual_seed(0)
        molecules = self.averaged_model.sample_molecules(n, steps=int(self.hparams.val_steps), generator=gen)
        metrics = generation_metrics(molecules, novelty_reference=None)
        self.log("val/sample_seconds", time.perf_counter() - start)
        for key in ("mol_stable", "atom_stable", "mol_stable_dist", "atom_stable_dist", "validity"):
            if key in metrics:
                self.log(f"val/{key}", float(metrics[key]), prog_bar=key in ("mol_stable", "mol_stable_dist"))

    def configure_optimizers(self):
        return optimizers_from_specs(self.model.parameters(), self.hparams.optimizer, self.hparams.scheduler)

    def optimizer_step(self, *args, **kwargs) -> None:
        """Step, then fold the new weights into the EMA (so checkpoints hold the step's EMA)."""
        super().optimizer_step(*args, **kwargs)
        if self.ema is not None:
            self.ema.update_parameters(self.model)
