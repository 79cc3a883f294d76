"""FlowMatchingGenerator: the masking interpolant, the loss, sampling, and that training lowers the loss."""
import pytest
import torch

from molsym.flow import FlowMatchingGenerator, collate_graphs, graph_records

from conftest import TINY_NETWORK, embedded


def _batch(smiles=("CCO", "C#N", "O=CO", "CC(=O)N")):
    frames = [dict(zip(("atomic_numbers", "pos"), embedded(s))) for s in smiles]
    records, skipped = graph_records(frames, [1, 6, 7, 8, 9])
    assert skipped == 0
    return collate_graphs(records, [1, 6, 7, 8, 9], torch.float64)


def test_interpolant_keeps_tokens_with_probability_t(tiny_generator):
    b = _batch()
    big = {k: v.repeat(64, *([1] * (v.dim() - 1))) for k, v in b.items()}
    g = tiny_generator.double()
    for t in (0.0, 0.3, 0.8):
        z = g.noisy(big, torch.full((big["mask"].shape[0],), t), torch.Generator().manual_seed(0))
        masked_t, _, masked_b = z["masked"]
        kept = 1 - masked_t[big["mask"]].double().mean()
        assert abs(float(kept) - t) < 0.03
        assert torch.equal(masked_b, masked_b.transpose(1, 2))  # a pair is masked as one
        assert torch.equal(z["bonds"] == g.masks[2], masked_b)
        if t == 0.0:
            assert bool((z["types"][big["mask"]] == g.masks[0]).all())
        # positions: on the straight line between the centred noise and the centred data
        assert z["pos"].sum(1).abs().max() < 1e-9


def test_training_loss_has_every_term_and_reaches_every_parameter(tiny_generator):
    g = tiny_generator.double()
    out = g.training_loss(_batch(), torch.Generator().manual_seed(1))
    assert set(out) == {"loss", "pos", "types", "charges", "bonds"}
    assert all(torch.isfinite(v) for v in out.values())
    out["loss"].backward()
    missing = [n for n, p in g.named_parameters() if p.grad is None or p.grad.abs().max() == 0]
    assert missing == []


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    g = FlowMatchingGenerator([1, 6, 7, 8, 9], torch.ones(8), network=TINY_NETWORK).double()
    b = _batch()
    opt = torch.optim.Adam(g.parameters(), lr=3e-3)

    def evaluate():
        with torch.no_grad():
            return float(sum(g.training_loss(b, torch.Generator().manual_seed(k))["loss"] for k in range(8)))

    before = evaluate()
    for step in range(150):
        loss = g.training_loss(b, torch.Generator().manual_seed(100 + step))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert evaluate() < 0.6 * before


def test_sample_outputs_complete_centred_symmetric_and_reproducible(tiny_generator):
    sizes = torch.tensor([3, 6, 5])
    out = tiny_generator.sample(sizes, steps=4, generator=torch.Generator().manual_seed(0))
    mask = out["mask"]
    assert mask.sum(1).tolist() == [3, 6, 5]
    mt, mc, mb = tiny_generator.masks
    assert not bool((out["types"][mask] == mt).any()) and not bool((out["charges"][mask] == mc).any())
    pairs = mask.unsqueeze(2) & mask.unsqueeze(1)
    assert not bool((out["bonds"][pairs] == mb).any())
    assert torch.equal(out["bonds"], out["bonds"].transpose(1, 2))
    assert out["bonds"].diagonal(dim1=1, dim2=2).abs().max() == 0
    assert out["pos"].sum(1).abs().max() < 1e-4
    again = tiny_generator.sample(sizes, steps=4, generator=torch.Generator().manual_seed(0))
    other = tiny_generator.sample(sizes, steps=4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out["pos"], again["pos"]) and torch.equal(out["bonds"], again["bonds"])
    assert not torch.equal(out["pos"], other["pos"])


def test_sample_molecules_gives_generated_molecules(tiny_generator):
    mols = tiny_generator.sample_molecules(5, steps=3, generator=torch.Generator().manual_seed(0), batch_size=2)
    assert len(mols) == 5
    for m in mols:
        assert 3 <= m.num_atoms <= 6
        assert set(m.atomic_numbers.tolist()) <= {1, 6, 7, 8, 9}
        assert set(m.charges.tolist()) <= {-1, 0, 1}
        assert m.bonds.shape == (m.num_atoms, m.num_atoms)
    with pytest.raises(ValueError, match="steps"):
        tiny_generator.sample(torch.tensor([3]), steps=0)


