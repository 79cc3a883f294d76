"""ACE: molsym's accuracy flagship, a higher-order E(3)-equivariant message-passing network.

The architecture follows the MACE construction (Batatia et al., NeurIPS 2022)
on the NequIP-style equivariant convolution (Batzner et al., Nat. Commun.
2022); the implementation is molsym's own, formulated as few, large kernels
(see :mod:`molsym.nn.layers.ace_basis` and :mod:`molsym.nn.layers.ace_ops`).

For every interaction ``t = 1..T`` and atom ``i`` with species ``z_i``:

1. **Atomic basis** (one-particle, equivariant, ``l ≤ max_l``)::

       A_i = W_A · (1/avg_num_neighbors) Σ_j R_t(r_ij) (W_up h_j ⊗ Y(r̂_ij))

   ``Y`` are e3nn's spherical harmonics, ``R_t`` one radial weight per channel
   and tensor-product path from an MLP on a Bessel basis times a smooth
   polynomial cutoff (shared trunk for all interactions), ``⊗`` channel-wise
   Clebsch–Gordan products with natural parity only.
2. **Many-body product** (body order ``correlation + 1``)::

       m_i = W_m · Σ_b w_{z_i, b} B_b(A_i)

   where ``B_b`` span the equivariant polynomials of degree ``≤ correlation``
   in each channel of ``A_i``.
3. **Update** with a species-dependent residual::

       h_i ← m_i + W_sc[z_i] · h_i

The first interaction starts from a learned per-species embedding; the last
keeps only scalars. The output is the concatenation of the scalar channels
after every interaction, ``out_features = channels · num_interactions``, so
the energy head sees every layer. Every feature is a natural-parity irrep
(``0e, 1o, 2e, ...``), so the output is exactly O(3)-invariant, reflections
included.

Examples
--------
>>> import torch
>>> rep = ACE(num_species=3, cutoff=5.0, channels=8)
>>> vec = torch.randn(6, 3)
>>> out = rep(torch.tensor([0, 1, 2]), torch.tensor([[0, 1, 0, 2, 1, 2], [1, 0, 2, 0, 2, 1]]),
...           vec, vec.norm(dim=1), torch.zeros(3, dtype=torch.long))
>>> out.shape
torch.Size([3, 16])
"""
from __future__ import annotations

import math
from typing import List

import torch
from torch import nn

from molsym.nn.layers.ace_ops import (ChannelLinear, EdgeTensorProduct, SpeciesChannelLinear,
                                      SphericalHarmonics, SymmetricProduct)
from molsym.nn.radial import RadialEmbedding
from molsym.nn.representations.base import register_representation

__all__ = ["ACE", "ACEInteraction"]


