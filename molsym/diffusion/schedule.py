"""Noise schedules for discrete-time variational diffusion.

A schedule is a table over the integer timesteps ``t = 0 .. T`` of

* ``alpha2[t]`` — the signal variance :math:`\\alpha_t^2`,
* ``sigma2[t] = 1 - alpha2[t]`` — the noise variance (variance preserving),
* ``gamma[t] = log(sigma2 / alpha2)`` — the negative log signal-to-noise ratio.

``z_t = alpha_t * x + sigma_t * eps``. Two shapes are provided, both following
Hoogeboom et al. (2022), *Equivariant Diffusion for Molecule Generation in 3D*,
Sec. 3 and App. B:

``polynomial``
    :math:`f(t) = (1 - (t/T)^p)^2` with the per-step ratio
    :math:`\\alpha_t^2 / \\alpha_{t-1}^2` clipped from below at ``clip`` (so no
    single step destroys almost all signal), then the *precision clamp*
    :math:`\\alpha_t^2 = (1 - 2s) f(t) + s` which keeps
    :math:`\\alpha_0^2` just below 1 and :math:`\\alpha_T^2` just above 0.
``cosine``
    Nichol & Dhariwal (2021): :math:`f(t) = \\cos^2(\\frac{t/T + s}{1 + s}
    \\frac{\\pi}{2}) / f(0)` with the same step clip.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["NoiseSchedule", "polynomial_alpha2", "cosine_alpha2"]


def _clip_steps(alpha2: np.ndarray, clip: float) -> np.ndarray:
    """Clip every per-step ratio alpha2[t]/alpha2[t-1] to [clip, 1] and re-accumulate."""
    ratio = alpha2[1:] / alpha2[:-1]
    ratio = np.clip(ratio, clip, 1.0)
    return np.concatenate([[alpha2[0]], alpha2[0] * np.cumprod(ratio)])


def polynomial_alpha2(T: int, power: float = 2.0, precision: float = 1e-5, clip: float = 1e-3) -> np.ndarray:
    """Polynomial schedule with precision clamp; returns ``alpha2`` of shape ``[T + 1]``."""
    t = np.linspace(0.0, 1.0, T + 1)
    f = (1.0 - t**power) ** 2
    f = _clip_steps(np.maximum(f, 0.0) + 0.0, clip) if clip > 0 else f
    return (1.0 - 2.0 * precision) * f + precision


def cosine_alpha2(T: int, s: float = 0.008, precision: float = 1e-5, clip: float = 1e-3) -> np.ndarray:
    """Cosine schedule (Nichol & Dhariwal 2021) with step clip and the same precision clamp."""
    t = np.linspace(0.0, 1.0, T + 1)
    f = np.cos((t + s) / (1.0 + s) * math.pi / 2.0) ** 2
    f = f / f[0]
    f = np.maximum(f, 0.0)
    f[-1] = 0.0
    f = _clip_steps(np.concatenate([[f[0]], np.maximum(f[1:], 1e-12)]), clip) if clip > 0 else f
    return (1.0 - 2.0 * precision) * f + precision


_SHAPES = {"polynomial": polynomial_alpha2, "cosine": cosine_alpha2}


class NoiseSchedule(nn.Module):
    """Table of ``gamma(t)`` for integer ``t`` in ``0..T``, stored as a buffer.

    Parameters
    ----------
    T : int
        Number of diffusion steps.
    shape : {"polynomial", "cosine"}
        Schedule family.
    **kwargs
        Passed to :func:`polynomial_alpha2` (``power``, ``precision``, ``clip``)
        or :func:`cosine_alpha2` (``s``, ``precision``, ``clip``).

    Examples
    --------
    >>> sched = NoiseSchedule(1000, "polynomial", power=2.0)
    >>> a2 = sched.alpha2(torch.tensor([0, 1000]))
    >>> bool(a2[0] > 0.99 and a2[1] < 1e-4)
    True
    """

    def __init__(self, T: int = 1000, shape: str = "polynomial", **kwargs):
        super().__init__()
        if shape not in _SHAPES:
            raise ValueError(f"unknown noise schedule {shape!r}; choose one of {sorted(_SHAPES)}")
        self.T = int(T)
        self.shape = shape
        alpha2 = _SHAPES[shape](self.T, **kwargs)
        sigma2 = 1.0 - alpha2
        gamma = np.log(sigma2) - np.log(alpha2)
        self.register_buffer("gamma_table", torch.from_numpy(gamma), persistent=False)

    def gamma(self, t: torch.Tensor) -> torch.Tensor:
        """``gamma`` at integer timesteps ``t`` (any shape), in the table's dtype."""
        return self.gamma_table[t.long()]

    def alpha2(self, t: torch.Tensor) -> torch.Tensor:
        """Signal variance at integer ``t``."""
        return torch.sigmoid(-self.gamma(t))

    def sigma2(self, t: torch.Tensor) -> torch.Tensor:
        """Noise variance at integer ``t``."""
        return torch.sigmoid(self.gamma(t))
