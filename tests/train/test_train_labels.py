"""Labels the config needs and the data lacks (issue 23 #7): one line naming the file and the label,
before anything is built; files that disagree keep the labels they all carry."""
import re

import pytest

from molsym.data.datamodule import MolDataModule
from molsym.data.errors import DataError
from molsym.train.config import ConfigError
from molsym.train.labels import check_labels
from molsym.train.run import fill_model_config

from train_tiny_data import tiny_config, write_lj_dataset

ENERGY_ONLY = [{"key": "energy", "fn": "mse", "weight": 1.0, "per_atom": True}]


def datamodule(cfg) -> MolDataModule:
    dm = MolDataModule(**cfg["data"]["init_args"])
    dm.setup()
    return dm


def test_scale_auto_without_forces_names_the_missing_label():
    stats = {"species": [1, 6], "e0s": {}, "avg_num_neighbors": 4.0, "force_rms": None,
             "mean_energy_per_atom": -0.1}
    with pytest.raises(ConfigError, match=r"model\.scale: auto .* no forces labels: set model\.scale to a number"):
        fill_model_config({"scale": "auto"}, stats, "float64")
    assert fill_model_config({"scale": 1.0}, stats, "float64")["scale"] == 1.0


def test_energy_only_file(tmp_path):
    data = write_lj_dataset(tmp_path / "e.xyz", frames=8, forces=False)
    cfg = tiny_config(data, tmp_path / "run")
    dm = datamodule(cfg)
    assert dm.missing_labels["train"]["forces"] == (str(data), "no forces labels")
    assert dm.statistics["force_rms"] is None and dm.statistics["mean_energy_per_atom"] is not None
    with pytest.raises(DataError) as info:
        check_labels(cfg, dm)
    msg = str(info.value)
    assert msg.startswith(f"{data}: no forces labels in the training data")
    assert "loss term 'forces' and model.scale: auto need them" in msg
    assert "drop the forces term (loss: [{key: energy, ...}])" in msg and "model.scale=1.0" in msg
    assert "\n" not in msg
    cfg["loss"] = ENERGY_ONLY
    with pytest.raises(DataError, match="but model.scale: auto needs them"):
        check_labels(cfg, dm)
    cfg["model"]["scale"] = 1.0
    check_labels(cfg, dm)  # energies only: nothing missing that the config needs


def test_files_that_disagree_keep_the_labels_they_all_carry(tmp_path):
    with_f = write_lj_dataset(tmp_path / "a.xyz", frames=6)
    without = write_lj_dataset(tmp_path / "b.xyz", frames=6, seed=1, forces=False)
    cfg = tiny_config(with_f, tmp_path / "run")
    cfg["data"]["init_args"]["train"] = [str(with_f), str(without)]
    dm = datamodule(cfg)
    assert dm.missing_labels["train"]["forces"] == (str(without), f"no forces labels ({with_f} has them)")
    assert "forces" not in dm.train_dataset[0] and dm.statistics["force_rms"] is None
    expected = f"{without}: no forces labels ({with_f} has them) in the training data"
    with pytest.raises(DataError, match="^" + re.escape(expected)):
        check_labels(cfg, dm)
    cfg["loss"], cfg["model"]["scale"] = ENERGY_ONLY, 1.0
    check_labels(cfg, dm)


def test_a_validation_file_without_forces_is_named(tmp_path):
    train = write_lj_dataset(tmp_path / "train.xyz", frames=6)
    val = write_lj_dataset(tmp_path / "val.xyz", frames=3, seed=1, forces=False)
    cfg = tiny_config(train, tmp_path / "run")
    cfg["data"]["init_args"]["val"] = str(val)
    dm = datamodule(cfg)
    assert "forces" not in dm.missing_labels["train"] and dm.statistics["force_rms"] > 0
    with pytest.raises(DataError, match="^" + re.escape(f"{val}: no forces labels in the validation data, "
                                                          "but loss term 'forces' needs them")):
        check_labels(cfg, dm)


def test_a_file_with_forces_in_some_frames_only_names_the_first_frame_without(tmp_path):
    from ase.io import write

    from train_tiny_data import lj_images

    images = lj_images(5)
    del images[3].arrays["forces"]
    path = tmp_path / "mixed.xyz"
    write(path, images, format="extxyz")
    cfg = tiny_config(path, tmp_path / "run")
    cfg["data"]["init_args"]["split"] = {"val": 1, "test": 0, "seed": 0}
    with pytest.raises(DataError, match="^" + re.escape(f"{path}, frame 3: no forces label")):
        datamodule(cfg)
