"""Loss, variational bound and samplers of EquivariantDiffusion."""
import numpy as np
import pytest
import torch

from molsym.diffusion import ancestral_step, ddim_step, sample, timestep_grid
from molsym.diffusion.subspace import segment_mean

from diffusion_helpers import random_batch, random_orthogonal, tiny_model, within_molecule_permutation


def _noise(model, b, gen):
    eps = [model.sample_noise(b["batch"], b["num_atoms"].shape[0], torch.float64, gen) for _ in range(2)]
    return eps[0] + eps[1]


@pytest.mark.parametrize("reflect", [False, True])
def test_nll_invariant_under_rotation_translation_permutation(reflect):
    gen = torch.Generator().manual_seed(3)
    model = tiny_model()
    b = random_batch((4, 5), gen)
    t = torch.tensor([2, 17])
    noise = _noise(model, b, gen)
    ref = model.nll(b, t=t, noise=noise)

    R = random_orthogonal(gen, reflect)
    perm = within_molecule_permutation(b["num_atoms"], gen)
    moved = dict(b, pos=(b["pos"] @ R.T + torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))[perm],
                 types=b["types"][perm], charges=b["charges"][perm])
    eps_x, eps_h, eps0_x, eps0_h = noise
    noise2 = ((eps_x @ R.T)[perm], eps_h[perm], (eps0_x @ R.T)[perm], eps0_h[perm])
    got = model.nll(moved, t=t, noise=noise2)
    for key in ("nll", "kl_prior", "diffusion", "recon"):
        assert torch.allclose(got[key], ref[key], atol=1e-9, rtol=0), key
    assert torch.isfinite(ref["nll"]).all() and ref["diffusion"].abs().min() > 0


def test_nll_terms_have_the_expected_signs_and_sizes():
    model = tiny_model()
    b = random_batch((4, 6))
    out = model.nll(b)
    # p(N): sizes 4 and 6 in a histogram of {3, 4, 4, 5}: log(1/2) and -inf (never seen)
    assert torch.isclose(out["log_pN"][0], torch.log(torch.tensor(0.5, dtype=torch.float64)))
    assert torch.isinf(out["log_pN"][1])
    # alpha_T is tiny: the prior term is close to zero but positive
    assert (out["kl_prior"] > 0).all() and (out["kl_prior"] < 1e-2).all()
    assert (out["diffusion"] >= 0).all()


def test_training_loss_backpropagates_and_is_per_dimension():
    model = tiny_model(dtype=torch.float32)
    b = random_batch((4, 5), dtype=torch.float32)
    out = model.training_loss(b)
    out["loss"].backward()
    grads = [p.grad for p in model.denoiser.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    # an untrained near-identity denoiser predicts ~0 noise, so the per-dimension L2 is about 1
    assert 0.3 < float(out["loss"]) < 3.0


def test_ddim_with_eta_one_is_the_ancestral_step():
    gen = torch.Generator().manual_seed(4)
    z, eps, noise = (torch.randn(6, 3, generator=gen, dtype=torch.float64) for _ in range(3))
    alpha = torch.tensor([0.6, 0.9], dtype=torch.float64)
    sigma = (1 - alpha**2).sqrt()
    assert torch.allclose(ddim_step(z, eps, noise, alpha, sigma, eta=1.0), ancestral_step(z, eps, noise, alpha, sigma))
    # eta = 0 is deterministic: the noise is ignored
    assert torch.allclose(ddim_step(z, eps, noise, alpha, sigma, 0.0), ddim_step(z, eps, 2 * noise, alpha, sigma, 0.0))


def test_exact_noise_prediction_recovers_the_data():
    # if eps_hat is the true noise, one deterministic DDIM jump to t = 0 returns x (up to alpha_0)
    gen = torch.Generator().manual_seed(5)
    x, eps = (torch.randn(5, 3, generator=gen, dtype=torch.float64) for _ in range(2))
    alpha = torch.tensor([0.3, 1.0], dtype=torch.float64)
    sigma = torch.tensor([(1 - 0.09) ** 0.5, 0.0], dtype=torch.float64)
    z = alpha[0] * x + sigma[0] * eps
    assert torch.allclose(ddim_step(z, eps, torch.zeros_like(z), alpha, sigma), x)


@pytest.mark.parametrize("method,steps", [("ancestral", None), ("ancestral", 4), ("ddim", 4)])
def test_sampler_output(method, steps):
    model = tiny_model(dtype=torch.float32)
    for layer in model.denoiser.layers:  # undo the test amplification for a tame sampler
        layer.phi_x[-1].weight.data.div_(300.0)
    gen = torch.Generator().manual_seed(6)
    out = sample(model, torch.tensor([3, 5]), steps=steps, method=method, generator=gen)
    assert out["pos"].shape == (8, 3) and out["pos"].dtype == torch.float32
    assert torch.isfinite(out["pos"]).all()
    assert set(out["atomic_numbers"].tolist()) <= {1, 6, 8}
    assert out["charges"].abs().max() <= 2
    assert segment_mean(out["pos"], out["batch"], 2).abs().max() < 1e-4
    # reproducible with the same seed
    again = sample(model, torch.tensor([3, 5]), steps=steps, method=method, generator=torch.Generator().manual_seed(6))
    assert torch.equal(again["pos"], out["pos"])


def test_timestep_grid_and_bad_steps():
    assert timestep_grid(10, 10).tolist() == list(range(10, -1, -1))
    g = timestep_grid(1000, 50)
    assert g[0] == 1000 and g[-1] == 0 and len(g) == 51 and torch.all(torch.diff(g) < 0)
    with pytest.raises(ValueError):
        timestep_grid(10, 11)


def test_conditional_model_needs_a_condition():
    model = tiny_model(conditions=("alpha",), dtype=torch.float32)
    b = random_batch((3, 4), dtype=torch.float32)
    with pytest.raises(ValueError, match="conditioned"):
        model.training_loss(b)
    b["condition"] = torch.tensor([[1.0], [3.0]], dtype=torch.float64)
    assert torch.isfinite(model.training_loss(b)["loss"])
    # the condition changes the prediction
    x, h = model.encode(b)
    t = torch.tensor([5, 5])
    e1 = model.denoise(x, h, t, b["batch"], 2, model.normalise_condition(b, torch.float32))[1]
    b["condition"] = b["condition"] + 5
    e2 = model.denoise(x, h, t, b["batch"], 2, model.normalise_condition(b, torch.float32))[1]
    assert not torch.allclose(e1, e2)


def test_training_loss_with_a_generator_is_repeatable_and_its_parts_add_up():
    model = tiny_model()
    b = random_batch((4, 5, 3))
    first = model.training_loss(b, generator=torch.Generator().manual_seed(7))
    again = model.training_loss(b, generator=torch.Generator().manual_seed(7))
    other = model.training_loss(b, generator=torch.Generator().manual_seed(8))
    assert set(first) == {"loss", "pos", "types", "charges"}
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["loss"], other["loss"])
    assert torch.allclose(first["pos"] + first["types"] + first["charges"], first["loss"])
    assert all(first[k].shape == () and first[k] > 0 for k in first)
    # the generator's draws do not touch the global RNG
    state = torch.get_rng_state()
    model.training_loss(b, generator=torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), state)


