"""The building blocks of the ACE representation, each a few large kernels.

Features are ``x [D, N, C]`` (component-major): ``C`` channels of the natural-parity irreps
``0e + 1o + ... + (L)p`` (``D = (L+1)^2`` components, e3nn order); see
:mod:`molsym.nn.layers.ace_basis`.

* :class:`ChannelLinear` — one ``C_in × C_out`` matrix per ``l`` (equivariant linear).
* :class:`SpeciesChannelLinear` — the same with one set of matrices per species.
* :class:`EdgeTensorProduct` — channel-wise ``h_j ⊗ Y(r̂_ij)`` weighted per path
  by radial functions, summed over neighbours.
* :class:`SymmetricProduct` — the ACE many-body product basis with
  species-dependent weights.

Constant tensors (Clebsch–Gordan couplings) are kept as float64 masters and
re-derived from them whenever the module changes dtype or device, so a
model built in float32 and moved to float64 is exactly equivariant in
float64.
"""
from __future__ import annotations

import math
import warnings
from typing import Dict, List

import numpy as np
import torch
from torch import nn

from molsym.nn.layers.ace_basis import edge_coupling, l_of_component, product_basis, sh_polynomial

# The coupling matrix's indices are built (coalesced, in range) once in __init__;
# checking them again on every call would cost more than the product itself.
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")

__all__ = ["SphericalHarmonics", "ChannelLinear", "SpeciesChannelLinear", "EdgeTensorProduct", "SymmetricProduct"]


class ExactConstants(nn.Module):
    """A module whose float constants are always converted from float64 masters."""

    def __init__(self):
        super().__init__()
        self._masters: Dict[str, torch.Tensor] = {}

    def register_constant(self, name: str, value) -> None:
        """Register ``value`` (array-like) as a non-persistent buffer with a float64 master."""
        t = torch.as_tensor(np.asarray(value))
        if t.is_floating_point():
            t = t.to(torch.float64)
            self._masters[name] = t
            t = t.to(torch.get_default_dtype())
        self.register_buffer(name, t, persistent=False)

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        for name, master in self._masters.items():
            cur = self._buffers[name]
            self._buffers[name] = master.to(device=cur.device, dtype=cur.dtype)
        return self


class SphericalHarmonics(ExactConstants):
    """e3nn's spherical harmonics ``0..max_l`` (component normalised) of unit vectors.

    Evaluated as one matrix product on the tensor powers of ``u``
    (:func:`ace_basis.sh_polynomial`): four kernels instead of e3nn's
    per-component expressions, identical values (tested against
    :func:`e3nn.o3.spherical_harmonics`).
    """

    def __init__(self, max_l: int):
        super().__init__()
        self.max_l = max_l
        M = sh_polynomial(max_l)
        self.register_constant("M", M)
        bias = np.zeros((1, M.shape[1]))
        bias[0, 0] = 1.0
        self.register_constant("bias", bias)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``u [E, 3]`` unit vectors → ``Y [E, (max_l+1)^2]``."""
        if self.max_l == 0:
            return self.bias.expand(u.shape[0], 1)
        parts, t = [u], u
        for _ in range(self.max_l - 1):
            t = (t.unsqueeze(-1) * u.unsqueeze(1)).reshape(u.shape[0], 3 * t.shape[1])
            parts.append(t)
        return torch.addmm(self.bias, torch.cat(parts, dim=1) if len(parts) > 1 else u, self.M)


class ChannelLinear(nn.Module):
    """Equivariant linear map ``[D, N, C_in] → [D, N, C_out]``: one matrix per ``l``.

    Parameters
    ----------
    c_in, c_out : int
        Channels in and out.
    max_l : int
        Highest ``l`` of the features (``D = (max_l+1)^2``).
    """

    def __init__(self, c_in: int, c_out: int, max_l: int):
        super().__init__()
        self.max_l = max_l
        self.weight = nn.Parameter(torch.randn(max_l + 1, c_in, c_out) / math.sqrt(c_in))
        self.register_buffer("l_index", torch.as_tensor(l_of_component(max_l)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [D, N, C_in]`` (any strides) → ``[D, N, C_out]``."""
        if self.max_l == 0:
            return x @ self.weight[0]
        return torch.bmm(x, self.weight.index_select(0, self.l_index))


