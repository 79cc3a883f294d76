"""vesin neighbour lists (molsym.data.neighbors) against ase.neighborlist: identical edge sets."""
import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_neighbor_list

from molsym.data.neighbors import neighbor_list


def _edge_set(i, j, s):
    return {(int(a), int(b), *map(int, np.round(sh))) for a, b, sh in zip(i, j, s)}


def _compare(pos, cell, pbc, cutoff):
    ei, es = neighbor_list(pos, cell, pbc, cutoff)
    assert ei.shape[0] == 2 and ei.dtype == np.int64 and es.shape == (ei.shape[1], 3)
    atoms = Atoms(numbers=np.ones(len(pos), int), positions=pos, cell=cell, pbc=pbc)
    ai, aj, a_s = ase_neighbor_list("ijS", atoms, cutoff)
    ours, theirs = _edge_set(ei[0], ei[1], es), _edge_set(ai, aj, a_s)
    assert len(ours) == ei.shape[1], "duplicate edges"
    assert ours == theirs
    # the documented edge vector convention, and every edge inside the cutoff
    vec = pos[ei[1]] - pos[ei[0]] + es @ np.asarray(cell)
    assert np.all(np.linalg.norm(vec, axis=1) < cutoff)
    ad = ase_neighbor_list("D", atoms, cutoff)
    assert np.allclose(np.sort(np.linalg.norm(vec, axis=1)), np.sort(np.linalg.norm(ad, axis=1)))
    return ei.shape[1]


@pytest.mark.parametrize("seed", range(4))
def test_molecule_matches_ase(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    pos = rng.uniform(-4, 4, size=(n, 3))
    assert _compare(pos, np.zeros((3, 3)), [False] * 3, cutoff=3.0) > 0


def _triclinic(rng, scale):
    cell = np.diag(rng.uniform(0.8, 1.2, 3)) * scale
    cell[1, 0], cell[2, 0], cell[2, 1] = rng.uniform(-0.4, 0.4, 3) * scale
    return cell


@pytest.mark.parametrize("seed", range(4))
def test_periodic_triclinic_matches_ase(seed):
    rng = np.random.default_rng(100 + seed)
    cell = _triclinic(rng, scale=6.0)
    n = int(rng.integers(1, 20))
    pos = rng.uniform(0, 1, size=(n, 3)) @ cell
    assert _compare(pos, cell, [True] * 3, cutoff=3.5) > 0


def test_small_cell_many_images_matches_ase():
    """Cutoff larger than the cell: an atom sees several images of itself (non-zero shifts)."""
    rng = np.random.default_rng(7)
    cell = _triclinic(rng, scale=2.5)
    pos = rng.uniform(0, 1, size=(3, 3)) @ cell
    ei, es = neighbor_list(pos, cell, [True] * 3, 4.0)
    self_images = (ei[0] == ei[1])
    assert self_images.any() and np.all(np.abs(es[self_images]).sum(1) > 0)
    _compare(pos, cell, [True] * 3, cutoff=4.0)


@pytest.mark.parametrize("pbc", [[True, False, True], [False, True, False], [True, True, False]])
def test_mixed_pbc_matches_ase(pbc):
    rng = np.random.default_rng(sum(pbc))
    cell = _triclinic(rng, scale=5.0)
    pos = rng.uniform(0, 1, size=(12, 3)) @ cell
    _compare(pos, cell, pbc, cutoff=3.0)
    ei, es = neighbor_list(pos, cell, pbc, 3.0)
    # no shift along a non-periodic axis
    assert np.all(es[:, ~np.asarray(pbc)] == 0)


def test_single_atom_and_far_apart_have_no_edges():
    ei, es = neighbor_list(np.zeros((1, 3)), np.zeros((3, 3)), [False] * 3, 5.0)
    assert ei.shape == (2, 0) and es.shape == (0, 3)
    ei, _ = neighbor_list(np.array([[0.0, 0, 0], [10.0, 0, 0]]), np.zeros((3, 3)), [False] * 3, 5.0)
    assert ei.shape == (2, 0)
