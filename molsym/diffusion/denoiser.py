"""The EGNN noise predictor of the diffusion model.

Given noisy coordinates ``z_x [N, 3]`` (zero-centred per molecule), noisy
invariant features ``z_h [N, F]`` (scaled one-hot atom types and formal
charge), the diffusion time ``t / T`` and optionally a scalar condition per
molecule, it predicts the noise ``(eps_x, eps_h)``:

* ``eps_x`` is E(3)-equivariant: rotating / reflecting the input rotates /
  reflects it, translating the input leaves it unchanged (it lives in the
  zero-centre subspace);
* ``eps_h`` is invariant;
* both are equivariant under a permutation of the atoms.

The network is a stack of :class:`molsym.nn.layers.egnn.EGNNLayer` on the
fully connected graph of every molecule, with the squared inter-atomic
distances of the input as edge features (as in EDM, Hoogeboom et al. 2022,
App. B). ``eps_x`` is the total displacement of the coordinates through the
stack, projected back onto the zero-centre subspace.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

from molsym.nn.layers.egnn import EGNNLayer

from .subspace import remove_mean

__all__ = ["EGNNDenoiser", "fully_connected_edges"]


def fully_connected_edges(batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """All ordered pairs ``(i, j)``, ``i != j``, inside each molecule → ``[2, E]``.

    ``batch [N]`` must be sorted (atoms of one molecule are contiguous), which
    is how :func:`molsym.diffusion.data.collate_molecules` lays them out.
    """
    counts = torch.bincount(batch, minlength=num_graphs)
    start = torch.cumsum(counts, 0) - counts  # [B] first atom of each molecule
    per_atom = counts[batch]  # [N] size of each atom's molecule
    senders = torch.repeat_interleave(torch.arange(batch.shape[0], device=batch.device), per_atom)
    first = torch.repeat_interleave(torch.cumsum(per_atom, 0) - per_atom, per_atom)
    local = torch.arange(senders.shape[0], device=batch.device) - first
    receivers = start[batch[senders]] + local
    keep = senders != receivers
    return torch.stack([senders[keep], receivers[keep]])


class EGNNDenoiser(nn.Module):
    """Equivariant noise predictor.

    Parameters
    ----------
    num_features : int
        ``F``: one-hot type channels plus charge channel(s) of ``z_h``.
    hidden : int
        Width of the invariant node features.
    num_layers : int
        Number of EGNN layers.
    condition_dim : int
        Number of scalar conditions per molecule (0 = unconditional).
    layer_kwargs : dict, optional
        Extra keyword arguments of :class:`EGNNLayer` (e.g. ``attention``,
        ``coords_range``, ``aggregation_factor``).

    Examples
    --------
    >>> net = EGNNDenoiser(num_features=6, hidden=16, num_layers=2).double()
    >>> x, h = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 6, dtype=torch.float64)
    >>> batch = torch.tensor([0, 0, 0, 1, 1])
    >>> eps_x, eps_h = net(x, h, torch.tensor([0.3, 0.7], dtype=torch.float64), batch, 2)
    >>> eps_x.shape, eps_h.shape
    (torch.Size([5, 3]), torch.Size([5, 6]))
    """

    def __init__(self, num_features: int, hidden: int = 128, num_layers: int = 6,
                 condition_dim: int = 0, layer_kwargs: Optional[dict] = None):
        super().__init__()
        self.num_features = int(num_features)
        self.condition_dim = int(condition_dim)
        self.embed = nn.Linear(self.num_features + 1 + self.condition_dim, hidden)
        kwargs = dict(layer_kwargs or {})
        self.layers = nn.ModuleList(
            EGNNLayer(hidden, edge_features=1, update_coords=True, **kwargs) for _ in range(num_layers)
        )
        self.readout = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, self.num_features))

    def forward(self, z_x: torch.Tensor, z_h: torch.Tensor, t: torch.Tensor, batch: torch.Tensor,
                num_graphs: int, condition: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Predict the noise.

        Parameters
        ----------
        z_x : [N, 3] noisy coordinates (any centre; they are centred first).
        z_h : [N, F] noisy invariant features.
        t : [B] diffusion time as a fraction ``t / T`` in [0, 1].
        batch : [N] molecule index of each atom (sorted).
        num_graphs : int, ``B``.
        condition : [B, C] normalised scalar conditions, or None.

        Returns
        -------
        eps_x : [N, 3] equivariant noise prediction in the zero-centre subspace.
        eps_h : [N, F] invariant noise prediction.
        """
        x0 = remove_mean(z_x, batch, num_graphs)
        inputs = [z_h, t.to(z_h.dtype)[batch].unsqueeze(-1)]
        if self.condition_dim:
            if condition is None:
                raise ValueError("this denoiser was built with a condition; pass condition [B, C]")
            inputs.append(condition.to(z_h.dtype).view(num_graphs, self.condition_dim)[batch])
        h = self.embed(torch.cat(inputs, dim=-1))
        edge_index = fully_connected_edges(batch, num_graphs)
        vec0 = x0[edge_index[1]] - x0[edge_index[0]]
        edge_attr = (vec0**2).sum(-1, keepdim=True)
        x = x0
        for layer in self.layers:
            h, x = layer(h, x, edge_index, edge_attr)
        eps_x = remove_mean(x - x0, batch, num_graphs)
        eps_h = self.readout(h)
        return eps_x, eps_h
