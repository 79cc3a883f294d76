"""E(3)-equivariant variational diffusion over coordinates, atom types and charges.

A molecule is ``x [n, 3]`` (Å, zero-centred) and invariant features
``h = [onehot(type) / norm_h, charge / norm_c]`` (``F = K + 1`` channels).
The forward process is ``z_t = alpha_t [x, h] + sigma_t eps`` with the
coordinate noise drawn in the zero-centre subspace; the denoiser predicts
``eps``. This module holds

* :meth:`EquivariantDiffusion.training_loss` — the simplified L2 loss
  ``|eps - eps_hat|^2`` averaged over dimensions, with ``t ~ U{0..T}``
  (what ``molsym train`` optimises, see ``configs/qm9_edm.yaml``);
* :meth:`EquivariantDiffusion.nll` — the full variational bound
  ``-log p(N) + KL(q(z_T|x,h) | N(0, I)) + T E_t[L_t] - log p(x, h | z_0)``
  with ``L_t = 1/2 (SNR(t-1)/SNR(t) - 1) |eps - eps_hat|^2``, in nats per
  molecule (Hoogeboom et al. 2022, Sec. 3.3 and App. A).

Sampling lives in :mod:`molsym.diffusion.sampler`; :meth:`EquivariantDiffusion.sample_molecules`
returns :class:`~molsym.generate.GeneratedMolecule` records like every molsym generator.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

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
    atom_counts : AtomCountDistribution, counts ``[max_N + 1]`` or dict
        ``p(N)`` (and ``p(N | c)``) from the training set, in any form
        :meth:`AtomCountDistribution.from_spec` reads (``molsym train``
        passes plain lists, see :meth:`config_from_statistics`).
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
    condition_mean, condition_mad : [C] tensors or lists
        Normalisation of the conditions: ``(c - mean) / mad`` (default 0 and 1).

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

    #: dict-valued arguments that are keyword arguments of another class (checked by molsym.train.schema)
    config_sections = {"schedule": (NoiseSchedule, 1), "denoiser": (EGNNDenoiser, 1, ("condition_dim",))}

    def __init__(self, species: Sequence[int], atom_counts, T: int = 1000,
                 schedule: Optional[dict] = None, denoiser: Optional[dict] = None,
                 norm_values: Sequence[float] = (1.0, 4.0, 4.0), conditions: Sequence[str] = (),
                 condition_mean=None, condition_mad=None):
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
        self.atom_counts = AtomCountDistribution.from_spec(atom_counts)
        self.norm_values = tuple(float(v) for v in norm_values)
        mean = torch.zeros(C) if condition_mean is None else torch.as_tensor(condition_mean, dtype=torch.float64)
        mad = torch.ones(C) if condition_mad is None else torch.as_tensor(condition_mad, dtype=torch.float64)
        mean, mad = mean.reshape(C), mad.reshape(C)
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

    @classmethod
    def config_from_statistics(cls, init_args: Dict[str, Any], stats: Dict[str, Any]) -> Dict[str, Any]:
        """Constructor arguments completed from the training data (``molsym train`` calls this).

        For a conditional model: ``condition_mean`` / ``condition_mad`` (mean
        and mean absolute deviation of each condition) and ``atom_counts``
        with the conditional histogram ``p(N | c)`` over the first condition,
        each where absent or ``auto``; all as plain lists. ``stats`` is the
        data module's ``statistics``: ``num_atoms [n]`` and, when
        conditioned, ``conditions`` (names) and ``condition [n, C]``
        (training values). An unconditional model's ``atom_counts`` is left
        to ``molsym train`` (the histogram of ``num_atoms``).
        """
        args = dict(init_args)
        conditions = list(args.get("conditions") or [])
        if not conditions:
            for key in ("condition_mean", "condition_mad"):
                if args.get(key) == "auto":
                    del args[key]
            return args
        have = list(stats.get("conditions") or [])
        if have != conditions or "condition" not in stats:
            raise ValueError(f"model.init_args.conditions is {conditions} but the data module provides the "
                             f"conditions {have}: set data.init_args.conditions to the same list")
        values = torch.as_tensor(stats["condition"], dtype=torch.float64).reshape(-1, len(conditions))
        mean = values.mean(0)
        mad = (values - mean).abs().mean(0)
        mad = torch.where(mad > 0, mad, torch.ones_like(mad))
        if args.get("condition_mean", "auto") == "auto":
            args["condition_mean"] = mean.tolist()
        if args.get("condition_mad", "auto") == "auto":
            args["condition_mad"] = mad.tolist()
        if args.get("atom_counts", "auto") == "auto":
            args["atom_counts"] = AtomCountDistribution.fit(stats["num_atoms"], values[:, 0]).to_config()
        return args

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
        c = batch["condition"].to(device=self.condition_mean.device, dtype=torch.float64)
        c = c.view(-1, len(self.conditions))
        return ((c - self.condition_mean) / self.condition_mad).to(dtype)

    def denoise(self, z_x, z_h, t: torch.Tensor, batch: torch.Tensor, num_graphs: int,
                condition: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Noise prediction at integer timesteps ``t [B]``."""
        return self.denoiser(z_x, z_h, t.to(z_x.dtype) / self.T, batch, num_graphs, condition)

    def sample_noise(self, batch: torch.Tensor, num_graphs: int, dtype, generator=None):
        """``(eps_x [N, 3]`` in the zero-centre subspace, ``eps_h [N, F])`` on ``batch``'s device.

        With a ``generator`` the draws are made on its device (a CPU generator
        serves a GPU model), else with the global RNG of ``batch``'s device.
        """
        eps_x = sample_zero_com_gaussian(batch, num_graphs, dtype=dtype, generator=generator)
        draw_on = generator.device if generator is not None else batch.device
        eps_h = torch.randn(batch.shape[0], self.num_features, dtype=dtype, device=draw_on, generator=generator)
        return eps_x, eps_h.to(batch.device)

    def sample_timesteps(self, num_graphs: int, low: int, device, generator=None) -> torch.Tensor:
        """``t ~ U{low..T}`` for every molecule ``[B]`` (drawn like :meth:`sample_noise`)."""
        draw_on = generator.device if generator is not None else device
        return torch.randint(low, self.T + 1, (num_graphs,), device=draw_on, generator=generator).to(device)

    def _alpha_sigma(self, t: torch.Tensor, dtype) -> Tuple[torch.Tensor, torch.Tensor]:
        gamma = self.schedule.gamma(t).to(dtype)
        return torch.sigmoid(-gamma).sqrt(), torch.sigmoid(gamma).sqrt()

    def _squared_error(self, batch: Batch, x, h, t, eps_x, eps_h, cond) -> Tuple[torch.Tensor, torch.Tensor]:
        """``|eps_x - eps_hat_x|^2`` per molecule ``[B]`` and ``|eps_h - eps_hat_h|^2`` per molecule
        and channel ``[B, F]``, at timesteps ``t [B]``."""
        B, idx = batch["num_atoms"].shape[0], batch["batch"]
        alpha, sigma = self._alpha_sigma(t, x.dtype)
        z_x = alpha[idx, None] * x + sigma[idx, None] * eps_x
        z_h = alpha[idx, None] * h + sigma[idx, None] * eps_h
        pred_x, pred_h = self.denoise(z_x, z_h, t, idx, B, cond)
        return segment_sum(((eps_x - pred_x) ** 2).sum(-1), idx, B), segment_sum((eps_h - pred_h) ** 2, idx, B)

    # -------------------------------------------------------------------- loss
    def training_loss(self, batch: Batch, generator: Optional[torch.Generator] = None) -> Dict[str, torch.Tensor]:
        """Simplified L2 objective ``|eps - eps_hat|^2`` per dimension, ``t ~ U{0..T}``.

        Parameters
        ----------
        batch : dict
            See the class docstring.
        generator : torch.Generator, optional
            Source of the timesteps and the noise (validation passes a seeded
            one, so its loss is repeatable); the global RNG when None.

        Returns
        -------
        dict of scalars: ``loss`` and its parts ``pos``, ``types`` and
        ``charges`` (the coordinate, one-hot and charge channels; they add up
        to ``loss``), each a mean over molecules of squared error per dimension.
        """
        x, h = self.encode(batch)
        n, idx = batch["num_atoms"], batch["batch"]
        B = n.shape[0]
        t = self.sample_timesteps(B, 0, x.device, generator)
        eps_x, eps_h = self.sample_noise(idx, B, x.dtype, generator)
        err_x, err_h = self._squared_error(batch, x, h, t, eps_x, eps_h, self.normalise_condition(batch, x.dtype))
        dims = (subspace_dim(n) + n * self.num_features).to(x.dtype)
        parts = {"pos": err_x, "types": err_h[:, : self.num_types].sum(-1), "charges": err_h[:, self.num_types]}
        terms = {name: (err / dims).mean() for name, err in parts.items()}
        return {"loss": terms["pos"] + terms["types"] + terms["charges"], **terms}

    def validation_metrics(self, batch: Batch, generator: Optional[torch.Generator] = None) -> Dict[str, torch.Tensor]:
        """What validation reports beside the loss, means over the batch in nats per molecule:
        ``nll``, the one-sample variational bound of :meth:`nll` (infinite when a molecule's size
        never occurs in training), and ``nll_given_n``, the same bound without ``-log p(N)``.
        The draws come from ``generator``."""
        out = self.nll(batch, generator=generator)
        given_n = out["kl_prior"] + out["diffusion"] + out["recon"] + out["log_det"]
        return {"nll": out["nll"].mean(), "nll_given_n": given_n.mean()}

    # ---------------------------------------------------------------- sampling
    def sample_molecules(self, num: int, steps: Optional[int] = None, generator: Optional[torch.Generator] = None,
                         batch_size: int = 100, method: str = "ancestral", eta: float = 0.0,
                         condition=None, num_atoms: Optional[torch.Tensor] = None,
                         progress: bool = False) -> List[Any]:
        """``num`` molecules as :class:`~molsym.generate.GeneratedMolecule` (no bonds).

        See :func:`molsym.diffusion.sampler.sample_molecules` for the arguments.
        """
        from .sampler import sample_molecules

        return sample_molecules(self, num, steps=steps, generator=generator, batch_size=batch_size, method=method,
                                eta=eta, condition=condition, num_atoms=num_atoms, progress=progress)

    # --------------------------------------------------------------------- NLL
    def nll(self, batch: Batch, t: Optional[torch.Tensor] = None,
            noise: Optional[Tuple[torch.Tensor, ...]] = None,
            generator: Optional[torch.Generator] = None) -> Dict[str, torch.Tensor]:
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
        generator : torch.Generator, optional
            Source of the ``t`` and ``noise`` not passed (global RNG if None).

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
            t = self.sample_timesteps(B, 1, x.device, generator)
        if noise is None:
            noise = self.sample_noise(idx, B, dtype, generator) + self.sample_noise(idx, B, dtype, generator)
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
        err_x, err_h = self._squared_error(batch, x, h, t, eps_x, eps_h, cond)
        diffusion = self.T * 0.5 * weight * (err_x + err_h.sum(-1))

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
