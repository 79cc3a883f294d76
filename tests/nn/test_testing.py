"""The physics suite must fail on models that break physics: each check catches its bug."""
import pytest
import torch
from torch import nn

from molsym.data import keys as K
from molsym.nn import ForceField
from molsym.nn import testing as T
from molsym.nn.radial import PolynomialCutoff

SPECIES = [1, 6, 8]
E0S = {1: -0.5, 6: -1.5, 8: -2.0}


class _Rep(nn.Module):
    """Base for deliberately broken representations: one smooth invariant feature plus a bug."""

    out_features = 2

    def __init__(self, cutoff=3.0):
        super().__init__()
        self.env = PolynomialCutoff(cutoff)
        self.w = nn.Parameter(torch.tensor([1.0, 0.5]))

    def smooth(self, species, edge_index, edge_len):
        return torch.zeros(species.shape[0], dtype=edge_len.dtype).index_add_(0, edge_index[1], self.env(edge_len))

    def bug(self, species, edge_index, edge_vec, edge_len, batch):
        raise NotImplementedError

    def forward(self, species, edge_index, edge_vec, edge_len, batch):
        a = self.smooth(species, edge_index, edge_len)
        b = self.bug(species, edge_index, edge_vec, edge_len, batch)
        return torch.stack([a, b], dim=-1) * self.w


class NotRotationInvariant(_Rep):
    def bug(self, species, edge_index, edge_vec, edge_len, batch):
        return edge_len.new_zeros(species.shape[0]).index_add_(
            0, edge_index[1], edge_vec[:, 0] * self.env(edge_len))


class Chiral(_Rep):
    """Rotation invariant but flips sign under reflection (a triple product)."""

    def bug(self, species, edge_index, edge_vec, edge_len, batch):
        u = self.env(edge_len).unsqueeze(-1)
        vs = [torch.zeros(species.shape[0], 3, dtype=edge_vec.dtype).index_add_(0, edge_index[1], edge_vec * u * edge_len.unsqueeze(-1) ** k)
              for k in (0, 2, 4)]
        return torch.linalg.det(torch.stack(vs, dim=-1))


class HardCutoff(_Rep):
    def bug(self, species, edge_index, edge_vec, edge_len, batch):
        return edge_len.new_zeros(species.shape[0]).index_add_(0, edge_index[1], torch.ones_like(edge_len))


class LeaksAcrossGraphs(_Rep):
    def bug(self, species, edge_index, edge_vec, edge_len, batch):
        return self.smooth(species, edge_index, edge_len).sum().expand(species.shape[0]) * 0.1


class DependsOnAtomOrder(_Rep):
    def bug(self, species, edge_index, edge_vec, edge_len, batch):
        order = torch.arange(species.shape[0], dtype=edge_len.dtype)
        return order * self.smooth(species, edge_index, edge_len)


class NoOp(_Rep):
    def bug(self, species, edge_index, edge_vec, edge_len, batch):
        return self.smooth(species, edge_index, edge_len) ** 2


def make(rep_cls, dtype=torch.float64):
    def factory():
        torch.manual_seed(0)
        return ForceField(rep_cls(), SPECIES, 3.0, E0S, scale=1.0, head_hidden=4).to(dtype).eval()
    return factory


def test_a_correct_model_passes_everything(dtype):
    errors = T.run_physics_suite(make(NoOp, dtype))
    assert set(errors) == set(T.CHECKS)


@pytest.mark.parametrize("rep_cls,check,message", [
    (NotRotationInvariant, T.check_o3_equivariance, "under rotation"),
    (Chiral, T.check_o3_equivariance, "under reflection"),
    (HardCutoff, T.check_cutoff_smoothness, "cutoff"),
    (LeaksAcrossGraphs, T.check_batch_consistency, "graph"),
    (DependsOnAtomOrder, T.check_permutation, "permutation"),
])
def test_check_catches_bug(rep_cls, check, message):
    with pytest.raises(AssertionError, match=message):
        check(make(rep_cls))


class WrongForces(nn.Module):
    """Harmonic pairs with a wrong factor in the analytic forces and a wrong isolated energy."""

    species, cutoff, dtype, e0s = SPECIES, 3.0, torch.float64, E0S

    def forward(self, batch, compute_forces=True, compute_stress=False):
        ei = batch[K.EDGE_INDEX]
        vec = T.edge_vectors(batch[K.POS], ei, batch[K.EDGE_SHIFT], batch[K.CELL], batch[K.BATCH])
        r2 = (vec ** 2).sum(-1)
        node = torch.zeros(batch[K.POS].shape[0], dtype=r2.dtype).index_add_(0, ei[1], 0.25 * r2) + 0.1
        out = {K.NODE_ENERGY: node,
               K.ENERGY: torch.zeros(int(batch[K.NUM_ATOMS].shape[0]), dtype=r2.dtype).index_add_(0, batch[K.BATCH], node)}
        f = torch.zeros_like(batch[K.POS]).index_add_(0, ei[1], 0.9 * vec)  # exact: 1.0 * vec
        out[K.FORCES] = f
        out[K.STRESS] = torch.zeros(int(batch[K.NUM_ATOMS].shape[0]), 3, 3, dtype=r2.dtype)
        return out


def test_finite_differences_catch_wrong_forces():
    with pytest.raises(AssertionError, match="finite differences"):
        T.check_finite_difference_forces(WrongForces())
    with pytest.raises(AssertionError, match="stress vs finite differences"):
        T.check_finite_difference_stress(WrongForces())


def test_isolated_atom_catches_offset():
    with pytest.raises(AssertionError, match="isolated"):
        T.check_isolated_atom(WrongForces())


def test_transform_graph_permutes_and_rotates():
    g = T.frame_to_graph(T.random_crystal(SPECIES, 4), 3.0)
    gen = torch.Generator().manual_seed(0)
    R = T.random_orthogonal(gen, reflect=True)
    assert torch.allclose(R @ R.T, torch.eye(3, dtype=torch.float64), atol=1e-14)
    assert torch.det(R) < 0
    perm = torch.tensor([2, 0, 3, 1])
    h = T.transform_graph(g, R, torch.ones(3, dtype=torch.float64), perm)
    assert torch.equal(h[K.ATOMIC_NUMBERS], g[K.ATOMIC_NUMBERS][perm])
    assert torch.allclose(h[K.POS], g[K.POS][perm] @ R.T + 1.0)
    # the same edges, relabelled: edge vectors rotate
    vec_g = T.edge_vectors(g[K.POS], g[K.EDGE_INDEX], g[K.EDGE_SHIFT], g[K.CELL], g[K.BATCH])
    vec_h = T.edge_vectors(h[K.POS], h[K.EDGE_INDEX], h[K.EDGE_SHIFT], h[K.CELL], h[K.BATCH])
    assert torch.allclose(vec_h, vec_g @ R.T, atol=1e-12)


def test_random_systems_keep_atoms_apart():
    from ase import Atoms
    for seed in range(5):
        c = T.random_crystal(SPECIES, 6, seed=seed, min_dist=1.0)
        d = Atoms(numbers=c["atomic_numbers"], positions=c["pos"], cell=c["cell"], pbc=True).get_all_distances(mic=True)
        assert d[~torch.eye(6, dtype=torch.bool).numpy()].min() >= 1.0 - 1e-9
        m = T.random_molecule(SPECIES, 6, seed=seed, min_dist=0.9)
        dm = Atoms(numbers=m["atomic_numbers"], positions=m["pos"]).get_all_distances()
        assert dm[~torch.eye(6, dtype=torch.bool).numpy()].min() >= 0.9 - 1e-9
