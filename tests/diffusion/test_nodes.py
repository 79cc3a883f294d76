import pytest
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


def test_plain_type_form_round_trips_and_bad_specs_are_refused():
    n = torch.tensor([3, 4, 4, 6, 6, 6])
    d = AtomCountDistribution.fit(n, torch.tensor([1.0, 2.0, 2.5, 7.0, 8.0, 9.0]), num_bins=3)
    spec = d.to_config()
    assert all(isinstance(v, list) for v in spec.values())
    back = AtomCountDistribution.from_spec(spec)
    for name in ("counts", "edges", "joint"):
        assert torch.equal(getattr(back, name), getattr(d, name)), name
    assert AtomCountDistribution.from_spec(d) is d
    plain = AtomCountDistribution.from_spec([0, 0, 0, 1, 2])
    assert plain.max_atoms == 4 and plain.joint.shape == (0, 5) and "joint" not in plain.to_config()
    with pytest.raises(ValueError, match="auto"):
        AtomCountDistribution.from_spec("auto")
    with pytest.raises(ValueError, match="counts"):
        AtomCountDistribution.from_spec({"edges": [0.0, 1.0]})


def test_joint_draws_pair_sizes_with_their_property_values():
    n = torch.tensor([3] * 50 + [9] * 50)
    prop = torch.cat([torch.rand(50), 10 + torch.rand(50)])
    d = AtomCountDistribution.fit(n, prop, num_bins=4)
    sizes, values = d.sample_joint(400, generator=torch.Generator().manual_seed(0))
    assert sizes.shape == values.shape == (400,) and values.dtype == torch.float64
    assert set(sizes.tolist()) == {3, 9}
    middle = d.edges[2]  # the median edge separates the small molecules' values from the large ones'
    assert bool((values[sizes == 3] <= middle).all()) and bool((values[sizes == 9] >= middle).all())
    assert abs((sizes == 3).double().mean().item() - 0.5) < 0.08
    assert float(values.min()) >= float(prop.min()) and float(values.max()) <= float(prop.max())
    with pytest.raises(ValueError, match="property histogram"):
        AtomCountDistribution.fit(n).sample_joint(3)
