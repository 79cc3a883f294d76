"""Canonicalized representations are exactly O(3)-invariant; the raw one is not."""
import numpy as np
import pytest
import torch

from molsym.symmetry.baselines import DirectionalMPNN, RawCartesianMPNN
from molsym.symmetry.canonical import Canonicalized, gram_schmidt, pca_frames, rotation_frame
from molsym.symmetry.group import random_permutation, random_rotation


def random_molecule(rng, n=7):
    """Random atoms with distinct covariance eigenvalues and a complete graph (cutoff 10 Å)."""
    pos = rng.normal(size=(n, 3)) * np.array([1.0, 1.6, 2.3])
    i, j = np.where(~np.eye(n, dtype=bool))
    return (torch.tensor(pos), torch.tensor(rng.integers(0, 3, n)), torch.tensor(np.stack([i, j])))


def features(rep, pos, species, edge_index):
    vec = pos[edge_index[1]] - pos[edge_index[0]]
    return rep(species, edge_index, vec, vec.norm(dim=1), torch.zeros(len(pos), dtype=torch.long))


def make(kind, network=RawCartesianMPNN):
    torch.manual_seed(0)
    raw = network(num_species=3, cutoff=10.0, hidden=16).double()
    if kind == "raw":
        return raw
    frame, _, signs = kind.partition("-")
    return Canonicalized(raw, frame=frame, num_species=3, cutoff=10.0, signs=signs or "average").double()


@pytest.mark.parametrize("network", [RawCartesianMPNN, DirectionalMPNN], ids=["mlp", "directional"])
@pytest.mark.parametrize("kind", ["pca", "pca-skew", "learned"])
@pytest.mark.parametrize("reflection", [False, True])
def test_canonicalized_is_invariant(kind, reflection, network):
    rng = np.random.default_rng(3)
    pos, species, ei = random_molecule(rng)
    rep = make(kind, network)
    R = torch.tensor(random_rotation(rng, reflection))
    perm = torch.tensor(random_permutation(rng, len(pos)))
    inv = torch.argsort(perm)
    y0 = features(rep, pos, species, ei)
    y1 = features(rep, pos @ R.T + torch.tensor(rng.normal(size=3)), species, ei)
    y2 = features(rep, pos[perm], species[perm], inv[ei])  # same molecule, atoms relabelled
    assert torch.allclose(y0, y1, atol=1e-10, rtol=0)
    assert torch.allclose(y0[perm], y2, atol=1e-10, rtol=0)


@pytest.mark.parametrize("network", [RawCartesianMPNN, DirectionalMPNN], ids=["mlp", "directional"])
def test_raw_baseline_is_not_rotation_invariant(network):
    rng = np.random.default_rng(4)
    pos, species, ei = random_molecule(rng)
    rep = make("raw", network)
    R = torch.tensor(random_rotation(rng))
    diff = (features(rep, pos, species, ei) - features(rep, pos @ R.T, species, ei)).abs().max()
    assert diff > 1e-4
    perm = torch.tensor(random_permutation(rng, len(pos)))  # but permutation invariant
    y = features(rep, pos[perm], species[perm], torch.argsort(perm)[ei])
    assert torch.allclose(features(rep, pos, species, ei)[perm], y, atol=1e-10, rtol=0)


def test_directional_basis_sees_orientation_within_a_frame():
    """The monomial basis separates directions a distance-only basis cannot: two
    edges of equal length along x and along y give different features."""
    from molsym.symmetry.baselines import direction_monomials
    m = direction_monomials(torch.eye(3, dtype=torch.float64))
    assert m.shape == (3, 10)
    assert torch.linalg.matrix_rank(m) == 3


def test_pca_frame_is_orthogonal_and_reports_degeneracy():
    rng = np.random.default_rng(5)
    pos, _, ei = random_molecule(rng)
    vec = pos[ei[1]] - pos[ei[0]]
    Q, gap = pca_frames(vec, vec.norm(dim=1), torch.zeros(vec.shape[0], dtype=torch.long), 1, 10.0)
    assert torch.allclose(Q[0] @ Q[0].T, torch.eye(3, dtype=Q.dtype), atol=1e-12)
    assert gap.item() > 1e-3
    # a regular tetrahedron (CH4-like) has a triply degenerate covariance
    tet = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64)
    i, j = np.where(~np.eye(4, dtype=bool))
    v = tet[j] - tet[i]
    _, gap = pca_frames(v, v.norm(dim=1), torch.zeros(len(v), dtype=torch.long), 1, 10.0)
    assert gap.item() < 1e-10


def test_gram_schmidt_follows_reflections():
    rng = np.random.default_rng(6)
    u = torch.tensor(rng.normal(size=(1, 3, 3)))
    R = torch.tensor(random_rotation(rng, reflection=True))
    Q = gram_schmidt(u)
    assert torch.allclose(gram_schmidt(u @ R.T), Q @ R.T, atol=1e-12)


def test_rotation_frame_is_proper_and_follows_rotations_up_to_the_third_axis_sign():
    rng = np.random.default_rng(7)
    u = torch.tensor(rng.normal(size=(4, 2, 3)))
    Q = rotation_frame(u)
    assert torch.allclose(Q @ Q.transpose(1, 2), torch.eye(3, dtype=Q.dtype).expand(4, 3, 3), atol=1e-12)
    assert torch.allclose(torch.linalg.det(Q), torch.ones(4, dtype=Q.dtype), atol=1e-12)
    for reflect in (False, True):
        R = torch.tensor(random_rotation(rng, reflection=reflect))
        expected = Q @ R.T
        expected[:, 2] *= float(np.linalg.det(R.numpy()))   # q3 = q1 × q2 follows det(R) R
        assert torch.allclose(rotation_frame(u @ R.T), expected, atol=1e-12)


def test_learned_frame_is_well_defined_for_a_planar_molecule():
    """Three atoms are always planar: the old three-vector frame had a zero third axis there."""
    from molsym.symmetry.canonical import LearnedFrame
    torch.manual_seed(0)
    frame = LearnedFrame(num_species=2, cutoff=3.0).double()
    pos = torch.tensor([[0.0, 0, 0], [1.0, 0.1, 0], [-0.3, 0.9, 0]], dtype=torch.float64)
    i, j = np.where(~np.eye(3, dtype=bool))
    vec = pos[j] - pos[i]
    Q = frame(torch.tensor([0, 1, 1]), torch.tensor(np.stack([i, j])), vec, vec.norm(dim=1),
              torch.zeros(3, dtype=torch.long), 1)[0]
    assert torch.allclose(Q @ Q.T, torch.eye(3, dtype=Q.dtype), atol=1e-12)
    assert torch.allclose(Q[2].abs(), torch.tensor([0.0, 0, 1], dtype=Q.dtype), atol=1e-12)  # the normal