class ACEInteraction(nn.Module):
    """One interaction: equivariant convolution → product basis → update.

    Parameters
    ----------
    num_species, channels : int
    in_l : int
        Highest ``l`` of the incoming node features (0 for the first interaction).
    max_l : int
        Highest ``l`` of the spherical harmonics and of the atomic basis ``A``.
    out_l : int
        Highest ``l`` of the outgoing node features (0 for the last interaction).
    correlation : int
        Polynomial degree of the product basis.
    avg_num_neighbors : float
        Normalisation of the neighbour sum.
    residual : bool
        Add the species-dependent self-connection.
    """

    def __init__(self, num_species: int, channels: int, in_l: int, max_l: int, out_l: int,
                 correlation: int, avg_num_neighbors: float, residual: bool,
                 high_order_init: float = 1.0, high_order_scale: float = 1.0):
        super().__init__()
        self.in_l, self.out_l = in_l, out_l
        self.d_out = (out_l + 1) ** 2
        self.up = ChannelLinear(channels, channels, in_l) if in_l > 0 else None
        self.conv = EdgeTensorProduct(in_l, max_l, max_l)
        self.num_paths = self.conv.num_paths
        self.linear_A = ChannelLinear(channels, channels, max_l)
        self.product = SymmetricProduct(num_species, channels, max_l, correlation, out_l,
                                        high_order_init, high_order_scale)
        self.linear_m = ChannelLinear(channels, channels, out_l)
        self.skip = SpeciesChannelLinear(num_species, channels, channels, min(in_l, out_l)) \
            if residual else None
        self.norm = 1.0 / float(avg_num_neighbors)

    def forward(self, h: torch.Tensor, species: torch.Tensor, Y: torch.Tensor, R: torch.Tensor,
                edge_index: torch.Tensor) -> torch.Tensor:
        """``h [D_in, N, C]``, ``R [E, P, C]`` → ``h' [D_out, N, C]``."""
        x = self.up(h) if self.up is not None else h
        x = x.transpose(0, 1).contiguous()                                # [N, D_in, C]
        agg = self.conv(x, Y, R, edge_index, h.shape[1])                  # [N, D, C]
        A = self.linear_A(agg.transpose(0, 1)) * self.norm                # [D, N, C]
        m = self.linear_m(self.product(A, species))
        if self.skip is not None:
            m = m + self.skip(h[:self.d_out], species)
        return m


