"""A deliberately NON-equivariant message-passing representation.

It reads raw Cartesian edge vectors, so it is invariant to translations and
atom permutations but not to rotations or reflections: the baseline of the
symmetry study (``scripts/sample_efficiency.py``), to be trained with data
augmentation or wrapped by a canonicalizer (:mod:`molsym.symmetry.canonical`).
It follows the representation contract of :mod:`molsym.nn.representations`.
"""
from __future__ import annotations

import torch
from torch import nn

from molsym.nn.radial import RadialEmbedding


class RawCartesianMPNN(nn.Module):
    """Message passing on ``[h_sender, h_receiver, edge_vec / cutoff, radial(r)]``.

    Parameters
    ----------
    num_species : number of element types
    cutoff : Å
    avg_num_neighbors : normalises the message sum
    hidden : feature width; ``out_features == hidden``
    num_layers : message-passing steps
    num_radial : Bessel radial functions (times the smooth polynomial envelope)

    Example
    -------
    >>> rep = RawCartesianMPNN(num_species=2, cutoff=4.0, hidden=8)
    >>> species = torch.tensor([0, 1]); edge_index = torch.tensor([[0, 1], [1, 0]])
    >>> vec = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]])
    >>> rep(species, edge_index, vec, vec.norm(dim=1), torch.zeros(2, dtype=torch.long)).shape
    torch.Size([2, 8])
    """

    def __init__(self, num_species: int, cutoff: float, avg_num_neighbors: float = 10.0,
                 hidden: int = 64, num_layers: int = 2, num_radial: int = 8):
        super().__init__()
        self.cutoff, self.norm = float(cutoff), float(avg_num_neighbors)
        self.radial = RadialEmbedding(cutoff, num_radial)
        self.out_features = hidden
        self.embed = nn.Embedding(num_species, hidden)
        self.messages = nn.ModuleList(
            nn.Sequential(nn.Linear(2 * hidden + 3 + num_radial, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
            for _ in range(num_layers))
        self.updates = nn.ModuleList(
            nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
            for _ in range(num_layers))

    def forward(self, species, edge_index, edge_vec, edge_len, batch):
        send, recv = edge_index
        rbf, env = self.radial(edge_len)
        env = env[:, None]
        edge_feat = torch.cat([edge_vec / self.cutoff, rbf], 1)
        h = self.embed(species)
        for message, update in zip(self.messages, self.updates):
            m = message(torch.cat([h[send], h[recv], edge_feat], 1)) * env
            agg = torch.zeros_like(h).index_add_(0, recv, m) / self.norm
            h = h + update(torch.cat([h, agg], 1))
        return h


def direction_monomials(unit: torch.Tensor) -> torch.Tensor:
    """``[E,3]`` unit vectors -> ``[E,10]`` Cartesian monomials of degree ≤ 2:
    ``1, x, y, z, xx, yy, zz, xy, xz, yz`` (NOT rotation invariant)."""
    x, y, z = unit.unbind(1)
    return torch.stack([torch.ones_like(x), x, y, z, x * x, y * y, z * z, x * y, x * z, y * z], 1)


class DirectionalMPNN(nn.Module):
    """A stronger non-equivariant network: Cartesian density projections and their products.

    Every edge gets the basis ``radial(r) ⊗ monomials(v / r)`` (8 × 10 functions,
    smooth at the cutoff). Each layer projects the neighbourhood onto it channel
    by channel, ``A_i = Σ_j W_f(basis_ij) * W_h(h_j)``, and updates
    ``h_i += MLP([h_i, A_i, (W_1 A_i) * (W_2 A_i)])``; the product adds
    three-body (angular) correlations. In a fixed frame this is the
    atomic-cluster expansion without the Clebsch–Gordan coupling, so in a
    canonical frame it can be as expressive as an equivariant network of its
    size; on raw coordinates it depends on the orientation.

    Parameters as :class:`RawCartesianMPNN`.

    Example
    -------
    >>> rep = DirectionalMPNN(num_species=2, cutoff=4.0, hidden=8)
    >>> species = torch.tensor([0, 1]); edge_index = torch.tensor([[0, 1], [1, 0]])
    >>> vec = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]])
    >>> rep(species, edge_index, vec, vec.norm(dim=1), torch.zeros(2, dtype=torch.long)).shape
    torch.Size([2, 8])
    """

    def __init__(self, num_species: int, cutoff: float, avg_num_neighbors: float = 10.0,
                 hidden: int = 48, num_layers: int = 2, num_radial: int = 8):
        super().__init__()
        self.norm = float(avg_num_neighbors)
        self.radial = RadialEmbedding(cutoff, num_radial)
        self.out_features = hidden
        self.embed = nn.Embedding(num_species, hidden)
        nb = 10 * num_radial
        self.filters = nn.ModuleList(nn.Linear(nb, hidden, bias=False) for _ in range(num_layers))
        self.senders = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(num_layers))
        self.pairs = nn.ModuleList(nn.Linear(hidden, 2 * hidden, bias=False) for _ in range(num_layers))
        self.updates = nn.ModuleList(
            nn.Sequential(nn.Linear(3 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
            for _ in range(num_layers))

    def forward(self, species, edge_index, edge_vec, edge_len, batch):
        send, recv = edge_index
        rbf, _ = self.radial(edge_len)  # includes the envelope: zero at the cutoff
        unit = edge_vec / edge_len.clamp_min(torch.finfo(edge_len.dtype).tiny)[:, None]
        basis = (rbf[:, :, None] * direction_monomials(unit)[:, None, :]).flatten(1)
        h = self.embed(species)
        for filt, sender, pair, update in zip(self.filters, self.senders, self.pairs, self.updates):
            m = filt(basis) * sender(h)[send]
            a = torch.zeros_like(h).index_add_(0, recv, m) / self.norm
            a1, a2 = pair(a).chunk(2, dim=1)
            h = h + update(torch.cat([h, a, a1 * a2], 1))
        return h
