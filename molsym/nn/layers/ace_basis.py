"""Precomputed coupling tensors of the ACE representation (built once, in float64).

Every equivariant feature of :mod:`molsym.nn.representations.ace` is stored as
``x [D, N, C]``: ``C`` channels, each carrying one copy of the natural-parity
irreps ``0e + 1o + 2e + ... + (L)p`` laid out as e3nn's spherical harmonics,
``D = (L + 1)^2`` components (``m = -l..l`` within each ``l``). The heavy
contractions of the network are then a few large kernels driven by the
constant tensors built here from e3nn's Clebsch–Gordan coefficients
(:func:`e3nn.o3.wigner_3j`):

* :func:`edge_coupling` — the channel-wise tensor product ``h_j ⊗ Y(r̂_ij)``
  with one radial weight per path, written as ``M[e] = V[e] · X[:, e]`` where
  ``V [E, D_out, Q] = Y · G`` depends only on the edge direction and
  ``X [Q, E, C]`` holds the sender's features gathered into ``Q`` path slots
  and multiplied by the radial weights.
* :func:`product_basis` — the symmetric many-body product (correlation ``ν``):
  every equivariant polynomial of degree ``≤ ν`` in one channel's
  components ``A [D]`` is a linear map of the monomials of ``A``; the map is
  a constant matrix per output ``L``. Candidates are nested Clebsch–Gordan
  couplings ``((A_l1 ⊗ A_l2)_l12 ⊗ A_l3)_L``; linearly dependent ones are
  dropped greedily, in a fixed order, so the basis is reproducible on every
  machine (no SVD mixing).

Only natural-parity paths are kept (``l1 + l2 + l3`` even), so every feature
transforms under O(3) — reflections included — exactly as e3nn's irreps
``0e + 1o + 2e``.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from e3nn import o3

__all__ = ["natural_irreps", "l_of_component", "edge_coupling", "EdgeCoupling",
           "product_basis", "ProductBasis", "cg"]


def natural_irreps(max_l: int) -> o3.Irreps:
    """``0e + 1o + 2e + ...`` up to ``max_l``: the irreps of one channel."""
    return o3.Irreps([(1, (l, (-1) ** l)) for l in range(max_l + 1)])


def l_of_component(max_l: int) -> np.ndarray:
    """``[D]`` the ``l`` of every component of one channel, ``D = (max_l+1)^2``."""
    return np.concatenate([np.full(2 * l + 1, l) for l in range(max_l + 1)])


def cg(l1: int, l2: int, l3: int) -> np.ndarray:
    """Clebsch–Gordan tensor ``[2l1+1, 2l2+1, 2l3+1]`` in float64, component normalised.

    ``z_k = Σ_ij C[i, j, k] x_i y_j`` maps unit-variance components of ``l1``
    and ``l2`` to unit-variance components of ``l3``.
    """
    c = o3.wigner_3j(l1, l2, l3, dtype=torch.float64).numpy()
    return c * np.sqrt(2 * l3 + 1)


def _offset(l: int) -> int:
    return l * l


@dataclass
class EdgeCoupling:
    """Constants of the channel-wise edge tensor product (see :func:`edge_coupling`).

    Attributes
    ----------
    paths : list of (l1, l2, l3)
        Input ``l1`` (sender feature), ``l2`` (spherical harmonic), output ``l3``.
    G : ndarray [D_sh, D_out, Q]
        ``V[e, o, q] = Σ_j Y[e, j] G[j, o, q]``.
    slot_path : ndarray [Q]
        Path index of every slot (selects the radial weight).
    slot_in : ndarray [Q]
        Component of the sender's feature that fills every slot.
    """

    paths: List[Tuple[int, int, int]]
    G: np.ndarray
    slot_path: np.ndarray
    slot_in: np.ndarray


@functools.lru_cache(maxsize=None)
def edge_coupling(in_l: int, sh_l: int, out_l: int) -> EdgeCoupling:
    """Build the edge tensor product ``(0e+..+in_l) ⊗ Y(0..sh_l) → (0e+..+out_l)``.

    One path per natural-parity triangle ``(l1, l2, l3)``; a slot ``q`` is a
    pair ``(path, m1)``, so ``Q = Σ_paths (2 l1 + 1)``.

    Parameters
    ----------
    in_l, sh_l, out_l : int
        Highest ``l`` of the sender features, the spherical harmonics and the output.
    """
    paths = [(l1, l2, l3)
             for l1 in range(in_l + 1) for l2 in range(sh_l + 1) for l3 in range(out_l + 1)
             if abs(l1 - l2) <= l3 <= l1 + l2 and (l1 + l2 + l3) % 2 == 0]
    q_total = sum(2 * l1 + 1 for l1, _, _ in paths)
    G = np.zeros(((sh_l + 1) ** 2, (out_l + 1) ** 2, q_total))
    slot_path = np.zeros(q_total, dtype=np.int64)
    slot_in = np.zeros(q_total, dtype=np.int64)
    q = 0
    for p, (l1, l2, l3) in enumerate(paths):
        c = cg(l1, l2, l3)                                         # [m1, m2, m3]
        for m1 in range(2 * l1 + 1):
            G[_offset(l2):_offset(l2 + 1), _offset(l3):_offset(l3 + 1), q] = c[m1]
            slot_path[q] = p
            slot_in[q] = _offset(l1) + m1
            q += 1
    return EdgeCoupling(paths, G, slot_path, slot_in)


@dataclass
class ProductBasis:
    """Constants of the symmetric product basis (see :func:`product_basis`).

    Attributes
    ----------
    pair_i, pair_j : ndarray [K2]
        Degree-2 monomials ``A_i A_j`` (``i ≤ j``).
    triple_pair, triple_k : ndarray [K3]
        Degree-3 monomials ``(A_i A_j) A_k`` as (index into the pairs, ``k``).
    coupling : ndarray [K, H]
        ``B[..., h] = Σ_k mono[..., k] coupling[k, h]`` with ``K = D + K2 + K3``
        monomials (degree 1, 2, 3 in this order) and ``H`` output slots.
    slot_basis : ndarray [H]
        Basis function (weight index) of every output slot.
    slot_out : ndarray [H]
        Output component (``0..(out_l+1)^2-1``) of every slot.
    basis_l, basis_degree : ndarray [n_basis]
        Output ``L`` and polynomial degree of every basis function.
    """

    pair_i: np.ndarray
    pair_j: np.ndarray
    triple_pair: np.ndarray
    triple_k: np.ndarray
    coupling: np.ndarray
    slot_basis: np.ndarray
    slot_out: np.ndarray
    basis_l: np.ndarray
    basis_degree: np.ndarray


def _candidates(max_l: int, degree: int, L: int):
    """Dense coupling tensors ``[2L+1, D, ..., D]`` of ``degree`` copies of A onto ``L``."""
    D = (max_l + 1) ** 2
    out = []
    if degree == 1:
        if L <= max_l:
            t = np.zeros((2 * L + 1, D))
            t[:, _offset(L):_offset(L + 1)] = np.eye(2 * L + 1)
            out.append(t)
        return out
    if degree == 2:
        for l1, l2 in itertools.product(range(max_l + 1), repeat=2):
            if abs(l1 - l2) <= L <= l1 + l2 and (l1 + l2 + L) % 2 == 0:
                t = np.zeros((2 * L + 1, D, D))
                t[:, _offset(l1):_offset(l1 + 1), _offset(l2):_offset(l2 + 1)] = \
                    cg(l1, l2, L).transpose(2, 0, 1)
                out.append(t)
        return out
    if degree == 3:
        for l1, l2, l3 in itertools.product(range(max_l + 1), repeat=3):
            if (l1 + l2 + l3 + L) % 2:
                continue
            for l12 in range(abs(l1 - l2), l1 + l2 + 1):
                if not abs(l12 - l3) <= L <= l12 + l3:
                    continue
                # the intermediate may have either parity; the pair (l12, parity) is
                # fixed by l1 + l2, and the final coupling keeps overall parity natural
                c12 = cg(l1, l2, l12)                               # [m1, m2, m12]
                c3 = cg(l12, l3, L)                                 # [m12, m3, M]
                block = np.einsum("abx,xcM->Mabc", c12, c3)
                t = np.zeros((2 * L + 1, D, D, D))
                t[:, _offset(l1):_offset(l1 + 1), _offset(l2):_offset(l2 + 1),
                  _offset(l3):_offset(l3 + 1)] = block
                out.append(t)
        return out
    raise ValueError(f"degree must be 1, 2 or 3, got {degree}")


def _monomial_tables(D: int):
    pairs = [(i, j) for i in range(D) for j in range(i, D)]
    pair_index = {p: n for n, p in enumerate(pairs)}
    triples = [(i, j, k) for i in range(D) for j in range(i, D) for k in range(j, D)]
    mono_index: Dict[Tuple[int, ...], int] = {}
    for i in range(D):
        mono_index[(i,)] = i
    for n, p in enumerate(pairs):
        mono_index[p] = D + n
    for n, t in enumerate(triples):
        mono_index[t] = D + len(pairs) + n
    return pairs, pair_index, triples, mono_index


def _to_monomials(t: np.ndarray, mono_of_entry: np.ndarray, K: int) -> np.ndarray:
    """Dense polynomial tensor ``[M, D, ..., D]`` → monomial coefficients ``[M, K]``.

    ``mono_of_entry`` maps every flat index of ``[D, ..., D]`` to its monomial.
    """
    out = np.zeros((t.shape[0], K))
    for m in range(t.shape[0]):
        np.add.at(out[m], mono_of_entry, t[m].reshape(-1))
    return out


def _entry_to_monomial(D: int, degree: int, mono_index) -> np.ndarray:
    return np.array([mono_index[tuple(sorted(idx))]
                     for idx in itertools.product(range(D), repeat=degree)])


@functools.lru_cache(maxsize=None)
def product_basis(max_l: int, correlation: int, out_l: int, tol: float = 1e-9,
                  seed: int = 0) -> ProductBasis:
    """Equivariant polynomials of degree ``1..correlation`` of ``A [D]`` onto ``0..out_l``.

    Parameters
    ----------
    max_l : int
        Highest ``l`` of the input ``A`` (natural parities).
    correlation : int
        Highest polynomial degree ``ν`` (1, 2 or 3 here; body order ``ν + 1``).
    out_l : int
        Highest output ``L`` (natural parity).
    tol : float
        Relative residual under which a candidate counts as dependent.
    seed : int
        Seed of the fixed Gaussian sample that scales every basis function to
        unit root-mean-square output for unit-variance input.
    """
    if not 1 <= correlation <= 3:
        raise ValueError(f"correlation must be 1, 2 or 3, got {correlation}")
    D = (max_l + 1) ** 2
    pairs, pair_index, triples, mono_index = _monomial_tables(D)
    K = D + len(pairs) + len(triples)
    rng = np.random.default_rng(seed)
    sample = rng.standard_normal((4096, D))
    mono_sample = _monomials_np(sample, pairs, triples)              # [S, K]

    entry_maps = {deg: _entry_to_monomial(D, deg, mono_index) for deg in range(1, correlation + 1)}
    columns, slot_basis, slot_out, basis_l, basis_degree = [], [], [], [], []
    for L in range(out_l + 1):
        kept: List[np.ndarray] = []                                  # flattened, for independence
        for degree in range(1, correlation + 1):
            for t in _candidates(max_l, degree, L):
                coeff = _to_monomials(t, entry_maps[degree], K)              # [2L+1, K]
                vec = coeff.reshape(-1)
                if np.linalg.norm(vec) < tol:
                    continue                                         # vanishes on symmetrisation
                if kept:
                    basis = np.linalg.qr(np.stack(kept, 1))[0]
                    resid = vec - basis @ (basis.T @ vec)
                    if np.linalg.norm(resid) < tol * np.linalg.norm(vec):
                        continue
                kept.append(vec)
                rms = np.sqrt(np.mean((mono_sample @ coeff.T) ** 2))
                coeff = coeff / rms
                b = len(basis_l)
                basis_l.append(L)
                basis_degree.append(degree)
                for m in range(2 * L + 1):
                    columns.append(coeff[m])
                    slot_basis.append(b)
                    slot_out.append(_offset(L) + m)
    pi = np.array([i for i, _ in pairs])
    pj = np.array([j for _, j in pairs])
    tp = np.array([pair_index[(i, j)] for i, j, _ in triples])
    tk = np.array([k for _, _, k in triples])
    coupling = np.stack(columns, 1)
    if correlation < 3:                                              # drop unused monomials
        coupling = coupling[:D + (len(pairs) if correlation == 2 else 0)]
    return ProductBasis(pi, pj, tp, tk, coupling, np.array(slot_basis), np.array(slot_out),
                        np.array(basis_l), np.array(basis_degree))


def _monomials_np(a: np.ndarray, pairs: Sequence, triples: Sequence) -> np.ndarray:
    p = np.stack([a[:, i] * a[:, j] for i, j in pairs], 1)
    t = np.stack([a[:, i] * a[:, j] * a[:, k] for i, j, k in triples], 1)
    return np.concatenate([a, p, t], 1)


@functools.lru_cache(maxsize=None)
def sh_polynomial(max_l: int, seed: int = 0) -> np.ndarray:
    """Spherical harmonics ``0..max_l`` of a unit vector as a polynomial in its components.

    Returns ``M [3 + 9 + ... + 3^max_l, (max_l+1)^2]`` such that, for a unit
    vector ``u``, ``Y(u) = e_0 + [u, u⊗u, u⊗u⊗u, ...] · M`` reproduces
    :func:`e3nn.o3.spherical_harmonics` (component normalisation) to float64
    rounding; ``e_0`` is the constant ``Y_0 = 1``. Each ``Y_l`` is fitted
    (minimum-norm least squares) on the degree-``l`` products only, where it
    is an exact homogeneous polynomial.
    """
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((400, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    Y = o3.spherical_harmonics(list(range(max_l + 1)), torch.as_tensor(u), normalize=False,
                               normalization="component").numpy()
    blocks, t = [], np.ones((len(u), 1))
    for _ in range(max_l):
        t = (t[:, :, None] * u[:, None, :]).reshape(len(u), -1)
        blocks.append(t)
    M = np.zeros((sum(b.shape[1] for b in blocks), (max_l + 1) ** 2))
    row = 0
    for l, b in enumerate(blocks, start=1):
        coeff = np.linalg.lstsq(b, Y[:, _offset(l):_offset(l + 1)], rcond=None)[0]
        coeff[np.abs(coeff) < 1e-13] = 0.0
        M[row:row + b.shape[1], _offset(l):_offset(l + 1)] = coeff
        row += b.shape[1]
    return M
