"""EGNN as a force-field representation: E(n) layers on invariant features.

Each layer is a :class:`molsym.nn.layers.egnn.EGNNLayer` with
``update_coords=False``; the edge vectors come from the graph (so periodic
images work), the Bessel × envelope expansion of the edge length is the edge
attribute and the envelope weights every message, so features are smooth at
the cutoff. The simplest baseline of molsym; the generator shares the layer.
"""
from __future__ import annotations

import torch
from torch import nn

from molsym.nn.layers.egnn import EGNNLayer
from molsym.nn.radial import RadialEmbedding
from molsym.nn.representations.base import register_representation

__all__ = ["EGNN"]


@register_representation("egnn")
class EGNN(nn.Module):
    """EGNN representation: invariant per-atom features ``[N, hidden]``.

    Parameters
    ----------
    num_species : int
    cutoff : float, Å
    avg_num_neighbors : float, default 10.0
        Sums over neighbours are divided by this number.
    hidden : int, default 64
    num_layers : int, default 4
    num_basis : int, default 8
    attention : bool, default False
        Gate messages with a learned sigmoid.

    Examples
    --------
    >>> rep = EGNN(num_species=2, cutoff=4.0, hidden=8, num_layers=1)
    >>> ei = torch.tensor([[0, 1], [1, 0]])
    >>> vec = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]])
    >>> rep(torch.tensor([0, 1]), ei, vec, vec.norm(dim=-1), torch.zeros(2, dtype=torch.long)).shape
    torch.Size([2, 8])
    """

    #: Tiny hyperparameters used by the physics test suite.
    test_hyperparameters = {"hidden": 8, "num_layers": 2, "num_basis": 6}

    def __init__(self, num_species: int, cutoff: float, avg_num_neighbors: float = 10.0,
                 hidden: int = 64, num_layers: int = 4, num_basis: int = 8, attention: bool = False):
        super().__init__()
        self.out_features = int(hidden)
        self.embedding = nn.Embedding(num_species, hidden)
        self.radial = RadialEmbedding(cutoff, num_basis)
        self.layers = nn.ModuleList(
            EGNNLayer(hidden, edge_features=num_basis, update_coords=False,
                      aggregation_factor=avg_num_neighbors, attention=attention)
            for _ in range(num_layers))

    def forward(self, species, edge_index, edge_vec, edge_len, batch):
        h = self.embedding(species)                                        # [N, F]
        radial, envelope = self.radial(edge_len)                           # [E, B], [E]
        x = h.new_zeros(h.shape[0], 3)  # unused: update_coords=False and edge_vec is given
        for layer in self.layers:
            h, _ = layer(h, x, edge_index, edge_attr=radial, edge_vec=edge_vec, edge_weight=envelope)
        return h
