import numpy as np
import torch

from molsym.data.frame import make_frame
from molsym.data.graph import frame_to_graph
from molsym.symmetry.augment import RandomO3Augmentation, rotate_graph
from molsym.symmetry.group import random_rotation


def test_rotate_graph_transforms_every_field_by_its_law():
    rng = np.random.default_rng(0)
    n = 5
    frame = make_frame([1, 6, 8, 1, 1], rng.normal(size=(n, 3)) * 2, cell=np.eye(3) * 6, pbc=True,
                       energy=-3.0, forces=rng.normal(size=(n, 3)), stress=rng.normal(size=6))
    g = frame_to_graph(frame, cutoff=3.0)
    R = torch.tensor(random_rotation(rng, reflection=True))
    t = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    h = rotate_graph(g, R, t)
    assert torch.allclose(h["pos"], g["pos"] @ R.T + t)
    assert torch.allclose(h["forces"], g["forces"] @ R.T)
    assert torch.allclose(h["stress"][0], R @ g["stress"][0] @ R.T)
    assert torch.allclose(h["cell"], g["cell"] @ R.T)
    assert torch.equal(h["energy"], g["energy"])
    # the edge vectors rotate with the positions: integer shifts stay valid
    def vec(x):
        s, r = x["edge_index"]
        return x["pos"][r] - x["pos"][s] + x["edge_shift"] @ x["cell"][0]
    assert torch.allclose(vec(h), vec(g) @ R.T, atol=1e-12)


def test_augmentation_draws_new_elements_and_is_seeded():
    g = {"pos": torch.randn(4, 3, dtype=torch.float64)}
    a, b = RandomO3Augmentation(seed=1), RandomO3Augmentation(seed=1)
    x1, x2 = a(g)["pos"], a(g)["pos"]
    assert not torch.allclose(x1, x2)
    assert torch.allclose(b(g)["pos"], x1)
    # distances are preserved
    d = lambda x: torch.cdist(x, x)
    assert torch.allclose(d(x1), d(g["pos"]), atol=1e-12)


def test_rotate_batch_uses_one_element_per_graph():
    from molsym.data.collate import collate
    from molsym.symmetry.augment import rotate_batch
    rng = np.random.default_rng(2)
    graphs = [frame_to_graph(make_frame([6, 1, 1, 8], rng.normal(size=(4, 3)) * 1.5, energy=1.0,
                                        forces=rng.normal(size=(4, 3))), cutoff=4.0) for _ in range(3)]
    batch = collate(graphs)
    out = rotate_batch(batch, np.random.default_rng(0))
    for b in range(3):
        m = batch["batch"] == b
        x0, x1 = batch["pos"][m], out["pos"][m]
        # pairwise distances preserved within each graph, forces keep their norms
        assert torch.allclose(torch.cdist(x0, x0), torch.cdist(x1, x1), atol=1e-12)
        assert torch.allclose(batch["forces"][m].norm(dim=1), out["forces"][m].norm(dim=1), atol=1e-12)
        # the same orthogonal map takes the centred positions and the forces
        R = torch.linalg.lstsq(x0 - x0.mean(0), x1 - x1.mean(0)).solution.T
        assert torch.allclose(batch["forces"][m] @ R.T, out["forces"][m], atol=1e-8)
    assert not torch.allclose(out["pos"], batch["pos"])
