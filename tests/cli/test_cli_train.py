"""`molsym train` → `molsym export` → `molsym eval` end to end on a tiny file."""
import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

from molsym.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_tiny_data import tiny_config, write_lj_dataset  # noqa: E402


def test_train_export_eval(tmp_path, capsys):
    data = write_lj_dataset(tmp_path / "ch4.xyz")
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(tiny_config(data, tmp_path / "run")))

    assert main(["train", "--config", str(cfg_file), "trainer.max_epochs=1", "ema_decay=0.5"]) == 0
    out = capsys.readouterr().out
    assert "F RMSE" in out and "best checkpoint" in out
    run = tmp_path / "run"
    for name in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "model.pt", "learning_curve.png"):
        assert (run / name).is_file(), name
    assert list((run / "csv").rglob("metrics.csv")) and list((run / "tensorboard").rglob("events.out.*"))
    ckpt = torch.load(run / "checkpoints/last.ckpt", weights_only=True)
    assert ckpt["hyper_parameters"]["ema_decay"] == 0.5 and ckpt["epoch"] == 1

    # a fresh run into the same folder stops with one line and leaves the checkpoints alone
    before = (run / "checkpoints/last.ckpt").read_bytes()
    assert main(["train", "--config", str(cfg_file), "trainer.max_epochs=1"]) == 2
    err = capsys.readouterr().err
    assert str(run / "checkpoints") in err and "--resume last" in err and "--force" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (run / "checkpoints/last.ckpt").read_bytes() == before

    # resume from last with one more epoch
    assert main(["train", "--config", str(cfg_file), "--resume", "last", "trainer.max_epochs=2", "--no-export"]) == 0
    assert torch.load(run / "checkpoints/last.ckpt", weights_only=True)["epoch"] == 2
    capsys.readouterr()

    # --force starts over in the same folder
    assert main(["train", "--config", str(cfg_file), "--force", "trainer.max_epochs=1", "--no-export"]) == 0
    assert torch.load(run / "checkpoints/last.ckpt", weights_only=True)["epoch"] == 1
    capsys.readouterr()

    assert main(["export", str(run / "checkpoints/last.ckpt"), "--out", str(tmp_path / "m.pt")]) == 0
    assert main(["eval", "--model", str(tmp_path / "m.pt"), "--data", str(data), "--out", str(tmp_path / "ev")]) == 0
    table = capsys.readouterr().out
    assert "ch4" in table and "meV/Å" in table
    metrics = json.loads((tmp_path / "ev" / "ch4_metrics.json").read_text())["metrics"]
    assert metrics["forces_rmse"] > 0 and metrics["energy_rmse"] > 0
    assert (tmp_path / "ev" / "ch4_parity.png").is_file()
    assert (tmp_path / "ev" / "ch4_errors.csv").read_text().count("\n") == 25


def test_user_errors_exit_2(tmp_path, capsys):
    data = write_lj_dataset(tmp_path / "ch4.xyz", frames=4)
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(tiny_config(data, tmp_path / "run")))
    assert main(["train", "--config", str(cfg_file), "model.nothere.x=1"]) == 2
    assert "nothere" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert main(["train", "--config", str(cfg_file), "--resume", "last"]) == 2
    assert "last.ckpt" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # continue and start over at once: argparse says no
        main(["train", "--config", str(cfg_file), "--resume", "last", "--force"])
    assert info.value.code == 2 and "not allowed with" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    torch.save({"format": "something-else"}, bad)
    assert main(["eval", "--model", str(bad), "--data", str(data)]) == 2
    assert main(["export", str(tmp_path / "none.ckpt"), "--out", str(tmp_path / "x.pt")]) == 2


def test_help_explains_every_flag(capsys):
    for cmd in ("train", "eval", "export"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = capsys.readouterr().out
        assert "--out" in text or "--config" in text
