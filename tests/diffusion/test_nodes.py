import torch

from molsym.diffusion import AtomCountDistribution


def test_histogram_probabilities_and_sampling_frequencies():
    d = AtomCountDistribution.fit(torch.tensor([3, 3, 3, 5]))
    logp = d.log_prob(torch.tensor([3, 5, 4, 9]))
    assert torch.allclose(logp[:2].exp(), torch.tensor([0.75, 0.25], dtype=torch.float64))
    assert torch.isinf(logp[2:]).all()  # unseen sizes, inside and beyond the range
    draws = d.sample(4000, generator=torch.Generator().manual_seed(0))
    assert set(draws.tolist()) == {3, 5}
    assert abs((draws == 3).double().mean().item() - 0.75) < 0.03


def test_conditional_sizes_follow_the_property():
    # small molecules have small property values, large ones large values
    n = torch.tensor([3] * 50 + [9] * 50)
    prop = torch.cat([torch.rand(50), 10 + torch.rand(50)])
    d = AtomCountDistribution.fit(n, prop, num_bins=4)
    gen = torch.Generator().manual_seed(1)
    assert set(d.sample(200, torch.tensor(0.5), generator=gen).tolist()) == {3}
    assert set(d.sample(200, torch.tensor(10.5), generator=gen).tolist()) == {9}
    # the state survives a rebuild from its buffers (how generator files are loaded)
    d2 = AtomCountDistribution(d.counts, d.edges, d.joint)
    assert torch.equal(d2.sample(50, torch.tensor(10.5), generator=torch.Generator().manual_seed(2)),
                       d.sample(50, torch.tensor(10.5), generator=torch.Generator().manual_seed(2)))
