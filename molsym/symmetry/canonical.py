"""Canonicalization: make any representation exactly O(3)-invariant by
expressing its input in a frame computed from the molecule itself.

A *frame* of graph ``b`` is an orthogonal matrix ``Q_b`` whose rows are axes;
under a rotation or reflection ``R`` of the input it transforms as
``Q_b -> Q_b R^T``, so the canonical edge vectors ``v @ Q_b^T`` do not change.
Translations and permutations never change edge vectors' multiset, so the
wrapped representation inherits their invariance.

Two frames are offered:

``pca`` (from the data)
    Axes are the eigenvectors of ``C_b = sum_e w(r_e) v_e v_e^T`` over the
    edges of the graph, weighted by a smooth cutoff envelope (for a complete
    graph this is the inertia-free PCA of the atoms). Rule for signs: an
    eigenvector's sign is arbitrary. With ``signs="average"`` (default) the
    wrapper *averages over all eight sign choices* (frame averaging): the
    output is exactly invariant whatever sign the eigensolver returns, at
    eight times the cost. With ``signs="skew"`` each axis ``e`` is oriented so
    that the skewness ``sum_i (m_i . e)^3`` of the atoms' local displacement
    vectors ``m_i = sum_j w(r_ij) v_ij`` is positive: one network call, exact
    except where a skewness vanishes (then the sign, and the output, jump).
    Rule for degenerate eigenvalues: the frame
    is then not unique (e.g. a symmetric top such as CH4), and invariance holds
    only up to the degeneracy; :func:`pca_frames` reports the smallest
    relative eigenvalue gap so callers can detect it.
``learned`` (Kaba et al. 2023)
    A small equivariant network predicts two vectors per graph; Gram–Schmidt
    turns them into the first two axes and their cross product is the third,
    a proper rotation (``det = +1``). Under a reflection the first two axes
    follow the input and the third does not, so the canonical coordinates
    change only in the sign of the third; the wrapper averages the network
    over that sign (two calls), which makes the output exactly
    O(3)-invariant. Predicting a third vector instead cannot work for planar
    molecules (and any 3-atom graph): an O(3)-equivariant vector of a planar
    configuration lies in its plane, so the third Gram–Schmidt vector is zero
    and its direction noise. It is trained end to end with the energy.

Forces remain ``-dE/dpos``: the frame is a differentiable function of the
positions and the force-field wrapper differentiates through it.
"""
from __future__ import annotations

import itertools

import torch
from torch import nn

from molsym.nn.radial import RadialEmbedding, polynomial_envelope

#: The eight diagonal sign matrices of the PCA frame-averaging group.
SIGNS = torch.tensor(list(itertools.product((1.0, -1.0), repeat=3)))


