"""The zero-centre-of-mass subspace and its isotropic Gaussian.

EDM diffuses coordinates in the linear subspace where every molecule's
centre of geometry is zero, which makes the likelihood translation invariant
(Hoogeboom et al. 2022, Sec. 3.2; Köhler et al. 2020). For a molecule of
``n`` atoms the subspace has ``d = (n - 1) * 3`` dimensions, and the
isotropic Gaussian restricted to it has density
``N(x | 0, s^2) = (2 pi s^2)^(-d/2) exp(-|x|^2 / (2 s^2))``.

All functions act on a flat batch: ``x [N, 3]`` with ``batch [N]`` giving each
atom's molecule index in ``0 .. B-1``.
"""
from __future__ import annotations

import math

import torch

__all__ = [
    "segment_sum",
    "segment_mean",
    "remove_mean",
    "sample_zero_com_gaussian",
    "subspace_dim",
    "zero_com_gaussian_log_prob",
]


def segment_sum(values: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Sum ``values [N, ...]`` per molecule → ``[B, ...]``."""
    out = values.new_zeros((num_graphs,) + tuple(values.shape[1:]))
    return out.index_add_(0, batch, values)


def segment_mean(values: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Mean of ``values [N, ...]`` per molecule → ``[B, ...]``."""
    counts = torch.bincount(batch, minlength=num_graphs).to(values.dtype).clamp(min=1)
    total = segment_sum(values, batch, num_graphs)
    return total / counts.view((-1,) + (1,) * (values.dim() - 1))


def remove_mean(x: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Project ``x [N, 3]`` onto the zero-centre subspace, molecule by molecule."""
    return x - segment_mean(x, batch, num_graphs)[batch]


def sample_zero_com_gaussian(batch: torch.Tensor, num_graphs: int, dtype=None, device=None,
                             generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise ``[N, 3]`` restricted to the zero-centre subspace.

    With a ``generator`` the draw is made on the generator's device and moved
    to ``device`` (default: ``batch``'s), so a CPU generator serves a GPU batch.
    """
    dtype = dtype or torch.get_default_dtype()
    device = device or batch.device
    draw_on = generator.device if generator is not None else device
    eps = torch.randn(batch.shape[0], 3, dtype=dtype, device=draw_on, generator=generator).to(device)
    return remove_mean(eps, batch, num_graphs)


def subspace_dim(num_atoms: torch.Tensor) -> torch.Tensor:
    """Degrees of freedom of the zero-centre subspace, ``(n - 1) * 3``, per molecule."""
    return (num_atoms - 1) * 3


def zero_com_gaussian_log_prob(x: torch.Tensor, batch: torch.Tensor, num_atoms: torch.Tensor,
                               scale: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Log density ``[B]`` of zero-centred ``x`` under ``N(0, scale^2)`` in the subspace."""
    B = num_atoms.shape[0]
    r2 = segment_sum((x**2).sum(-1), batch, B)
    d = subspace_dim(num_atoms).to(x.dtype)
    scale = torch.as_tensor(scale, dtype=x.dtype, device=x.device)
    return -0.5 * r2 / scale**2 - d * (0.5 * math.log(2 * math.pi) + torch.log(scale))
