import math

import torch

from molsym.diffusion import remove_mean, sample_zero_com_gaussian, zero_com_gaussian_log_prob


def test_zero_com_noise_and_projection():
    batch = torch.tensor([0, 0, 0, 1, 1])
    gen = torch.Generator().manual_seed(0)
    eps = sample_zero_com_gaussian(batch, 2, dtype=torch.float64, generator=gen)
    for b in range(2):
        assert torch.allclose(eps[batch == b].mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-14)
    x = torch.randn(5, 3, dtype=torch.float64)
    y = remove_mean(x, batch, 2)
    assert torch.allclose(remove_mean(y, batch, 2), y)  # projection is idempotent


def test_subspace_log_prob_matches_the_reduced_gaussian():
    # a 2-atom molecule's zero-centred coordinates are (r/2, -r/2): one free 3-vector r
    # with |x|^2 = |r|^2 / 2, i.e. an isotropic Gaussian in d = 3 orthonormal coordinates u = r / sqrt(2)
    r = torch.tensor([[0.3, -0.2, 0.5]], dtype=torch.float64)
    x = torch.cat([r / 2, -r / 2])
    u = r / math.sqrt(2)
    scale = 0.7
    expected = (-0.5 * (u**2).sum() / scale**2 - 3 * math.log(scale) - 1.5 * math.log(2 * math.pi))
    got = zero_com_gaussian_log_prob(x, torch.tensor([0, 0]), torch.tensor([2]), scale)
    assert torch.allclose(got, expected.reshape(1))
