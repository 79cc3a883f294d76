"""Config checking: every key means something, values have the expected type, sections are present.

A typo in a config or an override must stop the run with one line naming the
key (and the closest valid one), not train with the defaults.
"""
from pathlib import Path

import pytest
import yaml

from molsym.cli.main import main
from molsym.train.config import ConfigError, load_config

from train_tiny_data import tiny_config, write_lj_dataset

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_config_passes_the_check(path):
    load_config(path)


@pytest.mark.parametrize("config, override, match", [
    # unknown keys at every level, with the closest valid key
    ("acac", "ema_decy=0.0", r"'ema_decy' \(set by an override\) \(did you mean 'ema_decay'\?\)"),
    ("acac", "schedular={}", "did you mean 'scheduler'"),
    ("acac", "lerning_rate=0.001", "unknown config key 'lerning_rate'.*known keys: .*optimizer"),
    ("acac", "trainer.max_epoch=3", "did you mean 'max_epochs'"),
    ("acac", "data.init_args.batchsize=3", "'data.init_args.batchsize'.*did you mean 'batch_size'"),
    ("acac", "optimizer.init_args.lrr=0.1", "did you mean 'lr'"),
    ("acac", "scheduler.monitr=val/loss", "did you mean 'monitor'"),
    ("acac", "model.representation.chanels=8", "'model.representation.chanels'.*did you mean 'channels'"),
    ("acac", "model.zbl_factr=1.0", "did you mean 'zbl_factor'"),
    ("acac", "loss.0.wieght=3", "'loss.0.wieght'.*did you mean 'weight'"),
    ("acac", "checkpoint.every_n_steps=3", "did you mean 'every_n_train_steps'"),
    ("qm9_flow", "model.init_args.network.hiden=64", "'model.init_args.network.hiden'.*did you mean 'hidden'"),
    ("qm9_flow", "generator.val_sample=3", "did you mean 'val_samples'"),
    ("qm9_edm_cpu", "model.init_args.denoiser.num_layer=2", "did you mean 'num_layers'"),
    # wrong types: the key, the value and what was expected
    ("acac", "data.init_args.batch_size=five", "'data.init_args.batch_size'.*'five' is not an integer"),
    ("acac", "trainer.max_epochs=ten", "'trainer.max_epochs'.*'ten' is not an integer"),
    ("acac", "optimizer.init_args.lr=x", "'optimizer.init_args.lr'.*'x' is not a number"),
    ("acac", "ema_warmup=maybe", "'ema_warmup'.*'maybe' is not a boolean"),
    ("acac", "dtype=float16", "'dtype'.*float32 or float64"),
    ("qm9_flow", "model.init_args.prior_std=big", "'big' is not a number"),
    # an unknown model
    ("acac", "model.representation.name=mace", "model.representation.name.*unknown representation 'mace'.*ace"),
    ("qm9_flow", "model.class_path=molsym.flow.NoSuchGenerator", "model.class_path.*cannot import"),
])
def test_bad_keys_and_values_name_the_key(config, override, match):
    with pytest.raises(ConfigError, match=match) as info:
        load_config(REPO / "configs" / f"{config}.yaml", [override])
    assert str(info.value).startswith(str(REPO / "configs" / f"{config}.yaml"))  # the file is named


def test_references_make_shared_top_level_keys_valid(tmp_path):
    lj = write_lj_dataset(tmp_path / "lj.xyz", frames=4)
    cfg = tiny_config(lj, tmp_path / "run")
    cfg["my_cutoff"] = 4.0
    cfg["model"]["cutoff"] = "${my_cutoff}"
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump(cfg))
    assert load_config(tmp_path / "ok.yaml")["model"]["cutoff"] == 4.0
    cfg["unused"] = 1  # a top-level key nothing refers to is a typo
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="unknown config key 'unused'"):
        load_config(tmp_path / "bad.yaml")


@pytest.mark.parametrize("section", ["data", "model", "optimizer", "loss"])
def test_a_missing_section_is_named(tmp_path, section):
    cfg = tiny_config(write_lj_dataset(tmp_path / "lj.xyz", frames=4), tmp_path / "run")
    del cfg[section]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=f"no '{section}' section"):
        load_config(tmp_path / "c.yaml")


def test_invalid_yaml_is_one_line_with_its_position(tmp_path):
    (tmp_path / "c.yaml").write_text("cutoff: 5.0\nmodel: {cutoff: ${cutoff}}\n")
    with pytest.raises(ConfigError, match=r"c.yaml: line 2, column \d+: not valid YAML.*needs quotes"):
        load_config(tmp_path / "c.yaml")


def test_cli_exits_2_with_one_line_and_accepts_overrides_after_options(tmp_path, capsys):
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(tiny_config(write_lj_dataset(tmp_path / "lj.xyz", frames=4), tmp_path / "r")))
    assert main(["train", "--config", str(cfg_file), "ema_decy=0.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ema_decy" in err and "ema_decay" in err and "Traceback" not in err
    # overrides after --resume/--no-export are overrides, not "unrecognized arguments": this one is checked
    assert main(["train", "--config", str(cfg_file), "--no-export", "trainer.max_epochs=1",
                 "--resume", "last", "trainer.max_epoch=2"]) == 2
    err = capsys.readouterr().err
    assert "trainer.max_epoch" in err and "max_epochs" in err and "unrecognized" not in err
    # a resumed run's model comes from its checkpoint: an override of it is refused, not ignored
    assert main(["train", "--config", str(cfg_file), "--resume", "last", "model.cutoff=2.0"]) == 2
    assert "'model.cutoff' cannot change the model of a resumed run" in capsys.readouterr().err
    assert main(["train", "--config", str(cfg_file), "--resume", "last", "oops"]) == 2  # not key=value
    assert "'oops' is not of the form key=value" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # an unknown option is still argparse's error
        main(["train", "--config", str(cfg_file), "--no-export", "a.b=1", "--bogus", "c=2"])
    assert info.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err
