"""The autograd wrapper against ASE's Lennard-Jones calculator: forces and stress conventions."""
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.lj import LennardJones

from molsym.data.collate import collate
from molsym.data.graph import atoms_to_graph
from molsym.nn.grad import energy_and_gradients

SIGMA, EPS, RC = 1.0, 0.8, 2.5


def lj_energy(batch, edge_vec):
    r = edge_vec.norm(dim=-1)
    shift = 4 * EPS * ((SIGMA / RC) ** 12 - (SIGMA / RC) ** 6)
    pair = 4 * EPS * ((SIGMA / r) ** 12 - (SIGMA / r) ** 6) - shift
    node = torch.zeros(batch["pos"].shape[0], dtype=r.dtype).index_add_(0, batch["edge_index"][1], 0.5 * pair)
    energy = torch.zeros(batch["num_atoms"].shape[0], dtype=r.dtype).index_add_(0, batch["batch"], node)
    return {"energy": energy, "node_energy": node}


def lj_crystal(seed):
    rng = np.random.default_rng(seed)
    cell = np.array([[2.6, 0.0, 0.0], [0.5, 2.4, 0.0], [0.3, -0.4, 2.7]])
    frac = np.array([[0, 0, 0], [0.5, 0.5, 0.1], [0.1, 0.5, 0.5], [0.5, 0.05, 0.5]]) + rng.uniform(-0.04, 0.04, (4, 3))
    return Atoms("Ar4", scaled_positions=frac, cell=cell, pbc=True)


@pytest.mark.parametrize("training", [False, True])
def test_forces_and_stress_match_ase(training):
    systems = [lj_crystal(0), lj_crystal(1), Atoms("Ar3", positions=[[0, 0, 0], [1.1, 0, 0], [0.3, 1.05, 0.2]])]
    batch = collate([atoms_to_graph(a, RC) for a in systems])
    out = energy_and_gradients(lj_energy, batch, compute_forces=True, compute_stress=True, training=training)
    assert out["forces"].requires_grad == training
    start = 0
    for b, atoms in enumerate(systems):
        atoms.calc = LennardJones(sigma=SIGMA, epsilon=EPS, rc=RC)
        n = len(atoms)
        assert float(out["energy"][b].detach()) == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(out["forces"][start:start + n].detach().numpy(), atoms.get_forces(), atol=1e-9)
        if atoms.pbc.any():
            np.testing.assert_allclose(out["stress"][b].detach().numpy(), atoms.get_stress(voigt=False), atol=1e-9)
            assert np.abs(atoms.get_stress()).max() > 1e-3  # a real, non-zero stress was compared
        else:
            assert torch.all(out["stress"][b] == 0)
        start += n


def test_no_gradients_requested_gives_plain_energy():
    batch = collate([atoms_to_graph(lj_crystal(0), RC)])
    out = energy_and_gradients(lj_energy, batch, compute_forces=False)
    assert set(out) == {"energy", "node_energy"} and not out["energy"].requires_grad
    assert not batch["pos"].requires_grad  # the caller's tensor is left alone
