"""EGNNLayer: h invariant, x equivariant (O(3) incl. reflections, translations, permutations)."""
import pytest
import torch

from molsym.nn.layers.egnn import EGNNLayer


def _random_orthogonal(gen, dtype, reflect):
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    if reflect:
        q = -q
    return q.to(dtype)


def _fully_connected(n):
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = i != j
    return torch.stack([i[keep], j[keep]])


@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("edge_features", [0, 4])
def test_egnn_layer_equivariance(dtype, reflect, edge_features):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    n, f = 7, 16
    layer = EGNNLayer(f, edge_features=edge_features, attention=True).to(dtype)
    with torch.no_grad():  # make the coordinate update large enough to matter
        layer.phi_x[-1].weight.mul_(1000.0)
    h = torch.randn(n, f, generator=gen, dtype=torch.float64).to(dtype)
    x = torch.randn(n, 3, generator=gen, dtype=torch.float64).to(dtype)
    ei = _fully_connected(n)
    ea = torch.randn(ei.shape[1], edge_features, generator=gen, dtype=torch.float64).to(dtype) if edge_features else None
    R = _random_orthogonal(gen, dtype, reflect)
    t = torch.randn(3, generator=gen, dtype=torch.float64).to(dtype)
    perm = torch.randperm(n, generator=gen)
    inv = torch.argsort(perm)
    h1, x1 = layer(h, x, ei, ea)
    # permute atoms: relabel edges, keep their attributes in the same order
    ei_p = inv[ei]
    h2, x2 = layer(h[perm], x[perm] @ R.T + t, ei_p, ea)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    assert torch.allclose(h2, h1[perm], atol=tol, rtol=0)
    assert torch.allclose(x2, x1[perm] @ R.T + t, atol=tol, rtol=0)
    assert (x1 - x).abs().max() > 1e-3  # coordinates really moved


def test_egnn_layer_without_coords_and_bounded_step():
    torch.manual_seed(1)
    layer = EGNNLayer(8, update_coords=False).double()
    assert layer.phi_x is None and not any(k.startswith("phi_x") for k in layer.state_dict())
    h, x = torch.randn(5, 8, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    ei = _fully_connected(5)
    _, x2 = layer(h, x, ei)
    assert torch.equal(x2, x)
    # each coordinate term is bounded by coords_range: the total by range * degree
    moving = EGNNLayer(8, coords_range=0.5, aggregation_factor=1.0).double()
    with torch.no_grad():
        moving.phi_x[-1].weight.mul_(1e6)
    _, x3 = moving(h, 100 * x, ei)
    assert ((x3 - 100 * x).norm(dim=-1) <= 0.5 * 4 + 1e-12).all()


def test_egnn_layer_edge_weight_zero_means_no_message():
    torch.manual_seed(2)
    layer = EGNNLayer(8).double()
    h, x = torch.randn(3, 8, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)
    ei = _fully_connected(3)
    h_none, x_none = layer(h, x, ei[:, :0])
    h_w, x_w = layer(h, x, ei, edge_weight=torch.zeros(ei.shape[1], dtype=torch.float64))
    assert torch.allclose(h_none, h_w, atol=1e-14) and torch.allclose(x_none, x_w, atol=1e-14)
