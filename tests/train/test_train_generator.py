"""`molsym train` trains a generator as it trains a force field: checkpoints, sampled-quality logs,
resume after a kill (bit for bit), and the exported EMA generator file."""
import numpy as np
import pytest
import torch

from molsym.cli.main import main
from molsym.generate import load_generator
from molsym.train import train
from molsym.train.run import checkpoint_dir, is_generator_config

from train_kill import Killed, KillAt, states as _states


def flow_config(path, out, max_epochs=3):
    """A resolved config for a seconds-long flow-generator run on the molecules of ``path``."""
    return {
        "seed": 0, "dtype": "float64", "output_dir": str(out),
        "data": {"class_path": "molsym.flow.FlowDataModule",
                 "init_args": {"species": [1, 6, 7, 8], "source": "extxyz", "path": str(path), "batch_size": 4,
                               "dtype": "float64"}},
        "model": {"class_path": "molsym.flow.FlowMatchingGenerator",
                  "init_args": {"species": [1, 6, 7, 8], "atom_counts": "auto",
                                "network": {"hidden": 16, "edge_dim": 8, "msg_dim": 8, "num_layers": 2,
                                            "num_rbf": 8}}},
        "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 1e-3}},
        "ema_decay": 0.9,
        "generator": {"val_samples": 4, "val_steps": 3},
        "checkpoint": {"monitor": "val/loss", "every_n_train_steps": 2},
        "trainer": {"max_epochs": max_epochs, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False,
                    "log_every_n_steps": 1, "enable_model_summary": False},
    }


def test_generator_config_trains_logs_quality_and_resumes_bit_for_bit(molecules_file, tmp_path):
    cfg = flow_config(molecules_file, tmp_path / "ref")
    assert is_generator_config(cfg)
    ref = train(cfg)
    steps = ref["trainer"].global_step
    assert steps >= 6
    assert "val/mol_stable" in ref["metrics"] and "val/mol_stable_dist" in ref["metrics"]
    counts = ref["module"].model.atom_counts.counts
    assert counts.sum() == ref["datamodule"].statistics["num_train"]  # p(N) from the training molecules

    killed = flow_config(molecules_file, tmp_path / "killed")
    with pytest.raises(Killed):
        train(killed, extra_callbacks=[KillAt(steps - 2)])
    resumed = train(killed, resume="last")
    assert resumed["trainer"].global_step == steps
    a, b = _states(ref["module"]), _states(resumed["module"])
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-12, msg=k)


def test_cli_trains_and_exports_a_generator_that_samples(molecules_file, tmp_path, capsys):
    import yaml

    cfg_path = tmp_path / "flow.yaml"
    cfg_path.write_text(yaml.safe_dump(flow_config(molecules_file, tmp_path / "run", max_epochs=1)))
    assert main(["train", "--config", str(cfg_path)]) == 0
    text = capsys.readouterr().out
    assert "val/mol_stable" in text and "exported generator" in text
    model, extra = load_generator(tmp_path / "run" / "gen.pt")
    assert extra["weights"] == "ema" and extra["global_step"] > 0
    assert (checkpoint_dir({"output_dir": str(tmp_path / "run")}) / "last.ckpt").is_file()
    mols = model.sample_molecules(3, steps=2, generator=torch.Generator().manual_seed(0))
    assert len(mols) == 3 and all(m.bonds is not None for m in mols)
    assert np.isfinite(np.concatenate([m.pos for m in mols])).all()
