"""The models can learn: a few optimiser steps on forces of a toy pair potential reduce the error."""
import pytest
import torch

from molsym.data.collate import collate
from molsym.data.graph import frame_to_graph
from molsym.nn import build_model
from molsym.nn.testing import random_molecule


def morse_labels(graph):
    """Energy and forces of a Morse pair potential (D=1 eV, a=1.5/Å, r0=1.2 Å) by autograd."""
    pos = graph["pos"].clone().requires_grad_(True)
    i, j = graph["edge_index"]
    r = (pos[j] - pos[i]).norm(dim=-1)
    energy = 0.5 * (1.0 - torch.exp(-1.5 * (r - 1.2))).pow(2).sum()
    (grad,) = torch.autograd.grad(energy, pos)
    return {**graph, "energy": energy.detach().reshape(1), "forces": -grad}


@pytest.mark.parametrize("name", ["painn", "egnn"])
def test_force_loss_decreases(name):
    torch.manual_seed(0)
    batch = collate([morse_labels(frame_to_graph(random_molecule([1, 6], 6, seed=s, box=2.5), 3.0))
                     for s in range(6)])
    model = build_model({"representation": {"name": name, "hidden": 16, "num_layers": 2, "num_basis": 6},
                         "species": [1, 6], "cutoff": 3.0, "avg_num_neighbors": 5.0}).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)

    def loss_fn():
        out = model(batch)
        return (out["forces"] - batch["forces"]).pow(2).mean()

    first = float(loss_fn().detach())
    for _ in range(40):
        optimiser.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimiser.step()
    assert float(loss_fn().detach()) < 0.5 * first
