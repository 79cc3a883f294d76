"""The EGNN denoiser: eps_x equivariant under O(3) (incl. reflections) and translations,
as points in the zero-centre subspace; eps_h invariant; all of it permutation-equivariant."""
import pytest
import torch

from diffusion_helpers import random_batch, random_orthogonal, tiny_model, within_molecule_permutation


@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("conditions", [(), ("alpha",)])
def test_denoiser_equivariance(dtype, reflect, conditions):
    gen = torch.Generator().manual_seed(1)
    model = tiny_model(conditions=conditions, dtype=dtype)
    b = random_batch((4, 6, 3), gen, dtype, conditions=len(conditions))
    x, h = model.encode(b)
    h = h + 0.3 * torch.randn(h.shape, generator=gen, dtype=torch.float64).to(dtype)  # noisy features
    t = torch.tensor([3, 11, 19])
    B, idx = 3, b["batch"]
    cond = model.normalise_condition(b, dtype)
    ex, eh = model.denoise(x, h, t, idx, B, cond)
    assert ex.abs().max() > 1e-2  # the test is not vacuous

    R = random_orthogonal(gen, reflect).to(dtype)
    shift = torch.randn(3, generator=gen, dtype=torch.float64).to(dtype) * 5
    perm = within_molecule_permutation(b["num_atoms"], gen)
    ex2, eh2 = model.denoise((x @ R.T + shift)[perm], h[perm], t, idx, B, cond)

    tol = 1e-10 if dtype == torch.float64 else 1e-4
    assert torch.allclose(ex2, (ex @ R.T)[perm], atol=tol, rtol=0)
    assert torch.allclose(eh2, eh[perm], atol=tol, rtol=0)
    for mol in range(B):  # outputs live in the zero-centre subspace
        assert ex2[idx == mol].mean(0).abs().max() < tol


def test_molecules_do_not_talk_to_each_other():
    gen = torch.Generator().manual_seed(2)
    model = tiny_model()
    b = random_batch((4, 5), gen)
    x, h = model.encode(b)
    t = torch.tensor([5, 5])
    ex, eh = model.denoise(x, h, t, b["batch"], 2, None)
    x2 = x.clone()
    x2[4:] = torch.randn(5, 3, generator=gen, dtype=torch.float64)  # change molecule 1 only
    ex2, eh2 = model.denoise(x2, h, t, b["batch"], 2, None)
    assert torch.allclose(ex[:4], ex2[:4], atol=1e-12) and torch.allclose(eh[:4], eh2[:4], atol=1e-12)
    assert not torch.allclose(ex[4:], ex2[4:])
