"""Radial functions: a Bessel basis and a smooth polynomial cutoff envelope.

The envelope ``u(r)`` of order ``p`` (Klicpera, Groß & Günnemann, 2020) is 1
at ``r = 0``, and its value, first and second derivatives vanish at the cutoff
``r_c``; it is exactly 0 beyond. Multiplying every radial feature (and every
message) by ``u`` makes energies and forces continuous as an atom crosses the
cutoff.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["BesselBasis", "PolynomialCutoff", "RadialEmbedding", "polynomial_envelope"]


def polynomial_envelope(d: torch.Tensor, p: int = 6) -> torch.Tensor:
    """The envelope of :class:`PolynomialCutoff` at reduced distance ``d = r / r_c`` (0 for d ≥ 1)."""
    u = (1.0 - 0.5 * (p + 1) * (p + 2) * d.pow(p) + p * (p + 2) * d.pow(p + 1)
         - 0.5 * p * (p + 1) * d.pow(p + 2))
    return torch.where(d < 1.0, u, torch.zeros_like(u))


class PolynomialCutoff(nn.Module):
    r"""Smooth envelope ``u(d) = 1 - (p+1)(p+2)/2 d^p + p(p+2) d^{p+1} - p(p+1)/2 d^{p+2}``.

    with ``d = r / r_c`` for ``d < 1`` and ``u = 0`` beyond.

    Parameters
    ----------
    cutoff : float
        ``r_c`` in Å.
    p : int, default 6
        Polynomial order; ``u``, ``u'`` and ``u''`` vanish at ``r_c``.

    Examples
    --------
    >>> env = PolynomialCutoff(5.0)
    >>> float(env(torch.tensor([0.0, 5.0, 6.0])).sum())
    1.0
    """

    def __init__(self, cutoff: float, p: int = 6):
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = int(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """``r [...]`` in Å → ``u [...]`` in [0, 1]."""
        return polynomial_envelope(r / self.cutoff, self.p)

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}, p={self.p}"


class BesselBasis(nn.Module):
    r"""``b_n(r) = sqrt(2/r_c) sin(n π r / r_c) / r`` for ``n = 1..num_basis``.

    Parameters
    ----------
    cutoff : float
        ``r_c`` in Å.
    num_basis : int, default 8
    trainable : bool, default False
        Learn the frequencies ``n π / r_c`` (initialised to those values).
    """

    def __init__(self, cutoff: float, num_basis: int = 8, trainable: bool = False):
        super().__init__()
        self.cutoff = float(cutoff)
        self.num_basis = int(num_basis)
        freq = torch.arange(1, num_basis + 1) * (math.pi / self.cutoff)  # default dtype, like the weights
        if trainable:
            self.freq = nn.Parameter(freq)
        else:
            self.register_buffer("freq", freq)
        self.prefactor = math.sqrt(2.0 / self.cutoff)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """``r [E]`` in Å (> 0) → ``[E, num_basis]``."""
        r = r.unsqueeze(-1)
        return self.prefactor * torch.sin(self.freq * r) / r

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}, num_basis={self.num_basis}"


class RadialEmbedding(nn.Module):
    """Bessel basis times the envelope: ``r [E]`` → ``(features [E, num_basis], u [E])``.

    Both outputs vanish smoothly at the cutoff.
    """

    def __init__(self, cutoff: float, num_basis: int = 8, p: int = 6, trainable: bool = False):
        super().__init__()
        self.basis = BesselBasis(cutoff, num_basis, trainable)
        self.envelope = PolynomialCutoff(cutoff, p)
        self.num_basis = int(num_basis)

    def forward(self, r: torch.Tensor):
        u = self.envelope(r)
        return self.basis(r) * u.unsqueeze(-1), u