class SpeciesChannelLinear(nn.Module):
    """Species-dependent equivariant linear map (the residual "self-connection").

    ``out[:, n] = x[:, n] · W[species[n], l]``, evaluated as one product for
    all species followed by a gather: the cost of ``num_species`` plain linears.
    """

    def __init__(self, num_species: int, c_in: int, c_out: int, max_l: int):
        super().__init__()
        self.max_l, self.c_out, self.num_species = max_l, c_out, num_species
        self.weight = nn.Parameter(torch.randn(max_l + 1, c_in, num_species * c_out) / math.sqrt(c_in))
        self.register_buffer("l_index", torch.as_tensor(l_of_component(max_l)), persistent=False)

    def forward(self, x: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """``x [D, N, C_in]``, ``species [N]`` → ``[D, N, C_out]``."""
        d, n = x.shape[0], x.shape[1]
        if self.max_l == 0:
            y = x @ self.weight[0]
        else:
            y = torch.bmm(x, self.weight.index_select(0, self.l_index))
        y = y.view(d, n, self.num_species, self.c_out)
        idx = species.view(1, n, 1, 1).expand(d, n, 1, self.c_out)
        return torch.gather(y, 2, idx).squeeze(2)


class EdgeTensorProduct(ExactConstants):
    """Neighbour sum of channel-wise tensor products ``Σ_j R_p(r_ij) (h_j ⊗ Y(r̂_ij))_p``.

    Parameters
    ----------
    in_l, sh_l, out_l : int
        Highest ``l`` of the sender features, of the spherical harmonics, of the output.

    Notes
    -----
    Paths are ordered by the sender's ``l1``; a slot ``q = (path, m1)``. For
    every ``l1`` the slots are one broadcast product
    ``X[e, (p, m1), c] = R[e, p, c] · h[send_e, l1 m1, c]`` (no gathers), and
    the message of edge ``e`` is the batched product ``M[e] = V[e] · X[e]``
    with ``V [E, D_out, Q] = Y[e] · G`` (:func:`ace_basis.edge_coupling`).
    """

    def __init__(self, in_l: int, sh_l: int, out_l: int):
        super().__init__()
        ec = edge_coupling(in_l, sh_l, out_l)
        self.paths = ec.paths
        self.num_paths = len(ec.paths)
        self.num_slots = ec.G.shape[2]
        self.d_out = (out_l + 1) ** 2
        # per sender l1 (paths are sorted by l1): number of paths and of components
        self.group_paths: List[int] = []
        for l1 in range(in_l + 1):
            idx = [p for p, path in enumerate(ec.paths) if path[0] == l1]
            assert idx == list(range(sum(self.group_paths), sum(self.group_paths) + len(idx)))
            self.group_paths.append(len(idx))
        self.group_dims: List[int] = [2 * l1 + 1 for l1 in range(in_l + 1)]
        self.d_in = (in_l + 1) ** 2
        # G [D_sh, D_out, Q] → [D_sh, D_out * Q] so that (Y @ G).view(E, D_out, Q)
        self.register_constant("G", ec.G.reshape(ec.G.shape[0], -1))

    def forward(self, h: torch.Tensor, Y: torch.Tensor, R: torch.Tensor,
                edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
        """Aggregate messages.

        Parameters
        ----------
        h : [N, D_in, C]
            Sender features (node-major here).
        Y : [E, D_sh]
            Spherical harmonics of the edge unit vectors (component normalised).
        R : [E, P, C]
            Radial weight of every edge, path and channel.
        edge_index : [2, E]
            (sender, receiver).

        Returns
        -------
        [N, D_out, C]
            Sum over incoming edges (not normalised).
        """
        send, recv = edge_index[0], edge_index[1]
        hs = h.index_select(0, send)                                    # [E, D_in, C]
        if hs.shape[1] != self.d_in:
            raise ValueError(f"expected {self.d_in} feature components, got {hs.shape[1]}")
        e, c = hs.shape[0], hs.shape[2]
        # split (not slice): the backward is one cat instead of zero-filled full-size buffers
        Rs = torch.split(R, self.group_paths, dim=1)
        hss = torch.split(hs, self.group_dims, dim=1)
        xs = [(r.unsqueeze(2) * x.unsqueeze(1)).reshape(e, r.shape[1] * x.shape[1], c)
              for r, x in zip(Rs, hss)]
        x = xs[0] if len(xs) == 1 else torch.cat(xs, dim=1)             # [E, Q, C]
        v = (Y @ self.G).view(e, self.d_out, self.num_slots)            # [E, D_out, Q]
        m = torch.bmm(v, x)                                             # [E, D_out, C]
        out = m.new_zeros((num_nodes, self.d_out, c))
        return out.index_add_(0, recv, m)


class SymmetricProduct(ExactConstants):
    """ACE product basis: per channel, equivariant polynomials of degree ≤ ν in ``A``.

    ``out[LM, n, c] = Σ_b W[species_n, c, b] B_b(A[:, n, c])_{LM}`` where the
    ``B_b`` are the fixed basis polynomials of :func:`ace_basis.product_basis`
    (body order ``ν + 1``). The monomials of ``A`` are formed with row
    gathers and mapped to the basis with one sparse product (the coupling
    matrix is ~2 % dense).

    Parameters
    ----------
    num_species, channels : int
    in_l : int
        Highest ``l`` of ``A``.
    correlation : int
        ``ν`` (1–3).
    out_l : int
        Highest ``l`` of the output.
    high_order_init : float, default 1.0
        Initial weight scale of the degree ≥ 2 basis functions relative to the
        linear ones (< 1: the product starts close to linear in ``A``).
    high_order_scale : float, default 1.0
        Fixed factor ``s^(d−1)`` on the weights of the degree-``d`` basis
        functions, for the whole of training: a smoothness prior. Under Adam the
        parameters move at a rate independent of ``s``, so with ``s < 1`` the
        degree ≥ 2 terms move ``s^(d−1)`` times slower in function space while
        weight decay shrinks them at the same relative rate as the linear ones.
    """

    def __init__(self, num_species: int, channels: int, in_l: int, correlation: int, out_l: int,
                 high_order_init: float = 1.0, high_order_scale: float = 1.0):
        super().__init__()
        pb = product_basis(in_l, correlation, out_l)
        self.correlation = correlation
        self.d_out = (out_l + 1) ** 2
        self.num_basis = len(pb.basis_l)
        self.num_slots = pb.coupling.shape[1]
        D = (in_l + 1) ** 2
        self.d_in = D
        # monomial rows: [A (D), A⊗A (D², all ordered pairs), (A_i A_j) A_k (i ≤ j ≤ k, only
        # those the basis uses: about a third when only invariants are needed)]
        pair_row = pb.pair_i * D + pb.pair_j                            # row of A_i A_j in A⊗A
        K2 = len(pb.pair_i)
        used = np.abs(pb.coupling).sum(1) > 0
        triples = np.nonzero(used[D + K2:])[0] if correlation >= 3 else np.zeros(0, dtype=np.int64)
        self.register_constant("triple_pair", pair_row[pb.triple_pair[triples]])
        self.register_constant("triple_k", pb.triple_k[triples])
        triple_row = np.full(len(pb.triple_k), -1)
        triple_row[triples] = D + D * D + np.arange(len(triples))
        row_map = np.concatenate([np.arange(D), D + pair_row, triple_row])[:pb.coupling.shape[0]]
        self.num_monomials = D + (D * D if correlation >= 2 else 0) + len(triples)
        assert pb.coupling.shape[0] == D + (K2 if correlation >= 2 else 0) + \
            (len(pb.triple_k) if correlation >= 3 else 0)
        h, k = np.nonzero(pb.coupling.T)                                # coalesced order
        assert (row_map[k] >= 0).all()
        self.register_constant("coupling_index", np.stack([h, row_map[k]]))  # sparse [H, K]
        self.register_constant("coupling_value", pb.coupling[k, h])
        self.coupling_shape: List[int] = [int(pb.coupling.shape[1]), int(self.num_monomials)]
        self.register_constant("slot_basis", pb.slot_basis)             # [H]
        self.register_constant("slot_out", pb.slot_out)                 # [H]
        fan = np.bincount(pb.basis_l)[pb.basis_l]
        degree = np.asarray(pb.basis_degree)
        self.register_constant("weight_scale", float(high_order_scale) ** (degree - 1) / np.sqrt(fan))
        init = torch.as_tensor(np.where(degree > 1, float(high_order_init), 1.0), dtype=torch.float32)
        self.weight = nn.Parameter(torch.randn(num_species, channels, self.num_basis) * init)

    def forward(self, A: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """``A [D_in, N, C]``, ``species [N]`` → ``[D_out, N, C]``."""
        d, n, c = A.shape
        a = A.reshape(d, n * c)
        monos = [a]
        if self.correlation >= 2:
            p2 = (a.unsqueeze(1) * a.unsqueeze(0)).view(d * d, n * c)   # [D², N·C]
            monos.append(p2)
            if self.correlation >= 3:
                monos.append(p2.index_select(0, self.triple_pair) * a.index_select(0, self.triple_k))
        mono = torch.cat(monos, dim=0)                                  # [K, N·C]
        coupling = torch.sparse_coo_tensor(self.coupling_index, self.coupling_value,
                                           self.coupling_shape, is_coalesced=True)
        B = torch.sparse.mm(coupling, mono).view(self.num_slots, n, c)  # [H, N, C]
        w = (self.weight * self.weight_scale).permute(2, 0, 1)          # [b, S, C]
        w = w.index_select(0, self.slot_basis).index_select(1, species)  # [H, N, C]
        out = B.new_zeros((self.d_out, n, c))
        return out.index_add_(0, self.slot_out, B * w)
