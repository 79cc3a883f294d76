"""Reproducible splits: fractions and counts, seeds, saving, reuse, size checks."""
import json

import numpy as np
import pytest

from molsym.data.errors import DataError
from molsym.data.splits import load_or_make_split, load_split, make_split, sidecar_dir


def test_fractions_and_counts_partition_everything():
    s = make_split(101, val=0.1, test=7, seed=3)
    assert len(s["val"]) == 10 and len(s["test"]) == 7 and len(s["train"]) == 84
    allidx = np.concatenate([s["train"], s["val"], s["test"]])
    assert sorted(allidx.tolist()) == list(range(101))
    for part in s.values():
        assert np.all(np.diff(part) > 0)


def test_same_seed_same_split_other_seed_differs():
    a, b, c = make_split(50, 0.2, 0.2, seed=1), make_split(50, 0.2, 0.2, seed=1), make_split(50, 0.2, 0.2, seed=2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["val"], c["val"])


@pytest.mark.parametrize("val,test", [(0.6, 0.5), (8, 3), (-1, 0), (1.5, 0)])
def test_impossible_sizes_are_refused(val, test):
    with pytest.raises(ValueError):
        make_split(10, val, test)


def test_saved_split_is_reused(tmp_path):
    path = tmp_path / "d.split.json"
    s1 = load_or_make_split(path, 30, val=0.2, seed=0)
    doc = json.loads(path.read_text())
    # tamper with the saved file: the saved indices, not a fresh permutation, must come back
    doc["val"], doc["train"] = doc["train"][:6], sorted(doc["train"][6:] + doc["val"])
    path.write_text(json.dumps(doc))
    s2 = load_or_make_split(path, 30, val=0.2, seed=0)
    assert s2["val"].tolist() == doc["val"] and not np.array_equal(s1["val"], s2["val"])
    assert not list(tmp_path.glob("*.tmp"))


def test_split_for_other_size_is_refused(tmp_path):
    path = tmp_path / "d.split.json"
    load_or_make_split(path, 30, val=0.2)
    with pytest.raises(DataError, match="30 frames but the dataset has 31"):
        load_or_make_split(path, 31, val=0.2)


def test_corrupt_split_file_names_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        load_split(path)


def test_sidecar_dir_falls_back_for_read_only_data(tmp_path, monkeypatch):
    data = tmp_path / "ro"
    data.mkdir()
    (data / "x.xyz").write_text("")
    assert sidecar_dir([data / "x.xyz"]) == data
    monkeypatch.setenv("MOLSYM_CACHE_DIR", str(tmp_path / "cache"))
    data.chmod(0o555)  # read-only by mode: refused even when running as root
    try:
        out = sidecar_dir([data / "x.xyz"])
    finally:
        data.chmod(0o755)
    assert out.parent == tmp_path / "cache" and out.name.startswith("x-")
    assert sidecar_dir([data / "x.xyz"], cache_dir=tmp_path / "c2").parent == tmp_path / "c2"


def test_shared_data_folder_is_never_written(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("MOLSYM_CACHE_DIR", str(tmp_path))
    assert sidecar_dir([shared_data / "acac" / "train_300K.xyz"]).parent == tmp_path
