"""The prior–data coupling: centred noise, Kabsch rotations, Hungarian permutations that shorten the paths."""
import numpy as np
import torch

from molsym.flow import align_prior, kabsch_rotation, remove_com, zero_com_noise
from molsym.nn.testing import random_orthogonal


def test_zero_com_noise_is_centred_and_padded_with_zeros():
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    x = zero_com_noise(mask, torch.float64, torch.Generator().manual_seed(0), std=2.0)
    assert x[0, 3].abs().max() == 0
    assert (x.sum(1)).abs().max() < 1e-12


def test_kabsch_recovers_a_rotation():
    gen = torch.Generator().manual_seed(1)
    a = remove_com(torch.randn(1, 7, 3, generator=gen, dtype=torch.float64), torch.ones(1, 7, dtype=torch.bool))[0]
    R = random_orthogonal(gen, reflect=False)
    b = a @ R.T
    Q = kabsch_rotation(a.numpy(), b.numpy())
    assert np.allclose(a.numpy() @ Q, b.numpy(), atol=1e-10)
    assert np.isclose(np.linalg.det(Q), 1.0)
    # a mirror image cannot be reached by a proper rotation
    Q = kabsch_rotation(a.numpy(), -b.numpy())
    assert np.isclose(np.linalg.det(Q), 1.0) and not np.allclose(a.numpy() @ Q, -b.numpy(), atol=1e-3)


def test_alignment_permutes_rotates_and_shortens_paths():
    gen = torch.Generator().manual_seed(2)
    mask = torch.arange(9).unsqueeze(0) < torch.tensor([[9], [6]])
    x1 = remove_com(torch.randn(2, 9, 3, generator=gen, dtype=torch.float64) * 1.5, mask)
    x0 = zero_com_noise(mask, torch.float64, gen)
    aligned = align_prior(x0, x1, mask)
    for k, n in enumerate((9, 6)):
        before = ((x0[k, :n] - x1[k, :n]) ** 2).sum()
        after = ((aligned[k, :n] - x1[k, :n]) ** 2).sum()
        assert after < before
        # the same point cloud, up to a rotation: sorted pairwise distances are unchanged
        d0 = torch.cdist(x0[k, :n], x0[k, :n]).flatten().sort().values
        d1 = torch.cdist(aligned[k, :n], aligned[k, :n]).flatten().sort().values
        assert torch.allclose(d0, d1, atol=1e-10)
        assert aligned[k, :n].mean(0).abs().max() < 1e-12
    assert aligned[1, 6:].abs().max() == 0
    # data that is a permuted copy of the noise is matched exactly; so is a rotated copy without permutation
    perm = torch.randperm(9, generator=gen)
    assert torch.allclose(align_prior(x0[:1], x0[:1, perm], mask[:1]), x0[:1, perm], atol=1e-10)
    R = random_orthogonal(gen, reflect=False)
    target = x0[:1] @ R.T
    assert torch.allclose(align_prior(x0[:1], target, mask[:1], permute=False), target, atol=1e-10)
