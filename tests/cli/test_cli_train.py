"""`molsym train` → `molsym export` → `molsym eval` end to end on a tiny file."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from molsym.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_tiny_data import tiny_config, write_lj_dataset, write_lj_energies_db  # noqa: E402


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


def test_energy_only_data(tmp_path, capsys):
    """An ASE db with energies and no forces (issue 23 #7): the default forces term is one line naming the file
    and the label; an energy-only loss with a numeric scale trains and exports."""
    data = write_lj_energies_db(tmp_path / "ch4_energies.db")
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(tiny_config(data, tmp_path / "run")))
    energy_only = "loss=[{key: energy, fn: mse, weight: 1.0, per_atom: true}]"

    assert main(["train", "--config", str(cfg_file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{data}: no forces labels in the training data, but loss term 'forces'" in err
    assert "drop the forces term (loss: [{key: energy, ...}])" in err
    assert main(["train", "--config", str(cfg_file), energy_only]) == 2
    err = capsys.readouterr().err
    assert f"{data}: no forces labels" in err and "set model.scale to a number" in err and err.count("\n") == 1
    assert not (tmp_path / "run" / "checkpoints").exists()

    assert main(["train", "--config", str(cfg_file), energy_only, "model.scale=1.0"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "run" / "model.pt").is_file()
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("train ", "val "))}
    assert set(rows) == {"train", "val"}
    for cells in rows.values():  # energies evaluated, no force columns
        assert len(cells) == 6 and cells[4:] == ["-", "-"] and all(float(c) > 0 for c in cells[:4])


def test_final_table_is_molsym_eval_of_the_exported_model(tmp_path, capsys):
    """The rows printed at the end of `molsym train` (issue 23 #16) are those `molsym eval` prints for the
    exported model on the same frames (here the whole training and validation files)."""
    train_file = write_lj_dataset(tmp_path / "train.xyz", frames=12)
    val_file = write_lj_dataset(tmp_path / "val.xyz", frames=4, seed=1)
    cfg = tiny_config(train_file, tmp_path / "run")
    cfg["data"]["init_args"]["val"] = str(val_file)
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(cfg_file)]) == 0
    out = capsys.readouterr().out
    assert "final metrics of the exported weights (EMA weights of best.ckpt, step " in out
    assert "(train: all 12 frames; val: all 4 frames)" in out
    printed = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("train ", "val "))}

    ev = tmp_path / "ev"
    assert main(["eval", "--model", str(tmp_path / "run" / "model.pt"), "--data", str(train_file), str(val_file),
                 "--out", str(ev)]) == 0
    capsys.readouterr()
    columns = ("energy_mae", "energy_rmse", "energy_per_atom_mae", "energy_per_atom_rmse", "forces_mae",
               "forces_rmse")
    for split in ("train", "val"):
        metrics = json.loads((ev / f"{split}_metrics.json").read_text())["metrics"]
        assert printed[split] == [f"{metrics[k]:.3f}" for k in columns], split

    # capped: the first N training frames, said in the table
    assert main(["train", "--config", str(cfg_file), "--force", "--final-frames", "5", "trainer.max_epochs=1",
                 "--no-export"]) == 0
    assert "(train: the first 5 of 12 frames; val: all 4 frames)" in capsys.readouterr().out
    assert main(["train", "--config", str(cfg_file), "--force", "--final-frames", "0", "trainer.max_epochs=1",
                 "--no-export"]) == 0
    assert "final metrics" not in capsys.readouterr().out


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


def test_init_fine_tunes_from_a_model_file(tmp_path, capsys):
    """`--init MODEL`: a new run from MODEL's weights (epoch counter from 0); a mismatch is one line, exit 2;
    --init with --resume is an argparse error; init.refit=true works without an init section in the YAML."""
    data = write_lj_dataset(tmp_path / "ch4.xyz")
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(tiny_config(data, tmp_path / "base")))
    assert main(["train", "--config", str(cfg_file), "trainer.max_epochs=2", "--final-frames", "0"]) == 0
    model = tmp_path / "base" / "model.pt"
    capsys.readouterr()

    ft = tmp_path / "ft"
    assert main(["train", "--config", str(cfg_file), "--init", str(model), f"output_dir={ft}",
                 "trainer.max_epochs=1", "init.refit=true", "--final-frames", "0"]) == 0
    ckpt = torch.load(ft / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["global_step"] == 5
    assert (ft / "model.pt").is_file()
    capsys.readouterr()

    assert main(["train", "--config", str(cfg_file), "--init", str(model), f"output_dir={tmp_path / 'x'}",
                 "model.cutoff=2.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"init.model: {model} has model.cutoff = 3.0 Å, this config 2.5 Å" in err
    with pytest.raises(SystemExit) as info:
        main(["train", "--config", str(cfg_file), "--init", str(model), "--resume", "last"])
    assert info.value.code == 2 and "argument --resume: not allowed with argument --init" in capsys.readouterr().err


def test_committee_trains_resumes_and_runs_md(tmp_path, capsys):
    """`--committee 2`: two members, the per-member and mean table, committee.json for molsym md;
    `--resume last` keeps finished members."""
    from ase.io import read

    data = write_lj_dataset(tmp_path / "ch4.xyz")
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(tiny_config(data, tmp_path / "c")))
    assert main(["train", "--config", str(cfg_file), "--committee", "2", "trainer.max_epochs=1"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.startswith(("member_", "mean "))}
    assert set(rows) == {"member_0", "member_1", "mean"} and rows["member_0"] != rows["member_1"]
    assert any(line.split()[:2] == ["model", "E"] for line in out.splitlines())  # the rows are models
    assert "committee member 2/2 (seed 4" in out and "(val: all 4 frames)" in out
    committee = tmp_path / "c" / "committee.json"
    assert f"committee file:  {committee}" in out

    assert main(["train", "--config", str(cfg_file), "--committee", "2", "--resume", "last",
                 "trainer.max_epochs=1"]) == 0
    out = capsys.readouterr().out
    assert out.count("finished earlier") == 4  # the two announcements and the two member lines
    assert main(["train", "--config", str(cfg_file), "--committee", "2", "--no-export"]) == 2
    assert "--no-export" in capsys.readouterr().err

    traj = tmp_path / "md.extxyz"
    start = tmp_path / "start.xyz"
    read(data, 0).write(start)
    assert main(["md", "--model", str(committee), "--atoms", str(start), "--steps", "4", "--log-every", "2",
                 "--out", str(traj), "--quiet", "--no-watchdog"]) == 0
    assert "largest force spread" in capsys.readouterr().out
    assert np.loadtxt(traj.with_name("md.log")).shape == (3, 7)


def test_help_explains_every_flag(capsys):
    for cmd in ("train", "eval", "export"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = capsys.readouterr().out
        assert "--out" in text or "--config" in text
