"""E(3)-equivariant variational diffusion over coordinates, atom types and charges.

A molecule is ``x [n, 3]`` (Å, zero-centred) and invariant features
``h = [onehot(type) / norm_h, charge / norm_c]`` (``F = K + 1`` channels).
The forward process is ``z_t = alpha_t [x, h] + sigma_t eps`` with the
coordinate noise drawn in the zero-centre subspace; the denoiser predicts
``eps``. This module holds

* :meth:`EquivariantDiffusion.training_loss` — the simplified L2 loss
  ``|eps - eps_hat|^2`` averaged over dimensions, with ``t ~ U{0..T}``;
* :meth:`EquivariantDiffusion.nll` — the full variational bound
  ``-log p(N) + KL(q(z_T|x,h) | N(0, I)) + T E_t[L_t] - log p(x, h | z_0)``
  with ``L_t = 1/2 (SNR(t-1)/SNR(t) - 1) |eps - eps_hat|^2``, in nats per
  molecule (Hoogeboom et al. 2022, Sec. 3.3 and App. A).

Sampling lives in :mod:`molsym.diffusion.sampler`.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .denoiser import EGNNDenoiser
from .nodes import AtomCountDistribution
from .schedule import NoiseSchedule
from .subspace import remove_mean, sample_zero_com_gaussian, segment_sum, subspace_dim

__all__ = ["EquivariantDiffusion"]

Batch = Dict[str, torch.Tensor]


class EquivariantDiffusion(nn.Module):
    """The generative model ``p(N) p(x, h | N)``.

    Parameters
    ----------
    species : sequence of int
        Atomic numbers, in the order of the one-hot channels.
    atom_counts : AtomCountDistribution
        ``p(N)`` (and ``p(N | c)``) from the training set.
    T : int
        Number of diffusion steps.
    schedule : dict
        ``{"shape": "polynomial"|"cosine", **kwargs}`` for :class:`NoiseSchedule`.
    denoiser : dict
        Keyword arguments of :class:`EGNNDenoiser` (``hidden``, ``num_layers``,
        ``layer_kwargs``).
    norm_values : (float, float, float)
        Scales of coordinates (Å), one-hot channels and the charge channel.
    conditions : sequence of str
        Names of the scalar properties the model is conditioned on.
    condition_mean, condition_mad : [C] tensors
        Normalisation of the conditions: ``(c - mean) / mad``.

    Batches are dicts with ``pos [N, 3]`` (Å), ``types [N]`` (index into
    ``species``), ``charges [N]`` (formal charge), ``batch [N]`` (sorted),
    ``num_atoms [B]`` and, for a conditional model, ``condition [B, C]``.

    Examples
    --------
    >>> counts = AtomCountDistribution.fit(torch.tensor([3, 4]))
    >>> model = EquivariantDiffusion([1, 6], counts, T=10, denoiser={"hidden": 8, "num_layers": 1})
    >>> batch = {"pos": torch.randn(7, 3), "types": torch.tensor([1, 0, 0, 1, 0, 0, 0]),
    ...          "charges": torch.zeros(7, dtype=torch.long),
    ...          "batch": torch.tensor([0, 0, 0, 1, 1, 1, 1]), "num_atoms": torch.tensor([3, 4])}
    >>> model.training_loss(batch)["loss"].shape
    torch.Size([])
    """

    def __init__(self, species: Sequence[int], atom_counts: AtomCountDistribution, T: int = 1000,
                 schedule: Optional[dict] = None, denoiser: Optional[dict] = None,
                 norm_values: Sequence[float] = (1.0, 4.0, 4.0), conditions: Sequence[str] = (),
                 condition_mean: Optional[torch.Tensor] = None, condition_mad: Optional[torch.Tensor] = None):
        super().__init__()
        self.species = [int(z) for z in species]
        self.num_types = len(self.species)
        self.num_features = self.num_types + 1
        self.max_charge = 2  # decoded formal charges are clamped to [-2, 2]
        self.T = int(T)
        schedule = dict(schedule or {"shape": "polynomial", "power": 2.0, "precision": 1e-5})
        self.schedule = NoiseSchedule(self.T, **schedule)
        self.schedule_config = schedule
        self.conditions = list(conditions)
        C = len(self.conditions)
        self.denoiser_config = dict(denoiser or {})
        self.denoiser = EGNNDenoiser(self.num_features, condition_dim=C, **self.denoiser_config)
        self.atom_counts = atom_counts
        self.norm_values = tuple(float(v) for v in norm_values)
        mean = torch.zeros(C) if condition_mean is None else torch.as_tensor(condition_mean).reshape(C)
        mad = torch.ones(C) if condition_mad is None else torch.as_tensor(condition_mad).reshape(C)
        self.register_buffer("condition_mean", mean.double())
        self.register_buffer("condition_mad", mad.double())

    # ------------------------------------------------------------------ config
    def to_config(self) -> dict:
        """Everything needed to rebuild this model (weights and histograms aside)."""
        return {
            "species": self.species, "T": self.T, "schedule": self.schedule_config,
            "denoiser": self.denoiser_config, "norm_values": list(self.norm_values),
            "conditions": self.conditions,
        }

    # ---------------------------------------------------------------- features
    def encode(self, batch: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
        """Normalised ``x [N, 3]`` (zero-centred) and ``h [N, F]`` of a batch."""
        B = batch["num_atoms"].shape[0]
        nx, nh, nc = self.norm_values
        x = remove_mean(batch["pos"], batch["batch"], B) / nx
        onehot = F.one_hot(batch["types"].long(), self.num_types).to(x.dtype) / nh
        charge = batch["charges"].to(x.dtype).unsqueeze(-1) / nc
        return x, torch.cat([onehot, charge], dim=-1)

    def decode(self, x: torch.Tensor, h: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Positions (Å), type indices and integer charges from normalised ``x, h``."""
        nx, nh, nc = self.norm_values
        types = torch.argmax(h[:, : self.num_types], dim=-1)
        charges = torch.round(h[:, self.num_types] * nc).clamp(-self.max_charge, self.max_charge).long()
        return {"pos": x * nx, "types": types, "charges": charges}

    def normalise_condition(self, batch: Batch, dtype: torch.dtype) -> Optional[torch.Tensor]:
        """``(c - mean) / mad`` of ``batch["condition"] [B, C]``, or None if unconditional."""
        if not self.conditions:
            return None
        if "condition" not in batch:
            raise ValueError(f"this model is conditioned on {self.conditions}; the batch has no 'condition'")
        c = batch["condition"].to(torch.float64).view(-1, len(self.conditions))
        return ((c - self.condition_mean) / self.condition_mad).to(dtype)

    def denoise(self, z_x, z_h, t: torch.Tensor, batch: torch.Tensor, num_graphs: int,
                condition: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Noise prediction at integer timesteps ``t [B]``."""
        return self.denoiser(z_x, z_h, t.to(z_x.dtype) / self.T, batch, num_graphs, condition)

    def sample_noise(self, batch: torch.Tensor, num_graphs: int, dtype, generator=None):
        """``(eps_x [N, 3]`` in the zero-centre subspace, ``eps_h [N, F])``."""
        eps_x = sample_zero_com_gaussian(batch, num_graphs, dtype=dtype, generator=generator)
        eps_h = torch.randn(batch.shape[0], self.num_features, dtype=dtype, device=batch.device,
                            generator=generator)
        return eps_x, eps_h

    def _alpha_sigma(self, t: torch.Tensor, dtype) -> Tuple[torch.Tensor, torch.Tensor]:
        gamma = self.schedule.gamma(t).to(dtype)
        return torch.sigmoid(-gamma).sqrt(), torch.sigmoid(gamma).sqrt()

    def _squared_error(self, batch: Batch, x, h, t, eps_x, eps_h, cond) -> torch.Tensor:
        """``|eps - eps_hat|^2`` per molecule ``[B]`` at timesteps ``t [B]``."""
        B, idx = batch["num_atoms"].shape[0], batch["batch"]
        alpha, sigma = self._alpha_sigma(t, x.dtype)
        z_x = alpha[idx, None] * x + sigma[idx, None] * eps_x
        z_h = alpha[idx, None] * h + sigma[idx, None] * eps_h
        pred_x, pred_h = self.denoise(z_x, z_h, t, idx, B, cond)
        per_atom = ((eps_x - pred_x) ** 2).sum(-1) + ((eps_h - pred_h) ** 2).sum(-1)
        return segment_sum(per_atom, idx, B)

    # -------------------------------------------------------------------- loss
    def training_loss(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """Simplified L2 objective; returns ``{"loss": scalar, "l2": [B]}``."""
        x, h = self.encode(batch)
        B, idx = batch["num_atoms"].shape[0], batch["batch"]
        t = torch.randint(0, self.T + 1, (B,), device=x.device)
        eps_x, eps_h = self.sample_noise(idx, B, x.dtype)
        err = self._squared_error(batch, x, h, t, eps_x, eps_h, self.normalise_condition(batch, x.dtype))
        dims = subspace_dim(batch["num_atoms"]) + batch["num_atoms"] * self.num_features
        l2 = err / dims.to(x.dtype)
        return {"loss": l2.mean(), "l2": l2}

    # --------------------------------------------------------------------- NLL
    def nll(self, batch: Batch, t: Optional[torch.Tensor] = None,
            noise: Optional[Tuple[torch.Tensor, ...]] = None) -> Dict[str, torch.Tensor]:
        """One-sample estimate of the variational bound on ``-log p(pos, types, charges, N)``.

        Parameters
        ----------
        batch : dict
            See the class docstring.
        t : [B] int tensor in ``1..T``, optional
            Timesteps of the diffusion term; uniform random if None.
        noise : (eps_x, eps_h, eps0_x, eps0_h), optional
            Noise for the diffusion term and for the ``t = 0`` term; random if
            None. Passing them makes the estimate deterministic (used by the
            invariance tests: rotate / permute the noise with the molecule).

        Returns
        -------
        dict of [B] tensors, nats per molecule: ``nll`` and its terms
        ``log_pN``, ``kl_prior``, ``diffusion``, ``recon`` and ``log_det``.
        """
        x, h = self.encode(batch)
        dtype, idx = x.dtype, batch["batch"]
        n = batch["num_atoms"]
        B = n.shape[0]
        cond = self.normalise_condition(batch, dtype)
        if t is None:
            t = torch.randint(1, self.T + 1, (B,), device=x.device)
        if noise is None:
            noise = self.sample_noise(idx, B, dtype) + self.sample_noise(idx, B, dtype)
        eps_x, eps_h, eps0_x, eps0_h = noise
        d_x = subspace_dim(n).to(dtype)
        d_h = (n * self.num_features).to(dtype)

        # KL(q(z_T | x, h) || N(0, I)) for the Gaussian parts
        a_T, s_T = self._alpha_sigma(torch.full((B,), self.T, device=x.device), dtype)
        r2 = segment_sum(a_T[idx] ** 2 * ((x**2).sum(-1) + (h**2).sum(-1)), idx, B)
        per_dim = 0.5 * (s_T**2 - 1.0 - torch.log(s_T**2))
        kl_prior = 0.5 * r2 + (d_x + d_h) * per_dim

        # T * L_t with L_t = 1/2 (SNR(t-1)/SNR(t) - 1) |eps - eps_hat|^2
        g_t, g_s = self.schedule.gamma(t).to(dtype), self.schedule.gamma(t - 1).to(dtype)
        weight = torch.expm1(g_t - g_s)
        diffusion = self.T * 0.5 * weight * self._squared_error(batch, x, h, t, eps_x, eps_h, cond)

        recon = -self._log_p_given_z0(batch, x, h, eps0_x, eps0_h, cond)
        log_det = d_x * math.log(self.norm_values[0])
        log_pN = self.atom_counts.log_prob(n).to(dtype)
        nll = -log_pN + kl_prior + diffusion + recon + log_det
        return {"nll": nll, "log_pN": log_pN, "kl_prior": kl_prior, "diffusion": diffusion,
                "recon": recon, "log_det": log_det}

    def _log_p_given_z0(self, batch: Batch, x, h, eps_x, eps_h, cond) -> torch.Tensor:
        """``log p(x, h | z_0)`` per molecule: Gaussian for x, discretised for types and charges."""
        idx, n = batch["batch"], batch["num_atoms"]
        B = n.shape[0]
        t0 = torch.zeros(B, dtype=torch.long, device=x.device)
        alpha, sigma = self._alpha_sigma(t0, x.dtype)
        z_x = alpha[idx, None] * x + sigma[idx, None] * eps_x
        z_h = alpha[idx, None] * h + sigma[idx, None] * eps_h
        pred_x, _ = self.denoise(z_x, z_h, t0, idx, B, cond)
        # x ~ N(x_hat, (sigma0/alpha0)^2) in the subspace; x - x_hat = -(sigma0/alpha0)(eps - eps_hat)
        d_x = subspace_dim(n).to(x.dtype)
        err = segment_sum(((eps_x - pred_x) ** 2).sum(-1), idx, B)
        log_px = -0.5 * err - d_x * (0.5 * math.log(2 * math.pi) + torch.log(sigma / alpha))
        # discretised likelihoods of the one-hot types and the integer charges
        _, nh, nc = self.norm_values
        std = (sigma / alpha)[idx]
        h_hat = z_h / alpha[idx, None]
        onehot_hat = h_hat[:, : self.num_types] * nh
        s_h = (std * nh)[:, None]
        log_bin = _log_bin_prob(onehot_hat - 1.0, s_h)  # [N, K]
        log_types = torch.log_softmax(log_bin, dim=-1).gather(-1, batch["types"].long()[:, None]).squeeze(-1)
        charge_hat = h_hat[:, self.num_types] * nc
        log_charge = _log_bin_prob(charge_hat - batch["charges"].to(x.dtype), std * nc)
        return log_px + segment_sum(log_types + log_charge, idx, B)


def _log_bin_prob(offset: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``log P(|u - value| < 1/2)`` for ``u ~ N(value + offset, std^2)``."""
    upper = torch.special.ndtr((0.5 - offset) / std)
    lower = torch.special.ndtr((-0.5 - offset) / std)
    return torch.log(upper - lower + 1e-10)
