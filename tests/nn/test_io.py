import os

import pytest
import torch

import molsym
from molsym.data.graph import frame_to_graph
from molsym.nn import build_model
from molsym.nn.io import FORMAT_VERSION, ModelFileError, load_model, save_model
from molsym.nn.testing import random_molecule

CONFIG = {"representation": {"name": "egnn", "hidden": 8, "num_layers": 1, "num_basis": 4},
          "species": [1, 6, 8], "cutoff": 3.0, "e0s": {1: -13.6, 6: -1030.0, 8: -2040.0},
          "scale": 0.7, "shift": -0.2, "zbl": True}


def test_round_trip(tmp_path, dtype):
    torch.manual_seed(0)
    model = build_model({**CONFIG, "dtype": dtype}).eval()
    path = save_model(model, tmp_path / "sub" / "model.pt", extra={"val_force_rmse": 0.05})
    assert sorted(os.listdir(tmp_path / "sub")) == ["model.pt"]  # no temporary file left behind
    raw = torch.load(path, weights_only=True)
    assert raw["units"] == {"energy": "eV", "length": "Å"} and raw["format_version"] == FORMAT_VERSION
    assert raw["molsym_version"] == molsym.__version__ and raw["cutoff"] == 3.0
    assert raw["e0s"] == CONFIG["e0s"] and raw["extra"] == {"val_force_rmse": 0.05}
    assert raw["dtype"] == str(dtype).split(".")[1]
    loaded = load_model(path)
    assert not loaded.training and loaded.dtype == dtype and loaded.to_config() == model.to_config()
    g = frame_to_graph(random_molecule([1, 6, 8], 6), 3.0, dtype)
    a, b = model(g), loaded(g)
    assert torch.equal(a["energy"], b["energy"]) and torch.equal(a["forces"], b["forces"])
    other = torch.float32 if dtype == torch.float64 else torch.float64
    assert load_model(path, dtype=other).dtype == other


def test_incompatible_and_broken_files_are_refused(tmp_path):
    model = build_model(CONFIG)
    path = save_model(model, tmp_path / "model.pt")
    raw = torch.load(path, weights_only=True)
    future = tmp_path / "future.pt"
    torch.save({**raw, "format_version": FORMAT_VERSION + 1}, future)
    with pytest.raises(ModelFileError, match=rf"future\.pt.*format version {FORMAT_VERSION + 1}"):
        load_model(future)
    partial = tmp_path / "partial.pt"
    torch.save({k: v for k, v in raw.items() if k != "state_dict"}, partial)
    with pytest.raises(ModelFileError, match=r"partial\.pt.*state_dict"):
        load_model(partial)
    junk = tmp_path / "junk.pt"
    junk.write_text("not a model")
    with pytest.raises(ModelFileError, match=r"junk\.pt"):
        load_model(junk)
    with pytest.raises(ModelFileError, match=r"missing\.pt"):
        load_model(tmp_path / "missing.pt")
    wrong = tmp_path / "wrong_weights.pt"
    state = dict(raw["state_dict"])
    state.pop(next(iter(state)))
    torch.save({**raw, "state_dict": state}, wrong)
    with pytest.raises(ModelFileError, match=r"wrong_weights\.pt"):
        load_model(wrong)
