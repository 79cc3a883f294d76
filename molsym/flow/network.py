"""The flow generator's network: dense E(3)-equivariant message passing with bond features.

State per molecule: invariant atom features ``h [B, N, F]``, invariant,
symmetric pair features ``e [B, N, N, E]`` (the bond channel) and positions
``x [B, N, 3]`` (Å). Every pair of atoms is an edge. One :class:`FlowLayer`

1. forms a message ``m_ij`` from ``h_i``, ``h_j``, ``e_ij`` and a Gaussian
   expansion of ``|x_i − x_j|`` (the first linear map is split per input, so
   the per-pair cost is that of the small pair widths, not ``2F``);
2. updates atoms with the gated mean of their messages,
3. updates pairs with ``(m_ij + m_ji) / 2`` (keeps ``e`` symmetric),
4. moves atoms along the pair vectors, ``x_i += mean_j (x_i − x_j)/(|x_i − x_j| + 1) · φ(m_ij)``.

Only distances enter the invariant channels and positions move only along
pair vectors, so ``h`` and ``e`` are invariant and ``x`` equivariant under
rotations, reflections and translations, and all three are equivariant under
permutations of the atoms (tested in ``tests/flow/test_network.py``).
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["GaussianDistances", "TimeEmbedding", "FlowLayer", "FlowNetwork"]


class GaussianDistances(nn.Module):
    """``exp(-((d - μ_k) / w)²)`` on ``num`` centres evenly spaced in [0, ``cutoff``] Å."""

    def __init__(self, num: int = 20, cutoff: float = 7.0):
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, cutoff, num))
        self.width = cutoff / (num - 1)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return torch.exp(-((d.unsqueeze(-1) - self.centres) / self.width) ** 2)


class TimeEmbedding(nn.Module):
    """Sinusoidal features of ``t ∈ [0, 1]`` followed by a two-layer MLP."""

    def __init__(self, dim: int, frequencies: int = 16):
        super().__init__()
        self.register_buffer("freq", math.pi * torch.arange(1, frequencies + 1, dtype=torch.float32))
        self.mlp = nn.Sequential(nn.Linear(2 * frequencies, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        arg = t.unsqueeze(-1) * self.freq.to(t.dtype)
        return self.mlp(torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1))


class FlowLayer(nn.Module):
    """One dense message-passing layer over atoms, pairs and positions (module docstring)."""

    def __init__(self, hidden: int, edge_dim: int, msg_dim: int, num_rbf: int):
        super().__init__()
        self.receiver = nn.Linear(hidden, msg_dim)
        self.sender = nn.Linear(hidden, msg_dim, bias=False)
        self.pair_in = nn.Linear(edge_dim, msg_dim, bias=False)
        self.dist_in = nn.Linear(num_rbf, msg_dim, bias=False)
        self.message = nn.Sequential(nn.SiLU(), nn.Linear(msg_dim, msg_dim), nn.SiLU())
        self.gate = nn.Linear(msg_dim, 1)
        self.node = nn.Sequential(nn.Linear(hidden + msg_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.pair_out = nn.Linear(msg_dim, edge_dim)
        self.coord = nn.Linear(msg_dim, 1, bias=False)
        nn.init.normal_(self.coord.weight, std=1e-3)
        self.node_norm = nn.LayerNorm(hidden)
        self.pair_norm = nn.LayerNorm(edge_dim)

    def forward(self, h, e, x, rbf, pair_mask, inv_count, node_mask):
        """``h [B,N,F]``, ``e [B,N,N,E]``, ``x [B,N,3]``, ``rbf`` (distance expansion module),
        ``pair_mask [B,N,N]`` float, ``inv_count [B,N,1]`` = 1/(n−1), ``node_mask [B,N,1]`` float."""
        diff = x.unsqueeze(2) - x.unsqueeze(1)                       # [B, N, N, 3]  x_i - x_j
        dist = torch.sqrt((diff * diff).sum(-1) + 1e-8)               # [B, N, N]
        pre = (self.receiver(h).unsqueeze(2) + self.sender(h).unsqueeze(1) + self.pair_in(e)
               + self.dist_in(rbf(dist)))
        m = self.message(pre) * pair_mask.unsqueeze(-1)              # [B, N, N, M]
        gated = m * torch.sigmoid(self.gate(m))
        agg = gated.sum(2) * inv_count                               # [B, N, M]
        h = self.node_norm(h + self.node(torch.cat([h, agg], dim=-1)))
        e = self.pair_norm(e + self.pair_out(0.5 * (m + m.transpose(1, 2))))
        w = self.coord(m).squeeze(-1) * pair_mask                    # [B, N, N]
        step = (diff / (dist.unsqueeze(-1) + 1.0) * w.unsqueeze(-1)).sum(2) * inv_count
        x = (x + step) * node_mask
        return h, e, x


class FlowNetwork(nn.Module):
    """Predicts the clean molecule (positions, atom types, charges, bonds) from a noisy one.

    Parameters
    ----------
    num_types, num_charges, num_bonds : int
        Class counts; each input also has a MASK token (the last index).
    hidden : int
        Atom feature width ``F``.
    edge_dim : int
        Pair (bond) feature width ``E``.
    msg_dim : int
        Message width ``M``.
    num_layers : int
    num_rbf : int
        Gaussians in the distance expansion (0 to ``rbf_cutoff`` Å).
    rbf_cutoff : float
    self_condition : bool
        Take an earlier prediction as a further input (self-conditioning;
        :meth:`molsym.flow.FlowMatchingGenerator.training_loss` feeds one on
        half of the steps, the sampler the previous step's).

    Examples
    --------
    >>> net = FlowNetwork(5, 3, 5, hidden=16, edge_dim=8, msg_dim=8, num_layers=1)
    >>> x = torch.randn(2, 4, 3); mask = torch.ones(2, 4, dtype=torch.bool)
    >>> out = net(x, torch.full((2, 4), 5), torch.full((2, 4), 3), torch.full((2, 4, 4), 5), torch.rand(2), mask)
    >>> out["pos"].shape, out["bonds"].shape
    (torch.Size([2, 4, 3]), torch.Size([2, 4, 4, 5]))
    """

    def __init__(self, num_types: int, num_charges: int, num_bonds: int, hidden: int = 128, edge_dim: int = 32,
                 msg_dim: int = 64, num_layers: int = 6, num_rbf: int = 20, rbf_cutoff: float = 7.0,
                 self_condition: bool = False):
        super().__init__()
        self.self_condition = bool(self_condition)
        if self.self_condition:  # the previous prediction as input: its distances, type/charge/bond probabilities
            self.cond_atoms = nn.Linear(num_types + num_charges, hidden, bias=False)
            self.cond_pairs = nn.Linear(num_bonds + num_rbf, edge_dim, bias=False)
        self.type_embed = nn.Embedding(num_types + 1, hidden)
        self.charge_embed = nn.Embedding(num_charges + 1, hidden)
        self.bond_embed = nn.Embedding(num_bonds + 1, edge_dim)
        self.time = TimeEmbedding(hidden)
        self.time_per_layer = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(num_layers))
        self.rbf = GaussianDistances(num_rbf, rbf_cutoff)
        self.layers = nn.ModuleList(FlowLayer(hidden, edge_dim, msg_dim, num_rbf) for _ in range(num_layers))
        self.type_head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, num_types))
        self.charge_head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, num_charges))
        self.bond_dist = nn.Linear(num_rbf, edge_dim, bias=False)
        self.bond_head = nn.Sequential(nn.Linear(edge_dim, edge_dim), nn.SiLU(), nn.Linear(edge_dim, num_bonds))

    def forward(self, pos, types, charges, bonds, t, mask, previous=None):
        """Predictions for noisy inputs.

        Parameters
        ----------
        pos : [B, N, 3] Å, centred; types, charges : [B, N] class ids (MASK allowed);
        bonds : [B, N, N] class ids, symmetric; t : [B] in [0, 1]; mask : [B, N] bool.
        previous : dict, optional
            With ``self_condition``: an earlier output of this network for the
            same inputs (zeros are used when None). Its positions enter only
            through distances, its logits as probabilities.

        Returns
        -------
        dict with ``pos [B, N, 3]`` (centred, Å), logits ``types [B, N, T]``,
        ``charges [B, N, C]`` and ``bonds [B, N, N, K]`` (symmetric).
        """
        node_mask = mask.unsqueeze(-1).to(pos.dtype)
        n = mask.sum(1).to(pos.dtype)
        eye = torch.eye(mask.shape[1], dtype=torch.bool, device=mask.device)
        pair_mask = (mask.unsqueeze(2) & mask.unsqueeze(1) & ~eye).to(pos.dtype)
        inv_count = (1.0 / (n - 1).clamp(min=1)).view(-1, 1, 1)
        temb = self.time(t.to(pos.dtype))                               # [B, F]
        h = self.type_embed(types) + self.charge_embed(charges) + temb.unsqueeze(1)
        e = self.bond_embed(bonds)
        if self.self_condition:
            h, e = self._condition(h, e, previous)
        x = pos * node_mask
        for layer, tproj in zip(self.layers, self.time_per_layer):
            h = h + tproj(temb).unsqueeze(1)
            h, e, x = layer(h, e, x, self.rbf, pair_mask, inv_count, node_mask)
        com = x.sum(1, keepdim=True) / n.view(-1, 1, 1).clamp(min=1)
        x = (x - com) * node_mask
        dist = torch.sqrt(((x.unsqueeze(2) - x.unsqueeze(1)) ** 2).sum(-1) + 1e-8)
        bond_logits = self.bond_head(e + self.bond_dist(self.rbf(dist)))
        return {"pos": x, "types": self.type_head(h), "charges": self.charge_head(h),
                "bonds": 0.5 * (bond_logits + bond_logits.transpose(1, 2))}

    def _condition(self, h, e, previous):
        """Add the embedding of a previous prediction (self-conditioning) to atom and pair features."""
        B, N, _ = h.shape
        if previous is None:
            atoms = h.new_zeros(B, N, self.cond_atoms.in_features)
            pairs = e.new_zeros(B, N, N, self.cond_pairs.in_features)
        else:
            x = previous["pos"].detach()
            dist = torch.sqrt(((x.unsqueeze(2) - x.unsqueeze(1)) ** 2).sum(-1) + 1e-8)
            atoms = torch.cat([torch.softmax(previous["types"].detach(), -1),
                               torch.softmax(previous["charges"].detach(), -1)], dim=-1)
            pairs = torch.cat([torch.softmax(previous["bonds"].detach(), -1), self.rbf(dist)], dim=-1)
        return h + self.cond_atoms(atoms), e + self.cond_pairs(pairs)
