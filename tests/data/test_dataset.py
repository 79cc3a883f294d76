"""In-memory GraphDataset and load_frames (files → frames + isolated atoms)."""
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
import ase.io

from molsym.data import keys as K
from molsym.data.dataset import GraphDataset, as_dtype, load_frames
from molsym.data.errors import DataError
from molsym.data.frame import make_frame
from molsym.data.graph import frame_to_graph

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


def test_graph_matches_frame_to_graph(tmp_path, dtype):
    frames, iso, sources = load_frames(write_xyz(tmp_path / "d.xyz"))
    assert len(frames) == 12 and len(iso) == 3 and sources == [str(tmp_path / "d.xyz")] * 12
    ds = GraphDataset(frames, cutoff=3.0, dtype=dtype)
    assert len(ds) == 12
    for i in (0, 5, -1):
        g, ref = ds[i], frame_to_graph(frames[i], 3.0, dtype)
        assert set(g) == set(ref) | set()
        for k in ref:
            assert torch.equal(g[k], ref[k]), k
    g = ds[1]
    assert g[K.POS].dtype == dtype and g[K.ENERGY].shape == (1,) and g[K.FORCES].shape == (3, 3)
    assert g[K.ENERGY].item() == pytest.approx(frames[1]["energy"])


def test_neighbour_lists_are_cached(tmp_path, monkeypatch):
    frames, _, _ = load_frames(write_xyz(tmp_path / "d.xyz", n=4))
    ds = GraphDataset(frames, cutoff=3.0)
    calls = []
    import molsym.data.dataset as mod
    real = mod.neighbor_list
    monkeypatch.setattr(mod, "neighbor_list", lambda *a: calls.append(1) or real(*a))
    first = ds[2]
    second = ds[2]
    assert len(calls) == 1 and torch.equal(first[K.EDGE_INDEX], second[K.EDGE_INDEX])
    assert ds.num_edges()[2] == first[K.EDGE_INDEX].shape[1] and len(calls) == 4


def test_isolated_sibling_file_is_read(tmp_path):
    write_xyz(tmp_path / "mol.xyz", n=4, isolated=False)
    write_xyz(tmp_path / "mol_isolated_atoms.xyz", n=0, isolated=True)
    frames, iso, _ = load_frames(tmp_path / "mol.xyz")
    assert len(frames) == 4 and sorted(int(f["atomic_numbers"][0]) for f in iso) == [1, 6, 8]
    frames, iso, _ = load_frames(tmp_path / "mol.xyz", with_siblings=False)
    assert iso == []


def test_single_atom_frames_without_config_type_are_isolated(tmp_path):
    a = Atoms("N", positions=[[0, 0, 0]])
    a.calc = SinglePointCalculator(a, energy=-1484.9)
    ase.io.write(tmp_path / "iso.xyz", [a], format="extxyz")
    _, iso, _ = load_frames(tmp_path / "iso.xyz")
    assert len(iso) == 1 and float(iso[0]["energy"]) == pytest.approx(-1484.9)


def test_only_common_fields_are_kept():
    f1 = make_frame([1, 1], [[0, 0, 0], [0, 0, 0.7]], energy=-1.0, forces=np.zeros((2, 3)))
    f2 = make_frame([1, 1], [[0, 0, 0], [0, 0, 0.8]], energy=-2.0)
    f2["config_type"] = np.array("x")  # non-numeric: dropped
    ds = GraphDataset([f1, f2], cutoff=2.0)
    assert K.FORCES not in ds[0] and K.ENERGY in ds[1] and "config_type" not in ds[1]


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="missing.xyz"):
        load_frames(tmp_path / "missing.xyz")
    bad = tmp_path / "bad.xyz"
    bad.write_text("2\n\nH 0 0 0\nH 0 0 nan\n")
    with pytest.raises(DataError, match=r"bad.xyz, frame 0"):
        load_frames(bad)


def test_as_dtype():
    assert as_dtype("float32") is torch.float32 and as_dtype(torch.float64) is torch.float64
    with pytest.raises(ValueError):
        as_dtype("int64")


def test_shared_data_graphs(shared_data):
    frames, iso, _ = load_frames([shared_data / "acac" / "train_300K.xyz", shared_data / "acac" / "isolated_atoms.xyz"])
    assert len(frames) == 500 and len(iso) == 3
    g = GraphDataset(frames[:5], cutoff=5.0)[0]
    assert g[K.POS].shape == (15, 3) and g[K.EDGE_INDEX].shape[1] > 100
