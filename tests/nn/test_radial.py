import math

import torch

from molsym.nn.radial import BesselBasis, PolynomialCutoff, RadialEmbedding


def test_envelope_value_and_derivatives_vanish_at_cutoff():
    env = PolynomialCutoff(4.0, p=6)
    r = torch.tensor([4.0 - 1e-9], dtype=torch.float64, requires_grad=True)
    u = env(r)
    (du,) = torch.autograd.grad(u.sum(), r, create_graph=True)
    (d2u,) = torch.autograd.grad(du.sum(), r)
    u, du = u.detach(), du.detach()
    assert abs(float(u)) < 1e-20 and abs(float(du)) < 1e-12 and abs(float(d2u)) < 1e-6
    assert float(env(torch.tensor(0.0, dtype=torch.float64))) == 1.0
    assert float(env(torch.tensor(4.5, dtype=torch.float64))) == 0.0
    grid = torch.linspace(0, 4, 401, dtype=torch.float64)
    vals = env(grid)
    assert (vals >= 0).all() and (vals <= 1).all() and (vals[1:] <= vals[:-1] + 1e-15).all()  # monotone


def test_bessel_basis_values():
    basis = BesselBasis(5.0, num_basis=3).double()
    r = torch.tensor([1.3], dtype=torch.float64)
    expected = [math.sqrt(2 / 5.0) * math.sin(n * math.pi * 1.3 / 5.0) / 1.3 for n in (1, 2, 3)]
    assert torch.allclose(basis(r)[0], torch.tensor(expected, dtype=torch.float64), atol=1e-14)


def test_radial_embedding_vanishes_beyond_cutoff_and_keeps_dtype():
    emb = RadialEmbedding(3.0, 4).to(torch.float32)
    feats, u = emb(torch.tensor([1.0, 3.0, 3.5]))
    assert feats.dtype == torch.float32 and feats.shape == (3, 4)
    assert torch.all(feats[1:] == 0) and torch.all(u[1:] == 0) and torch.all(feats[0] != 0)
    learn = BesselBasis(3.0, 4, trainable=True)
    assert any(p is learn.freq for p in learn.parameters())
