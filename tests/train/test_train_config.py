"""Config loading: overrides, ${...} references, class_path instantiation, and the shipped configs."""
from pathlib import Path

import pytest
import torch
import yaml

from molsym.train.config import ConfigError, apply_overrides, instantiate, load_config, load_yaml, resolve

REPO = Path(__file__).resolve().parents[2]


def test_overrides_and_references(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump({
        "cutoff": 5.0, "name": "x", "out": "runs/${name}",
        "model": {"cutoff": "${cutoff}"}, "loss": [{"key": "energy", "weight": 1.0}]}))
    cfg = load_config(cfg_file, ["cutoff=4.0", "name=acac", "loss.0.weight=3", "model.zbl=true"], check=False)
    assert cfg["model"]["cutoff"] == 4.0 and isinstance(cfg["model"]["cutoff"], float)
    assert cfg["out"] == "runs/acac"
    assert cfg["loss"][0]["weight"] == 3
    assert cfg["model"]["zbl"] is True


@pytest.mark.parametrize("text, value", [
    ("1e-3", 1e-3), ("5E+2", 500.0), ("-2.5e-7", -2.5e-7), (".5", 0.5), ("3", 3), ("1.0", 1.0),
    ("1.5e3", 1500.0), (".5e1", 5.0), (".inf", float("inf")),
    ("1.2.3", "1.2.3"), ("e5", "e5"), ("0x10", 16), ("1e", "1e")])
def test_yaml_numbers_like_yaml_1_2(text, value):
    """PyYAML's YAML 1.1 rules read ``1e-3`` as a string; optimizer settings need floats."""
    got = load_yaml(f"v: {text}")["v"]
    assert got == value and type(got) is type(value)
    cfg = apply_overrides({"optimizer": {"init_args": {}}}, [f"optimizer.init_args.weight_decay={text}"])
    assert cfg["optimizer"]["init_args"]["weight_decay"] == value


@pytest.mark.parametrize("override, match", [
    ("novalue", "key=value"), ("model.nothere.x=1", "does not exist"), ("loss.5=1", "out of range")])
def test_bad_overrides(override, match):
    with pytest.raises(ConfigError, match=match):
        apply_overrides({"model": {}, "loss": [{}]}, [override])


def test_dangling_and_cyclic_references():
    with pytest.raises(ConfigError, match="missing"):
        resolve({"a": "${missing}"})
    with pytest.raises(ConfigError, match="cycle"):
        resolve({"a": "${b}", "b": "${a}"})


def test_instantiate():
    p = [torch.nn.Parameter(torch.zeros(2))]
    opt = instantiate({"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.5, "amsgrad": True}}, p)
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["amsgrad"] and opt.defaults["lr"] == 0.5
    with pytest.raises(ConfigError, match="cannot import"):
        instantiate({"class_path": "torch.optim.NoSuch"})


@pytest.mark.parametrize("name", ["demo", "acac", "3bpa"])
def test_shipped_configs_resolve(name):
    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    assert cfg["model"]["cutoff"] == cfg["data"]["init_args"]["cutoff"] == cfg["cutoff"]
    assert cfg["data"]["init_args"]["dtype"] == cfg["dtype"] in ("float32", "float64")
    assert cfg["model"]["representation"]["name"] == "ace"
    assert "${" not in yaml.safe_dump(cfg)
    instantiate(cfg["optimizer"], [torch.nn.Parameter(torch.zeros(1))])


def test_acac_config_builds_its_450_50_split(shared_data, monkeypatch, tmp_path):
    from molsym.train.run import build_datamodule, fill_model_config
    from molsym.nn import build_model

    monkeypatch.chdir(REPO)
    cfg = load_config(REPO / "configs" / "acac.yaml", [f"output_dir={tmp_path}"])
    dm = build_datamodule(cfg)
    assert len(dm.train_dataset) == 450 and len(dm.val_dataset) == 50
    model_cfg = fill_model_config(cfg["model"], dm.statistics, cfg["dtype"])
    assert model_cfg["species"] == [1, 6, 8]
    assert model_cfg["e0s"][6] == pytest.approx(-1026.8538996116154)
    model = build_model(model_cfg)
    assert model.cutoff == 5.0 and model.dtype == torch.float32  # the config trains in float32
