"""Two CPU processes (DDP, gloo) take the same steps as one process with the
same global batch: equal losses and equal final weights."""
import json

import lightning.pytorch as pl
import pytest
import torch

from molsym.train import train

from train_tiny_data import tiny_config


class RecordLoss(pl.Callback):
    """Write every step's training loss of this process to ``<folder>/loss_<tag>_<rank>.json``."""

    def __init__(self, folder, tag):
        self.folder, self.tag, self.losses = str(folder), tag, []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))

    def on_train_end(self, trainer, module):
        with open(f"{self.folder}/loss_{self.tag}_{trainer.global_rank}.json", "w") as fh:
            json.dump(self.losses, fh)


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_single_process(lj_data, tmp_path):
    single = tiny_config(lj_data, tmp_path / "single", max_epochs=1)
    single["data"]["init_args"]["batch_size"] = 4
    one = train(single, extra_callbacks=[RecordLoss(tmp_path, "single")])

    ddp = tiny_config(lj_data, tmp_path / "ddp", max_epochs=1, strategy="ddp_spawn", devices=2)
    ddp["data"]["init_args"]["batch_size"] = 2  # per process: 2 × 2 = the same global batch of 4
    two = train(ddp, extra_callbacks=[RecordLoss(tmp_path, "ddp")])

    ref = json.loads((tmp_path / "loss_single_0.json").read_text())
    rank0 = json.loads((tmp_path / "loss_ddp_0.json").read_text())
    rank1 = json.loads((tmp_path / "loss_ddp_1.json").read_text())
    assert len(ref) == len(rank0) == len(rank1) == 5
    # each process sees half of every global batch; their mean is the global loss
    mean = [(a + b) / 2 for a, b in zip(rank0, rank1)]
    assert mean == pytest.approx(ref, rel=1e-9, abs=1e-12)
    assert rank0 != pytest.approx(rank1)  # the two processes really saw different data
    a, b = one["module"].model.state_dict(), two["module"].model.state_dict()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-9, atol=1e-10, msg=k)
