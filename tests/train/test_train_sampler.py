"""The seeded sampler: same order for the same (seed, epoch), skipping, DDP split."""
from unittest import mock


from molsym.train.data import EpochSampler, ResumableDataLoader


def test_order_depends_only_on_seed_and_epoch():
    a, b = EpochSampler(10, 2, seed=1), EpochSampler(10, 2, seed=1)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b) and sorted(a) == list(range(10))
    assert list(EpochSampler(10, 2, seed=2)) != list(b)
    assert list(EpochSampler(10, 2, shuffle=False)) == list(range(10))


def test_skip_applies_once_to_its_epoch():
    s = EpochSampler(10, 2, seed=0)
    full = list(s)
    s.skip(0, 3)
    assert list(s) == full[6:]
    assert list(s) == full
    s.skip(5, 3)  # for another epoch: ignored
    assert list(s) == full


def test_split_between_processes_reassembles_the_global_batch():
    order = list(EpochSampler(11, 4, seed=0))
    per_rank = []
    for rank in range(2):
        with mock.patch("molsym.train.data._world", return_value=(2, rank)):
            s = EpochSampler(11, 2, seed=0)
            assert len(s) == 4
            per_rank.append(list(s))
    for j in range(2):
        glob = order[4 * j:4 * j + 4]
        assert sorted(per_rank[0][2 * j:2 * j + 2] + per_rank[1][2 * j:2 * j + 2]) == sorted(glob)


def test_loader_state_round_trip():
    data = list(range(10))
    dl = ResumableDataLoader(data, batch_size=3, seed=4)
    it = iter(dl)
    first = [next(it).tolist() for _ in range(2)]
    state = dl.state_dict()
    assert state == {"epoch": 0, "consumed": 2}
    rest = [b.tolist() for b in it]
    fresh = ResumableDataLoader(data, batch_size=3, seed=4)
    fresh.load_state_dict(state)
    assert [b.tolist() for b in fresh] == rest
    assert fresh.state_dict()["consumed"] == 4
    assert sum(first + rest, []) != list(range(10)) and sorted(sum(first + rest, [])) == list(range(10))
