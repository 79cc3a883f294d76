"""E0s (isolated atoms, dict, least squares) and dataset statistics."""
import numpy as np
import pytest

from molsym.data.errors import DataError
from molsym.data.frame import make_frame
from molsym.data.neighbors import neighbor_list
from molsym.data.statistics import (compute_statistics, e0s_from_isolated, fit_e0s_lstsq, is_isolated_atom,
                                    resolve_e0s, partition_isolated, statistics_from_json, statistics_to_json)

TRUE_E0 = {1: -13.6, 6: -1029.5, 8: -2041.9}


def _molecules(n=30, seed=0, noise=0.0):
    """Random molecules of varying composition with E = sum E0 + noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(2, 9))
        z = rng.choice([1, 6, 8], k)
        e = sum(TRUE_E0[int(a)] for a in z) + noise * rng.normal()
        out.append(make_frame(z, rng.uniform(-2, 2, (k, 3)), energy=e, forces=rng.normal(size=(k, 3))))
    return out


def test_lstsq_recovers_e0s_exactly_without_noise():
    e0s = fit_e0s_lstsq(_molecules())
    assert set(e0s) == {1, 6, 8}
    for z, v in TRUE_E0.items():
        assert e0s[z] == pytest.approx(v, abs=1e-8)


def test_lstsq_single_composition_reproduces_mean_energy():
    rng = np.random.default_rng(1)
    frames = [make_frame([8, 1, 1], rng.uniform(-1, 1, (3, 3)), energy=-2070.0 + rng.normal()) for _ in range(10)]
    e0s = fit_e0s_lstsq(frames)
    assert e0s[8] + 2 * e0s[1] == pytest.approx(np.mean([f["energy"] for f in frames]), abs=1e-8)


def test_isolated_atoms_detected_and_converted():
    iso = [make_frame([1], [[0, 0, 0]], energy=-13.6), make_frame([8], [[0, 0, 0]], energy=-2041.9)]
    marked = make_frame([6], [[0, 0, 0]], energy=-1029.5)
    marked["isolated_atom"] = np.array(True)
    mols, found = partition_isolated(_molecules(3) + iso + [marked])
    assert len(mols) == 3 and len(found) == 3
    assert e0s_from_isolated(found) == TRUE_E0
    notiso = make_frame([6], [[0, 0, 0]], energy=1.0)
    notiso["isolated_atom"] = np.array(False)
    assert not is_isolated_atom(notiso)


def test_isolated_atoms_conflict_and_missing_energy():
    with pytest.raises(DataError, match="two isolated-atom energies"):
        e0s_from_isolated([make_frame([1], [[0, 0, 0]], energy=-13.6), make_frame([1], [[0, 0, 0]], energy=-13.0)])
    with pytest.raises(DataError, match="e.xyz, frame 0: isolated-atom frame has no energy"):
        e0s_from_isolated([make_frame([1], [[0, 0, 0]])], source="e.xyz")


def test_resolve_e0s_modes():
    mols = _molecules()
    iso = [make_frame([z], [[0, 0, 0]], energy=v) for z, v in TRUE_E0.items()]
    assert resolve_e0s("isolated", mols, iso) == TRUE_E0
    assert resolve_e0s({"1": -1, 6: -2.5}, mols, []) == {1: -1.0, 6: -2.5}
    assert resolve_e0s(None, mols, []) == {}
    assert resolve_e0s("lstsq", mols, [])[6] == pytest.approx(TRUE_E0[6])
    with pytest.raises(DataError, match="no isolated-atom frames"):
        resolve_e0s("isolated", mols, [])
    with pytest.raises(ValueError):
        resolve_e0s("median", mols, [])


def test_statistics_values_against_direct_computation():
    frames = _molecules(noise=0.3, seed=4)
    stats = compute_statistics(frames, TRUE_E0, cutoff=2.0)
    n = np.array([len(f["atomic_numbers"]) for f in frames])
    per_atom = [(f["energy"] - sum(TRUE_E0[int(z)] for z in f["atomic_numbers"])) / len(f["atomic_numbers"])
                for f in frames]
    assert stats["mean_energy_per_atom"] == pytest.approx(np.mean(per_atom), abs=1e-10)
    allf = np.concatenate([f["forces"] for f in frames])
    assert stats["force_rms"] == pytest.approx(np.sqrt(np.mean(allf ** 2)), rel=1e-12)
    edges = sum(neighbor_list(f["pos"], f["cell"], f["pbc"], 2.0)[0].shape[1] for f in frames)
    assert stats["avg_num_neighbors"] == pytest.approx(edges / n.sum())
    assert stats["species"] == [1, 6, 8] and stats["num_frames"] == 30
    # the precomputed-edges path gives the same
    ne = [neighbor_list(f["pos"], f["cell"], f["pbc"], 2.0)[0].shape[1] for f in frames]
    assert compute_statistics(frames, TRUE_E0, 2.0, num_edges=ne) == stats


def test_statistics_without_labels_and_missing_e0():
    frames = [make_frame([1, 1], [[0, 0, 0], [0, 0, 0.7]])]
    stats = compute_statistics(frames, None, cutoff=1.0)
    assert stats["mean_energy_per_atom"] is None and stats["force_rms"] is None
    assert stats["avg_num_neighbors"] == 1.0
    with pytest.raises(DataError, match=r"no E0 for element\(s\) \[6\]"):
        compute_statistics([make_frame([6, 1], [[0, 0, 0], [0, 0, 1]], energy=1.0)], {1: -13.6}, 5.0)


def test_statistics_json_round_trip():
    stats = compute_statistics(_molecules(5), TRUE_E0, cutoff=3.0)
    back = statistics_from_json(statistics_to_json(stats))
    assert back == stats and all(isinstance(z, int) for z in back["e0s"])
