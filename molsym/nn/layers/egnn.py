"""An E(n)-equivariant graph layer (after Satorras, Hoogeboom & Welling, 2021).

The layer keeps two kinds of per-atom state: invariant features ``h [N, F]``
and positions ``x [N, 3]``. One layer makes three updates, each a named method
so that they can be read (and overridden) one at a time:

1. :meth:`EGNNLayer.edge_model` — an invariant message ``m_ij`` from the
   features of both ends, the squared edge length and optional edge features;
2. :meth:`EGNNLayer.coord_model` — positions move along the edge vectors,
   ``x_i += (1/c) Σ_j  v_ij / (|v_ij| + κ) · tanh(φ_x(m_ij)) · r``, a
   normalised and bounded sum (each term has length < ``coords_range``);
3. :meth:`EGNNLayer.node_model` — ``h_i += φ_h([h_i, (1/c) Σ_j m_ij])``.

Because only lengths enter ``m_ij`` and positions only move along edge
vectors, ``h`` is invariant and ``x`` equivariant under rotations, reflections
and translations, and both are equivariant under permutations of atoms.

Messages flow from the sender ``edge_index[0]`` to the receiver
``edge_index[1]``; the edge vector defaults to ``x[receiver] - x[sender]``.
A caller with periodic images passes ``edge_vec`` explicitly (it then must
transform with ``x``). An optional ``edge_weight [E]`` (for example a smooth
cutoff envelope) multiplies every message, so that features change smoothly
as an atom crosses the cutoff.
"""
from __future__ import annotations

from typing import Optional, Tuple, Type

import torch
from torch import nn

__all__ = ["EGNNLayer"]


class EGNNLayer(nn.Module):
    """One E(n)-equivariant message-passing layer.

    Parameters
    ----------
    hidden : int
        Width ``F`` of the invariant features (input and output).
    edge_features : int, default 0
        Width of optional invariant edge attributes ``edge_attr [E, edge_features]``.
    update_coords : bool, default True
        Whether positions are updated; when False ``x`` is returned unchanged
        and the layer has no coordinate MLP.
    act : type of nn.Module, default nn.SiLU
        Activation used in every MLP.
    aggregation_factor : float, default 1.0
        Sums over neighbours are divided by this constant ``c`` (use the mean
        number of neighbours to keep activations of order one).
    coords_range : float, default 10.0
        Bound ``r`` on each coordinate-update term (Å when ``x`` is in Å).
    norm_constant : float, default 1.0
        ``κ`` in ``v / (|v| + κ)``; keeps the update smooth at ``|v| = 0``.
    attention : bool, default False
        Gate each message with a learned sigmoid ``σ(w·m_ij)``.

    Examples
    --------
    >>> import torch
    >>> layer = EGNNLayer(16)
    >>> h, x = torch.randn(4, 16), torch.randn(4, 3)
    >>> edge_index = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    >>> h2, x2 = layer(h, x, edge_index)
    >>> h2.shape, x2.shape
    (torch.Size([4, 16]), torch.Size([4, 3]))
    """

    def __init__(self, hidden: int, edge_features: int = 0, update_coords: bool = True,
                 act: Type[nn.Module] = nn.SiLU, aggregation_factor: float = 1.0,
                 coords_range: float = 10.0, norm_constant: float = 1.0,
                 attention: bool = False):
        super().__init__()
        self.hidden = int(hidden)
        self.edge_features = int(edge_features)
        self.update_coords = bool(update_coords)
        self.aggregation_factor = float(aggregation_factor)
        self.coords_range = float(coords_range)
        self.norm_constant = float(norm_constant)
        self.attention = bool(attention)
        self.phi_e = nn.Sequential(
            nn.Linear(2 * hidden + 1 + self.edge_features, hidden), act(),
            nn.Linear(hidden, hidden), act())
        self.phi_h = nn.Sequential(nn.Linear(2 * hidden, hidden), act(), nn.Linear(hidden, hidden))
        # optional parts are None when off (TorchScript-compatible; absent from the state dict)
        self.phi_att = nn.Sequential(nn.Linear(hidden, 1), nn.Sigmoid()) if self.attention else None
        self.phi_x: Optional[nn.Module] = None
        if self.update_coords:
            last = nn.Linear(hidden, 1, bias=False)
            nn.init.xavier_uniform_(last.weight, gain=0.001)  # start close to identity
            self.phi_x = nn.Sequential(nn.Linear(hidden, hidden), act(), last)

    # -- the three updates -------------------------------------------------
    def edge_model(self, h_send: torch.Tensor, h_recv: torch.Tensor, dist2: torch.Tensor,
                   edge_attr: Optional[torch.Tensor] = None,
                   edge_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Invariant messages ``m [E, F]`` from ``h_send, h_recv [E, F]``, ``dist2 [E, 1]`` (Å²)."""
        parts = [h_recv, h_send, dist2]
        if edge_attr is not None:
            parts.append(edge_attr)
        m = self.phi_e(torch.cat(parts, dim=-1))
        phi_att = self.phi_att
        if phi_att is not None:
            m = m * phi_att(m)
        if edge_weight is not None:
            m = m * edge_weight.unsqueeze(-1)
        return m

    def coord_model(self, x: torch.Tensor, edge_index: torch.Tensor, edge_vec: torch.Tensor,
                    m: torch.Tensor, edge_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Move receivers along normalised edge vectors: ``x [N, 3]`` → ``x [N, 3]``."""
        length = torch.linalg.vector_norm(edge_vec, dim=-1, keepdim=True)
        direction = edge_vec / (length + self.norm_constant)
        phi_x = self.phi_x
        if phi_x is None:
            raise RuntimeError("coord_model needs update_coords=True")
        step = torch.tanh(phi_x(m)) * self.coords_range  # [E, 1], bounded
        if edge_weight is not None:
            step = step * edge_weight.unsqueeze(-1)
        delta = torch.zeros_like(x).index_add_(0, edge_index[1], direction * step)
        return x + delta / self.aggregation_factor

    def node_model(self, h: torch.Tensor, edge_index: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Residual feature update from the summed messages: ``h [N, F]`` → ``h [N, F]``."""
        agg = torch.zeros_like(h).index_add_(0, edge_index[1], m) / self.aggregation_factor
        return h + self.phi_h(torch.cat([h, agg], dim=-1))

    # -- forward -----------------------------------------------------------
    def forward(self, h: torch.Tensor, x: torch.Tensor, edge_index: torch.Tensor,
                edge_attr: Optional[torch.Tensor] = None, edge_vec: Optional[torch.Tensor] = None,
                edge_weight: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Update features and positions.

        Parameters
        ----------
        h : [N, F] invariant features
        x : [N, 3] positions
        edge_index : [2, E] int64, (sender, receiver)
        edge_attr : [E, edge_features], optional invariant edge attributes
        edge_vec : [E, 3], optional; defaults to ``x[receiver] - x[sender]``
        edge_weight : [E], optional; multiplies every message (e.g. a cutoff envelope)

        Returns
        -------
        h : [N, F]
        x : [N, 3] (unchanged when ``update_coords`` is False)
        """
        send, recv = edge_index[0], edge_index[1]
        if edge_vec is None:
            edge_vec = x[recv] - x[send]
        dist2 = (edge_vec * edge_vec).sum(dim=-1, keepdim=True)
        m = self.edge_model(h[send], h[recv], dist2, edge_attr, edge_weight)
        if self.update_coords:
            x = self.coord_model(x, edge_index, edge_vec, m, edge_weight)
        h = self.node_model(h, edge_index, m)
        return h, x
