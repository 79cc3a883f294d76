"""FlowNetwork: positions equivariant under O(3) (with and without reflection) and translations, as points
with zero centre; type/charge/bond logits invariant; everything permutation-equivariant; padding and other
molecules of the batch change nothing."""
import pytest
import torch

from molsym.flow import FlowNetwork, remove_com
from molsym.nn.testing import random_orthogonal


def _inputs(gen, dtype, sizes=(6, 4)):
    B, N = len(sizes), max(sizes)
    mask = torch.arange(N).unsqueeze(0) < torch.tensor(sizes).unsqueeze(1)
    x = remove_com(torch.randn(B, N, 3, generator=gen, dtype=torch.float64).to(dtype) * 1.5, mask)
    types = torch.randint(0, 6, (B, N), generator=gen)
    charges = torch.randint(0, 4, (B, N), generator=gen)
    bonds = torch.randint(0, 6, (B, N, N), generator=gen).triu(1)
    bonds = bonds + bonds.transpose(1, 2)
    t = torch.rand(B, generator=gen, dtype=torch.float64).to(dtype)
    return x, types, charges, bonds, t, mask


def _net(dtype):
    torch.manual_seed(3)
    net = FlowNetwork(5, 3, 5, hidden=16, edge_dim=8, msg_dim=8, num_layers=3, num_rbf=8).to(dtype)
    with torch.no_grad():  # move off the small init so coordinate updates are not negligible
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return net


def _pairs(mask):
    return mask.unsqueeze(2) & mask.unsqueeze(1)


@pytest.mark.parametrize("reflect", [False, True])
def test_equivariance(dtype, reflect):
    gen = torch.Generator().manual_seed(1)
    net = _net(dtype)
    x, ty, ch, bo, t, mask = _inputs(gen, dtype)
    out = net(x, ty, ch, bo, t, mask)
    assert (out["pos"] - x).abs().max() > 1e-2  # positions really move: the test is not vacuous
    R = random_orthogonal(gen, reflect).to(dtype)
    shift = torch.randn(3, generator=gen, dtype=torch.float64).to(dtype) * 5
    moved = net((x @ R.T + shift) * mask.unsqueeze(-1), ty, ch, bo, t, mask)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    m, p = mask.unsqueeze(-1), _pairs(mask)
    assert torch.allclose(moved["pos"] * m, (out["pos"] @ R.T) * m, atol=tol, rtol=0)
    for key in ("types", "charges"):
        assert torch.allclose(moved[key][mask], out[key][mask], atol=tol, rtol=0)
    assert torch.allclose(moved["bonds"][p], out["bonds"][p], atol=tol, rtol=0)
    com = (out["pos"] * m).sum(1) / mask.sum(1, keepdim=True)
    assert com.abs().max() < tol  # outputs are centred points


def test_permutation_equivariance(dtype):
    gen = torch.Generator().manual_seed(2)
    net = _net(dtype)
    x, ty, ch, bo, t, mask = _inputs(gen, dtype, sizes=(5, 5))
    out = net(x, ty, ch, bo, t, mask)
    perm = torch.randperm(5, generator=gen)
    moved = net(x[:, perm], ty[:, perm], ch[:, perm], bo[:, perm][:, :, perm], t, mask)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    assert torch.allclose(moved["pos"], out["pos"][:, perm], atol=tol, rtol=0)
    assert torch.allclose(moved["types"], out["types"][:, perm], atol=tol, rtol=0)
    assert torch.allclose(moved["charges"], out["charges"][:, perm], atol=tol, rtol=0)
    assert torch.allclose(moved["bonds"], out["bonds"][:, perm][:, :, perm], atol=tol, rtol=0)


def test_bond_logits_are_symmetric():
    gen = torch.Generator().manual_seed(4)
    out = _net(torch.float64)(*_inputs(gen, torch.float64))
    assert torch.equal(out["bonds"], out["bonds"].transpose(1, 2))


def test_padding_and_other_molecules_change_nothing():
    gen = torch.Generator().manual_seed(5)
    net = _net(torch.float64)
    x, ty, ch, bo, t, mask = _inputs(gen, torch.float64, sizes=(6, 4))
    out = net(x, ty, ch, bo, t, mask)
    alone = net(x[1:, :4], ty[1:, :4], ch[1:, :4], bo[1:, :4, :4], t[1:], mask[1:, :4])
    assert torch.allclose(out["pos"][1, :4], alone["pos"][0], atol=1e-12)
    assert torch.allclose(out["bonds"][1, :4, :4], alone["bonds"][0], atol=1e-12)
    x2 = x.clone()
    x2[0] = remove_com(torch.randn(1, 6, 3, generator=gen, dtype=torch.float64), mask[:1])[0]
    other = net(x2, ty, ch, bo, t, mask)
    assert torch.allclose(other["pos"][1], out["pos"][1], atol=1e-12)
    assert not torch.allclose(other["pos"][0], out["pos"][0])


@pytest.mark.parametrize("reflect", [False, True])
def test_self_conditioned_network_is_equivariant_in_both_inputs(dtype, reflect):
    gen = torch.Generator().manual_seed(6)
    torch.manual_seed(6)
    net = FlowNetwork(5, 3, 5, hidden=16, edge_dim=8, msg_dim=8, num_layers=2, num_rbf=8,
                      self_condition=True).to(dtype)
    x, ty, ch, bo, t, mask = _inputs(gen, dtype, sizes=(5, 5))
    first = net(x, ty, ch, bo, t, mask)
    out = net(x, ty, ch, bo, t, mask, previous=first)
    assert (out["types"] - first["types"]).abs().max() > 1e-6  # the previous prediction is used
    R = random_orthogonal(gen, reflect).to(dtype)
    perm = torch.randperm(5, generator=gen)
    moved_prev = {"pos": (first["pos"] @ R.T)[:, perm], "types": first["types"][:, perm],
                  "charges": first["charges"][:, perm], "bonds": first["bonds"][:, perm][:, :, perm]}
    moved = net((x @ R.T)[:, perm], ty[:, perm], ch[:, perm], bo[:, perm][:, :, perm], t, mask, previous=moved_prev)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    assert torch.allclose(moved["pos"], (out["pos"] @ R.T)[:, perm], atol=tol, rtol=0)
    assert torch.allclose(moved["bonds"], out["bonds"][:, perm][:, :, perm], atol=tol, rtol=0)
    assert torch.allclose(moved["types"], out["types"][:, perm], atol=tol, rtol=0)