def edge_graph(edge_index: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """Graph index of every edge. [E]"""
    return batch[edge_index[0]]


def pca_frames(edge_vec, edge_len, graph_of_edge, num_graphs: int, cutoff: float):
    """PCA frames from weighted edge covariances.

    Returns ``Q [B,3,3]`` (rows = axes, eigenvalues ascending) and the smallest
    relative eigenvalue gap ``[B]`` (small means a degenerate, ill-defined frame).
    """
    w = polynomial_envelope(edge_len / cutoff)
    outer = w[:, None, None] * edge_vec[:, :, None] * edge_vec[:, None, :]
    cov = torch.zeros(num_graphs, 3, 3, dtype=edge_vec.dtype, device=edge_vec.device)
    cov = cov.index_add(0, graph_of_edge, outer)
    evals, evecs = torch.linalg.eigh(cov)
    scale = evals.abs().amax(dim=1).clamp_min(torch.finfo(evals.dtype).tiny)
    gap = (evals[:, 1:] - evals[:, :-1]).amin(dim=1) / scale
    return evecs.transpose(1, 2), gap


def gram_schmidt(u: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Orthonormalise k ≤ 3 vectors per graph, ``u [B,k,3]`` (rows) -> ``Q [B,k,3]`` (rows)."""
    rows = []
    for a in range(u.shape[1]):
        v = u[:, a]
        for q in rows:
            v = v - (v * q).sum(-1, keepdim=True) * q
        # sqrt(|v|² + eps²), not |v| + eps: differentiable (twice) at v = 0, which the
        # isolated reference atoms of ForceField hit (no edges, u = 0)
        rows.append(v / torch.sqrt((v * v).sum(-1, keepdim=True) + eps * eps))
    return torch.stack(rows, dim=1)


def rotation_frame(u: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Two vectors per graph ``u [B,2,3]`` → a rotation ``Q [B,3,3]`` (rows ``q1, q2, q1 × q2``).

    ``q1, q2`` follow any O(3) element ``R`` applied to ``u``; ``q3`` follows
    ``det(R) R``, so ``det Q = +1`` always.
    """
    q = gram_schmidt(u, eps)
    return torch.cat([q, torch.linalg.cross(q[:, 0], q[:, 1]).unsqueeze(1)], dim=1)


def skew_signs(Q, edge_index, edge_vec, edge_len, batch, num_graphs: int, cutoff: float):
    """Signs ``[B,3]`` that make each axis' skewness of local displacement vectors positive."""
    send = edge_index[0]
    w = polynomial_envelope(edge_len / cutoff)[:, None]
    m = torch.zeros(batch.shape[0], 3, dtype=edge_vec.dtype, device=edge_vec.device).index_add(0, send, w * edge_vec)
    proj = torch.einsum("nx,nax->na", m, Q[batch])  # [N, 3] components along the graph's axes
    skew = torch.zeros(num_graphs, 3, dtype=edge_vec.dtype, device=edge_vec.device).index_add(0, batch, proj ** 3)
    return torch.where(skew >= 0, torch.ones_like(skew), -torch.ones_like(skew))


class LearnedFrame(nn.Module):
    """Predicts a rotation frame per graph from an invariant weighting of edge vectors.

    Node weights ``phi_a(h_i)`` (invariant environment features) times the
    species- and distance-weighted sums of edge vectors ``m_i^a`` give two
    equivariant vectors per graph; :func:`rotation_frame` makes the frame.
    """

    def __init__(self, num_species: int, cutoff: float, hidden: int = 16, num_radial: int = 8):
        super().__init__()
        self.radial = RadialEmbedding(cutoff, num_radial)
        self.embed = nn.Embedding(num_species, hidden)
        self.edge_weight = nn.Sequential(nn.Linear(num_radial + hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2))
        self.env_feat = nn.Linear(num_radial, hidden)
        self.node_weight = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, species, edge_index, edge_vec, edge_len, batch, num_graphs: int):
        send, recv = edge_index
        rbf, env = self.radial(edge_len)
        env = env[:, None]
        n = species.shape[0]
        w = self.edge_weight(torch.cat([rbf, self.embed(species[recv])], 1)) * env  # [E,2]
        m = torch.zeros(n, 2, 3, dtype=edge_vec.dtype, device=edge_vec.device)
        m = m.index_add(0, send, w[:, :, None] * edge_vec[:, None, :])  # [N, a, xyz]
        h = torch.zeros(n, self.env_feat.out_features, dtype=edge_vec.dtype, device=edge_vec.device)
        h = h.index_add(0, send, self.env_feat(rbf) * env)
        phi = self.node_weight(torch.cat([self.embed(species), h], 1))  # [N,2]
        u = torch.zeros(num_graphs, 2, 3, dtype=edge_vec.dtype, device=edge_vec.device)
        u = u.index_add(0, batch, phi[:, :, None] * m)
        return rotation_frame(u)


class Canonicalized(nn.Module):
    """Wrap a representation so that it sees edge vectors in a canonical frame.

    Parameters
    ----------
    inner : any representation (``forward(species, edge_index, edge_vec, edge_len, batch)``)
    frame : ``"pca"`` or ``"learned"``
    signs : for the PCA frame, ``"average"`` (eight-fold, exact) or ``"skew"`` (one call)
    num_species, cutoff : needed by the learned frame

    The output has ``inner.out_features`` invariant features per atom.
    """

    def __init__(self, inner: nn.Module, frame: str = "pca", num_species: int = 1, cutoff: float = 5.0,
                 signs: str = "average"):
        super().__init__()
        if frame not in ("pca", "learned"):
            raise ValueError(f"unknown frame {frame!r}; use 'pca' or 'learned'")
        if signs not in ("average", "skew"):
            raise ValueError(f"unknown sign rule {signs!r}; use 'average' or 'skew'")
        self.inner, self.frame, self.cutoff, self.signs = inner, frame, float(cutoff), signs
        self.out_features = inner.out_features
        self.learned = LearnedFrame(num_species, cutoff) if frame == "learned" else None

    def forward(self, species, edge_index, edge_vec, edge_len, batch):
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
        g = edge_graph(edge_index, batch)
        if self.learned is not None:
            Q = self.learned(species, edge_index, edge_vec, edge_len, batch, num_graphs)
            base = torch.einsum("ex,eax->ea", edge_vec, Q[g])
            mirror = base * torch.tensor([1.0, 1.0, -1.0], dtype=base.dtype, device=base.device)
            return 0.5 * (self.inner(species, edge_index, base, edge_len, batch)
                          + self.inner(species, edge_index, mirror, edge_len, batch))
        Q, _ = pca_frames(edge_vec, edge_len, g, num_graphs, self.cutoff)
        if self.signs == "skew":
            Q = Q * skew_signs(Q, edge_index, edge_vec, edge_len, batch, num_graphs, self.cutoff)[:, :, None]
            return self.inner(species, edge_index, torch.einsum("ex,eax->ea", edge_vec, Q[g]), edge_len, batch)
        base = torch.einsum("ex,eax->ea", edge_vec, Q[g])
        signs = SIGNS.to(dtype=edge_vec.dtype, device=edge_vec.device)
        out = 0.0
        for s in signs:
            out = out + self.inner(species, edge_index, base * s, edge_len, batch)
        return out / len(signs)
