"""On-disk store: identical graphs to the in-memory dataset, atomic writes, refusal of bad stores."""
import pickle

import ase.io
import h5py
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from molsym.data import keys as K
from molsym.data.dataset import GraphDataset, load_frames
from molsym.data.errors import DataError
from molsym.data.frame import make_frame
from molsym.data.store import GraphStore, StoreWriter, is_store, pack


E0 = {1: -13.6, 6: -1029.5, 8: -2041.9}


def write_xyz(path, n=12, seed=0, isolated=True):
    """A small labelled extxyz (water-like and methanol-like molecules), plus isolated atoms."""
    rng = np.random.default_rng(seed)
    images = []
    for k in range(n):
        z = [8, 1, 1] if k % 2 else [6, 8, 1, 1, 1, 1]
        pos = np.arange(len(z))[:, None] * np.array([1.0, 0.4, 0.2]) + rng.normal(0, 0.1, (len(z), 3))
        a = Atoms(numbers=z, positions=pos)
        a.calc = SinglePointCalculator(a, energy=sum(E0[i] for i in z) + rng.normal(),
                                       forces=rng.normal(size=(len(z), 3)))
        images.append(a)
    if isolated:
        for z, e in E0.items():
            a = Atoms(numbers=[z], positions=[[0, 0, 0]])
            a.info["config_type"] = "isolated_atom"
            a.calc = SinglePointCalculator(a, energy=e)
            images.append(a)
    ase.io.write(path, images, format="extxyz")
    return path


def _assert_same_graph(a, b):
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and torch.equal(a[k], b[k]), k


def _periodic_frames(n=6, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        cell = np.diag(rng.uniform(4, 6, 3))
        cell[1, 0] = rng.uniform(-1, 1)
        pbc = [True, True, bool(k % 2)]
        m = int(rng.integers(2, 6))
        out.append(make_frame(rng.choice([1, 8], m), rng.uniform(0, 1, (m, 3)) @ cell, cell, pbc,
                              energy=float(rng.normal()), forces=rng.normal(size=(m, 3)),
                              stress=rng.normal(size=6)))
    return out


def test_pack_gives_same_graphs_as_memory(tmp_path, dtype):
    src = write_xyz(tmp_path / "d.xyz", n=10)
    out = pack([src], tmp_path / "d.h5", cutoff=3.0, progress=False)
    frames, _, _ = load_frames(src)
    mem = GraphDataset(frames, 3.0, dtype)
    store = GraphStore(out, dtype)
    assert len(store) == len(mem) == 10
    for i in range(10):
        _assert_same_graph(store[i], mem[i])
    assert store.e0s == E0
    assert store.source_of(3) == (str(src), 3)
    assert store.statistics["num_frames"] == 10 and store.statistics["e0s"] == E0


def test_periodic_frames_with_stress_round_trip(tmp_path, dtype):
    frames = _periodic_frames()
    with StoreWriter(tmp_path / "p.h5", cutoff=4.5) as w:
        w.add(frames[:3], source="a")
        w.add(frames[3:], source="b")
    store, mem = GraphStore(tmp_path / "p.h5", dtype), GraphDataset(frames, 4.5, dtype)
    assert any((store[i][K.EDGE_SHIFT] != 0).any() for i in range(len(store)))
    for i in range(len(frames)):
        _assert_same_graph(store[i], mem[i])
    assert store.sources == ["a", "b"] and store.source_of(4) == ("b", 1)


def test_smaller_cutoff_filters_edges_larger_is_refused(tmp_path):
    frames = _periodic_frames(seed=3)
    with StoreWriter(tmp_path / "p.h5", cutoff=4.5) as w:
        w.add(frames)
    small, mem = GraphStore(tmp_path / "p.h5", cutoff=3.0), GraphDataset(frames, 3.0)
    for i in range(len(frames)):
        a, b = small[i], mem[i]
        edges = lambda g: {(int(s), int(r), *g[K.EDGE_SHIFT][e].tolist())
                           for e, (s, r) in enumerate(g[K.EDGE_INDEX].T.tolist())}
        assert edges(a) == edges(b)
    with pytest.raises(DataError, match="cutoff 4.5"):
        GraphStore(tmp_path / "p.h5", cutoff=6.0)


def test_crash_mid_write_leaves_nothing(tmp_path, monkeypatch):
    out = tmp_path / "s.h5"
    import molsym.data.store as mod
    real, calls = mod.neighbor_list, []

    def flaky(*args):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("simulated crash")
        return real(*args)

    monkeypatch.setattr(mod, "neighbor_list", flaky)
    with pytest.raises(RuntimeError, match="simulated crash"):
        with StoreWriter(out, cutoff=3.0) as w:
            w.add(_periodic_frames(3))
            w.add(_periodic_frames(3, seed=1))
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temp or staging file left


def test_crash_keeps_previous_store(tmp_path, monkeypatch):
    out = tmp_path / "s.h5"
    with StoreWriter(out, cutoff=3.0) as w:
        w.add(_periodic_frames(2))
    before = out.read_bytes()

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with StoreWriter(out, cutoff=3.0) as w:
            w.add(_periodic_frames(4))
            raise Boom()
    assert out.read_bytes() == before and len(GraphStore(out)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]


def test_incomplete_or_foreign_files_are_refused(tmp_path):
    out = tmp_path / "s.h5"
    with StoreWriter(out, cutoff=3.0) as w:
        w.add(_periodic_frames(2))
    with h5py.File(out, "r+") as f:  # what a killed writer's file looks like
        f.attrs["complete"] = False
    with pytest.raises(DataError, match="incomplete"):
        GraphStore(out)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DataError, match="not a molsym store"):
        GraphStore(tmp_path / "other.h5")
    (tmp_path / "text.h5").write_text("hello")
    assert not is_store(tmp_path / "text.h5")
    with pytest.raises(DataError, match="text.h5"):
        GraphStore(tmp_path / "text.h5")
    trunc = tmp_path / "trunc.h5"
    with StoreWriter(trunc, cutoff=3.0) as w:
        w.add(_periodic_frames(2))
    data = trunc.read_bytes()
    trunc.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="trunc.h5"):
        GraphStore(trunc)