@register_representation("ace")
class ACE(nn.Module):
    """Higher-order equivariant message passing (MACE family) → invariant per-atom features.

    Parameters
    ----------
    num_species : int
        Number of species; ``species`` indices run over ``0..num_species-1``.
    cutoff : float
        Radial cutoff in Å.
    avg_num_neighbors : float, default 10.0
        Typical neighbour count; neighbour sums are divided by it.
    channels : int, default 32
        Channels per irrep.
    max_l : int, default 2
        Highest ``l`` of the spherical harmonics and of the atomic basis.
    correlation : int, default 3
        Degree of the product basis (body order ``correlation + 1``), 1–3.
    num_interactions : int, default 2
    num_radial : int, default 8
        Bessel functions.
    hidden_l : int, default 1
        Highest ``l`` of the node features passed from one interaction to the
        next (MACE's ``max_L``); the spherical harmonics, atomic basis and
        product basis inside every interaction still go to ``max_l``.
        ``hidden_l = 2`` is ~1.6× slower at 1000 atoms.
    radial_hidden : int, default 64
        Width of the radial MLP (two hidden layers, SiLU, no biases, shared
        by all interactions).
    envelope_p : int, default 6
        Order of the polynomial cutoff.
    high_order_init : float, default 1.0
        Initial weight scale of the product basis's degree ≥ 2 terms relative
        to the linear ones.
    high_order_scale : float, default 1.0
        Fixed factor ``s^(d−1)`` on the degree-``d`` product weights during the
        whole of training (a smoothness prior; :class:`SymmetricProduct`).

    Attributes
    ----------
    out_features : int
        ``channels * num_interactions``.
    """

    #: tiny sizes for the shared physics test suite
    test_hyperparameters = {"channels": 8, "num_radial": 6, "radial_hidden": 16}

    def __init__(self, num_species: int, cutoff: float, avg_num_neighbors: float = 10.0,
                 channels: int = 32, max_l: int = 2, correlation: int = 3, num_interactions: int = 2,
                 num_radial: int = 8, hidden_l: int = 1, radial_hidden: int = 64,
                 envelope_p: int = 6, high_order_init: float = 1.0, high_order_scale: float = 1.0):
        super().__init__()
        if num_interactions < 1:
            raise ValueError(f"num_interactions must be ≥ 1, got {num_interactions}")
        hidden_l = min(hidden_l, max_l)
        if hidden_l < 0:
            raise ValueError(f"hidden_l must be ≥ 0, got {hidden_l}")
        self.cutoff = float(cutoff)
        self.channels, self.max_l, self.hidden_l = channels, max_l, hidden_l
        self.num_interactions = num_interactions
        self.out_features = channels * num_interactions
        self.sh = SphericalHarmonics(max_l)

        self.embedding = nn.Parameter(torch.randn(num_species, channels))
        self.radial = RadialEmbedding(cutoff, num_radial, envelope_p)
        self.layers = nn.ModuleList()
        for t in range(num_interactions):
            in_l = 0 if t == 0 else hidden_l
            out_l = hidden_l if t < num_interactions - 1 else 0
            self.layers.append(ACEInteraction(num_species, channels, in_l, max_l, out_l, correlation,
                                              avg_num_neighbors, residual=t > 0,
                                              high_order_init=high_order_init,
                                              high_order_scale=high_order_scale))
        self.radial_trunk = nn.Sequential(
            nn.Linear(num_radial, radial_hidden, bias=False), nn.SiLU(),
            nn.Linear(radial_hidden, radial_hidden, bias=False), nn.SiLU())
        self.path_counts: List[int] = [layer.num_paths for layer in self.layers]
        self.total_paths = sum(self.path_counts)
        self.radial_out = nn.Linear(radial_hidden, self.total_paths * channels, bias=False)
        self._init_radial(cutoff, radial_hidden)

    def _init_radial(self, cutoff: float, width: int) -> None:
        """Variance-preserving initialisation of the radial MLP (no runtime cost).

        The first layer is scaled by the root-mean-square of the Bessel × envelope
        features over ``cutoff/5 < r < cutoff`` (typical neighbour distances), later layers by the second moment of SiLU
        on unit Gaussians, so radial weights start with unit scale.
        """
        with torch.no_grad():
            r = torch.linspace(0.2 * cutoff, cutoff, 1001, dtype=torch.float64)[:-1]
            feat_rms = float(self.radial.to(torch.float64)(r)[0].pow(2).mean().sqrt())
            self.radial.to(torch.get_default_dtype())
            x = torch.linspace(-8.0, 8.0, 16001, dtype=torch.float64)
            gauss = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
            silu_gain = float(1.0 / ((nn.functional.silu(x) ** 2 * gauss).sum() * (x[1] - x[0])).sqrt())
            first, second = self.radial_trunk[0], self.radial_trunk[2]
            nn.init.normal_(first.weight, std=1.0 / (math.sqrt(first.in_features) * feat_rms))
            nn.init.normal_(second.weight, std=silu_gain / math.sqrt(width))
            nn.init.normal_(self.radial_out.weight, std=silu_gain / math.sqrt(width))

    def forward(self, species: torch.Tensor, edge_index: torch.Tensor, edge_vec: torch.Tensor,
                edge_len: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """Invariant per-atom features.

        Parameters
        ----------
        species : [N] int64
            Species index of every atom.
        edge_index : [2, E] int64
            (sender, receiver).
        edge_vec : [E, 3] Å
            ``pos[receiver] - pos[sender]`` (+ cell shift).
        edge_len : [E] Å
            ``|edge_vec|``, > 0.
        batch : [N] int64
            Graph of every atom (unused: atoms only interact through edges).

        Returns
        -------
        [N, channels * num_interactions]
        """
        Y = self.sh(edge_vec / edge_len.unsqueeze(-1))                           # [E, D]
        basis, _ = self.radial(edge_len)                                          # [E, nb]
        radial = self.radial_out(self.radial_trunk(basis))                        # [E, C·ΣP]
        radial = radial.view(-1, self.total_paths, self.channels)                # [E, ΣP, C]
        h = self.embedding.index_select(0, species).unsqueeze(0)                  # [1, N, C]
        feats = []
        radials = torch.split(radial, self.path_counts, dim=1)   # split: cheap backward
        for t, layer in enumerate(self.layers):
            h = layer(h, species, Y, radials[t], edge_index)                      # [D, N, C]
            feats.append(h[0])                                                    # [N, C]
        return torch.cat(feats, dim=-1)