def test_validation_metrics_are_the_bound_with_and_without_p_of_n():
    model = tiny_model()
    b = random_batch((4, 6))  # size 6 never occurs in the training histogram
    out = model.validation_metrics(b, generator=torch.Generator().manual_seed(0))
    ref = model.nll(b, generator=torch.Generator().manual_seed(0))
    assert torch.isinf(out["nll"]) and torch.isfinite(out["nll_given_n"])
    terms = ref["kl_prior"] + ref["diffusion"] + ref["recon"] + ref["log_det"]
    assert torch.allclose(out["nll_given_n"], terms.mean())
    assert torch.allclose(terms[0] - ref["log_pN"][0], ref["nll"][0])


def _tame(model):
    for layer in model.denoiser.layers:  # undo the test amplification for a tame sampler
        layer.phi_x[-1].weight.data.div_(300.0)
    return model


def test_sample_molecules_returns_records_of_the_sampled_batch():
    from molsym.generate import GeneratedMolecule
    from molsym.diffusion.export import split_samples

    model = _tame(tiny_model(dtype=torch.float32))
    mols = model.sample_molecules(5, steps=4, generator=torch.Generator().manual_seed(3), batch_size=2)
    assert len(mols) == 5 and all(isinstance(m, GeneratedMolecule) and m.bonds is None for m in mols)
    assert {m.num_atoms for m in mols} <= {3, 4, 5}  # sizes from p(N) of the histogram {3, 4, 4, 5}
    # the same draws as sizes from p(N) then sample() batch by batch, with one generator
    gen = torch.Generator().manual_seed(3)
    sizes = model.atom_counts.sample(5, generator=gen)
    flat = []
    for start in range(0, 5, 2):
        flat += split_samples(sample(model, sizes[start:start + 2], steps=4, generator=gen))
    for m, (z, pos, q) in zip(mols, flat):
        assert np.array_equal(m.atomic_numbers, z) and np.allclose(m.pos, pos) and np.array_equal(m.charges, q)
    with pytest.raises(ValueError, match="unconditional"):
        model.sample_molecules(2, steps=2, condition=[1.0])
    with pytest.raises(ValueError, match="steps"):
        model.sample_molecules(2, steps=model.T + 1)


def test_conditional_sample_molecules_with_and_without_a_condition():
    model = _tame(tiny_model(conditions=("alpha",), dtype=torch.float32))
    # property 1..2 came with sizes 3 and 4, 3..4 with sizes 4 and 5 (two bins)
    low = model.sample_molecules(6, steps=2, condition=[1.2], generator=torch.Generator().manual_seed(0))
    high = model.sample_molecules(6, steps=2, condition=[3.8], generator=torch.Generator().manual_seed(0))
    assert {m.num_atoms for m in low} <= {3, 4} and {m.num_atoms for m in high} <= {4, 5}
    drawn = model.sample_molecules(4, steps=2, generator=torch.Generator().manual_seed(1))  # (N, c) drawn jointly
    assert len(drawn) == 4 and {m.num_atoms for m in drawn} <= {3, 4, 5}
    with pytest.raises(ValueError, match="rows"):
        model.sample_molecules(3, steps=2, condition=[[1.0], [2.0]])