def test_fields_missing_in_some_frames_are_dropped(tmp_path):
    a = make_frame([1, 1], [[0, 0, 0], [0, 0, 0.7]], energy=-1.0, forces=np.zeros((2, 3)))
    b = make_frame([1, 1], [[0, 0, 0], [0, 0, 0.8]], energy=-2.0)
    with StoreWriter(tmp_path / "s.h5", cutoff=2.0) as w:
        w.add([a], source="a")
        w.add([b], source="b")
    store = GraphStore(tmp_path / "s.h5")
    assert K.FORCES not in store[0] and store[1][K.ENERGY].item() == -2.0
    assert "forces" not in store.fields


def test_store_pickles_without_copying_data_and_reads_after(tmp_path):
    out = pack([write_xyz(tmp_path / "d.xyz", n=4)], tmp_path / "d.h5", cutoff=3.0, progress=False)
    store = GraphStore(out)
    _ = store[0]
    blob = pickle.dumps(store)
    assert len(blob) < 4096
    _assert_same_graph(pickle.loads(blob)[2], store[2])


def test_random_access_indices(tmp_path):
    store = GraphStore(pack([write_xyz(tmp_path / "d.xyz", n=4)], tmp_path / "d.h5", 3.0, progress=False))
    _assert_same_graph(store[-1], store[3])
    with pytest.raises(IndexError):
        store[4]


def test_shared_data_store_matches_memory(shared_data, tmp_path):
    files = [shared_data / "acac" / "train_300K.xyz", shared_data / "acac" / "isolated_atoms.xyz"]
    store = GraphStore(pack(files, tmp_path / "acac.h5", 5.0, progress=False))
    frames, _, _ = load_frames(files)
    mem = GraphDataset(frames, 5.0)
    for i in np.random.default_rng(0).integers(0, 500, 20):
        _assert_same_graph(store[i], mem[i])
    assert sorted(store.e0s) == [1, 6, 8]


def test_crash_at_the_final_rename_keeps_previous_store(tmp_path, monkeypatch):
    out = tmp_path / "s.h5"
    with StoreWriter(out, cutoff=3.0) as w:
        w.add(_periodic_frames(2))
    before = out.read_bytes()
    import molsym.data.store as mod

    def no_replace(src, dst):
        # the finished temp file is complete but must not be visible under the store's name
        assert GraphStore(src) is not None
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(mod.os, "replace", no_replace)
    with pytest.raises(OSError, match="simulated crash"):
        with StoreWriter(out, cutoff=3.0) as w:
            w.add(_periodic_frames(5))
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]


def test_store_cut_short_after_its_header_is_refused(tmp_path):
    out = tmp_path / "s.h5"
    with StoreWriter(out, cutoff=3.0) as w:
        w.add(_periodic_frames(40))
    with h5py.File(out, "r") as f:
        end = max(d.id.get_offset() + d.id.get_storage_size() for d in f.values() if d.id.get_offset())
    data = out.read_bytes()
    if end < len(data):  # metadata after the data: cutting it makes HDF5 itself refuse the file
        out.write_bytes(data[:end])
    else:
        out.write_bytes(data[:end - 8])
    with pytest.raises(DataError, match="s.h5"):
        GraphStore(out)