def test_config_round_trip_and_bad_loss_weight(tiny_generator):
    cfg = tiny_generator.to_config()
    again = FlowMatchingGenerator(atom_counts=tiny_generator.atom_counts, **cfg)
    again.load_state_dict(tiny_generator.state_dict())
    with pytest.raises(ValueError, match="unknown keys"):
        FlowMatchingGenerator([1, 6], loss_weights={"position": 1.0})


def test_distance_term_counts_close_pairs_only_and_is_invariant():
    torch.manual_seed(0)
    g = FlowMatchingGenerator([1, 6, 7, 8, 9], torch.ones(8), network=TINY_NETWORK,
                              loss_weights={"distance": 1.0}).double()
    b = _batch()
    out = g.training_loss(b, torch.Generator().manual_seed(3))
    assert set(out) == {"loss", "pos", "types", "charges", "bonds", "distance"}
    assert out["distance"] > 0
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in g.parameters() if p.grad is not None)
    # the term by hand: a prediction that differs from the data in one close pair only
    x1 = b["pos"] - b["pos"].mean(1, keepdim=True)
    pairs = torch.ones(x1.shape[:2] + x1.shape[1:2], dtype=torch.bool).triu(1) & b["mask"].unsqueeze(1) \
        & b["mask"].unsqueeze(2)
    w = torch.ones(x1.shape[0], dtype=x1.dtype)
    assert float(g._distance_loss(x1.clone(), x1, pairs, w)) < 1e-20
    moved = x1.clone()
    moved[0, 0] += torch.tensor([0.0, 0.0, 50.0], dtype=x1.dtype)  # atom 0 of molecule 0 far away
    d = torch.cdist(x1, x1)
    close0 = pairs[0] & (d[0] < 2.5)
    expect = (((torch.cdist(moved, moved)[0] - d[0]) ** 2) * close0).sum() / close0.sum() / x1.shape[0]
    assert torch.allclose(g._distance_loss(moved, x1, pairs, w), expect)
    # rotating and reflecting prediction and data together leaves it unchanged
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=x1.dtype))
    q[:, 0] *= -1
    assert torch.allclose(g._distance_loss(moved @ q, x1 @ q, pairs, w), expect)


def test_self_conditioning_trains_and_samples():
    torch.manual_seed(0)
    g = FlowMatchingGenerator([1, 6, 7, 8, 9], torch.ones(8), network=dict(TINY_NETWORK, self_condition=True))
    g = g.double()
    total = sum(g.training_loss(_batch(), torch.Generator().manual_seed(k))["loss"] for k in range(8))
    assert torch.isfinite(total)
    total.backward()
    assert g.network.cond_atoms.weight.grad.abs().max() > 0  # some steps fed a first guess back
    mols = g.sample_molecules(3, steps=3, generator=torch.Generator().manual_seed(0))
    assert len(mols) == 3


def test_time_power_spaces_the_steps(tiny_generator, monkeypatch):
    seen = []
    forward = tiny_generator.network.forward

    def spy(x, types, charges, bonds, t, mask, previous=None):
        seen.append(float(t[0]))
        return forward(x, types, charges, bonds, t, mask, previous=previous)

    monkeypatch.setattr(tiny_generator.network, "forward", spy)
    tiny_generator.sample(torch.tensor([4]), steps=4, generator=torch.Generator().manual_seed(0), time_power=2.0)
    assert seen == pytest.approx([0.0, 1 - 0.75 ** 2, 1 - 0.5 ** 2, 1 - 0.25 ** 2])
    seen.clear()
    tiny_generator.sample(torch.tensor([4]), steps=4, generator=torch.Generator().manual_seed(0))
    assert seen == pytest.approx([0.0, 0.25, 0.5, 0.75])  # the default is uniform
    with pytest.raises(ValueError, match="time_power"):
        tiny_generator.sample(torch.tensor([4]), steps=4, time_power=0.0)
