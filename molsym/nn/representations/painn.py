"""PaiNN: polarizable atom interaction neural network (Schütt, Unke & Gastegger, 2021).

Every atom carries invariant scalars ``s [N, F]`` and equivariant vectors
``v [N, 3, F]``. A *message* block gathers from neighbours,

    Δs_i = Σ_j (φ_s(s_j) ∘ W_s(r_ij))
    Δv_i = Σ_j v_j ∘ (φ_vv(s_j) ∘ W_vv(r_ij)) + r̂_ij ∘ (φ_vs(s_j) ∘ W_vs(r_ij))

and an *update* block mixes scalars and vectors on each atom,

    Δv_i = a_vv(s_i, ‖V v_i‖) ∘ U v_i
    Δs_i = a_sv(s_i, ‖V v_i‖) ∘ ⟨U v_i, V v_i⟩ + a_ss(s_i, ‖V v_i‖).

Vectors enter scalars only through norms and dot products and the basis is a
Bessel expansion times a smooth envelope, so ``s`` is O(3)-invariant and
smooth at the cutoff. Each block is a handful of batched matrix products: the
fast representation of molsym.
"""
from __future__ import annotations

import torch
from torch import nn

from molsym.nn.radial import RadialEmbedding
from molsym.nn.representations.base import register_representation

__all__ = ["PaiNN"]


class PaiNNMessage(nn.Module):
    """Message block: neighbours' scalars and vectors → ``(Δs [N, F], Δv [N, 3, F])``.

    The radial filter ``W(r_ij) [E, 3F]`` is computed by :class:`PaiNN` for
    all blocks at once (one matrix product) and passed in.
    """

    def __init__(self, features: int, avg_num_neighbors: float):
        super().__init__()
        self.features = features
        self.phi = nn.Sequential(nn.Linear(features, features), nn.SiLU(), nn.Linear(features, 3 * features))
        self.norm = 1.0 / float(avg_num_neighbors)

    def forward(self, s, v, edge_index, unit, filt, first: bool = False):
        send, recv = edge_index[0], edge_index[1]
        x = self.phi(s)[send] * filt                                      # [E, 3F]
        ds, dv_v, dv_r = torch.split(x, self.features, dim=-1)            # [E, F] each
        dv = unit.unsqueeze(-1) * dv_r.unsqueeze(1)                       # [E, 3, F]
        if not first:  # before the first block every vector feature is zero
            dv = dv + v[send] * dv_v.unsqueeze(1)
        ds = torch.zeros_like(s).index_add_(0, recv, ds) * self.norm
        dv = torch.zeros_like(v).index_add_(0, recv, dv) * self.norm
        return ds, dv


class PaiNNUpdate(nn.Module):
    """Update block: per-atom mixing of scalars and vectors."""

    def __init__(self, features: int, eps: float = 1e-8):
        super().__init__()
        self.features = features
        self.UV = nn.Linear(features, 2 * features, bias=False)  # U and V in one product
        self.mlp = nn.Sequential(nn.Linear(2 * features, features), nn.SiLU(), nn.Linear(features, 3 * features))
        self.eps = eps

    def forward(self, s, v):
        uv, vv = torch.split(self.UV(v), self.features, dim=-1)           # [N, 3, F] each
        vnorm = torch.sqrt((vv * vv).sum(dim=1) + self.eps)               # [N, F]
        a_vv, a_sv, a_ss = torch.split(self.mlp(torch.cat([s, vnorm], dim=-1)), self.features, dim=-1)
        dv = a_vv.unsqueeze(1) * uv
        ds = a_sv * (uv * vv).sum(dim=1) + a_ss
        return ds, dv


@register_representation("painn")
class PaiNN(nn.Module):
    """PaiNN representation: invariant per-atom scalars ``[N, features]``.

    Parameters
    ----------
    num_species : int
    cutoff : float, Å
    avg_num_neighbors : float, default 10.0
        Sums over neighbours are divided by this number.
    hidden : int, default 64
    num_layers : int, default 3
        Message + update blocks.
    num_basis : int, default 16
        Bessel functions in the radial expansion.

    Examples
    --------
    >>> rep = PaiNN(num_species=2, cutoff=4.0, hidden=8, num_layers=1)
    >>> ei = torch.tensor([[0, 1], [1, 0]])
    >>> vec = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]])
    >>> rep(torch.tensor([0, 1]), ei, vec, vec.norm(dim=-1), torch.zeros(2, dtype=torch.long)).shape
    torch.Size([2, 8])
    """

    #: Tiny hyperparameters used by the physics test suite.
    test_hyperparameters = {"hidden": 8, "num_layers": 2, "num_basis": 6}

    def __init__(self, num_species: int, cutoff: float, avg_num_neighbors: float = 10.0,
                 hidden: int = 64, num_layers: int = 3, num_basis: int = 16):
        super().__init__()
        self.out_features = int(hidden)
        self.embedding = nn.Embedding(num_species, hidden)
        self.radial = RadialEmbedding(cutoff, num_basis)
        # radial filters of all blocks in one linear map; no bias, so they vanish at the cutoff
        self.filters = nn.Linear(num_basis, num_layers * 3 * hidden, bias=False)
        self.messages = nn.ModuleList(PaiNNMessage(hidden, avg_num_neighbors) for _ in range(num_layers))
        self.updates = nn.ModuleList(PaiNNUpdate(hidden) for _ in range(num_layers))

    def forward(self, species, edge_index, edge_vec, edge_len, batch):
        s = self.embedding(species)                                        # [N, F]
        v = s.new_zeros(s.shape[0], 3, s.shape[1])                         # [N, 3, F]
        radial, _ = self.radial(edge_len)                                  # [E, num_basis]
        filters = torch.chunk(self.filters(radial), len(self.messages), dim=-1)  # L x [E, 3F]
        unit = edge_vec / edge_len.unsqueeze(-1)                           # [E, 3]
        for k, (message, update) in enumerate(zip(self.messages, self.updates)):
            ds, dv = message(s, v, edge_index, unit, filters[k], first=k == 0)
            s, v = s + ds, v + dv
            ds, dv = update(s, v)
            s, v = s + ds, v + dv
        return s
