"""Training of :class:`EquivariantDiffusion` with Lightning, with an EMA of the weights.

The training step is the simplified L2 loss; validation reports the L2 loss
and a one-sample estimate of the variational bound (NLL, nats per molecule)
of the EMA model, which is the model that is evaluated and exported.
"""
from __future__ import annotations

import lightning as L
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .diffusion import EquivariantDiffusion

__all__ = ["DiffusionModule"]


class DiffusionModule(L.LightningModule):
    """LightningModule around a diffusion model.

    Parameters
    ----------
    model : EquivariantDiffusion
    lr : float
        AdamW (AMSGrad) learning rate.
    weight_decay : float
    ema_decay : float
        Decay of the exponential moving average of the weights (0 disables it:
        the EMA then equals the raw weights).

    Examples
    --------
    >>> from molsym.diffusion import AtomCountDistribution, EquivariantDiffusion
    >>> m = EquivariantDiffusion([1, 6], AtomCountDistribution.fit(torch.tensor([3])), T=10,
    ...                          denoiser={"hidden": 8, "num_layers": 1})
    >>> module = DiffusionModule(m, lr=1e-3)
    >>> isinstance(module.ema_model, EquivariantDiffusion)
    True
    """

    def __init__(self, model: EquivariantDiffusion, lr: float = 1e-4, weight_decay: float = 1e-12,
                 ema_decay: float = 0.999):
        super().__init__()
        self.model = model
        self.lr, self.weight_decay, self.ema_decay = lr, weight_decay, ema_decay
        self.ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
        self.ema.requires_grad_(False)
        self.save_hyperparameters(ignore=["model"])

    @property
    def ema_model(self) -> EquivariantDiffusion:
        """The averaged model (evaluated and exported)."""
        return self.ema.module

    def training_step(self, batch, batch_idx):
        out = self.model.training_loss(batch)
        self.log("train_l2", out["loss"], prog_bar=True, batch_size=batch["num_atoms"].shape[0])
        return out["loss"]

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.ema.update_parameters(self.model)

    def validation_step(self, batch, batch_idx):
        B = batch["num_atoms"].shape[0]
        model = self.ema_model
        l2 = model.training_loss(batch)["loss"]
        nll = model.nll(batch)["nll"].mean()
        self.log("val_l2", l2, batch_size=B, prog_bar=True)
        self.log("val_nll", nll, batch_size=B, prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay,
                                 amsgrad=True)
