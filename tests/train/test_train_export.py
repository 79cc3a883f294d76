"""Checkpoints load with weights_only=True; export writes the EMA weights into a
self-describing model file; evaluation reports per-frame errors that add up."""
import math

import numpy as np
import pytest
import torch

from molsym.data.collate import collate
from molsym.data.graph import frame_to_graph
from molsym.data.readers import read_frames
from molsym.nn.io import load_model, read_model_file
from molsym.train import train
from molsym.train.evaluate import predict, write_report
from molsym.train.export import export_checkpoint, load_checkpoint_model

from train_tiny_data import tiny_config, write_lj_dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One two-epoch run shared by the tests of this file."""
    folder = tmp_path_factory.mktemp("export")
    data = write_lj_dataset(folder / "ch4_lj.xyz")
    return train(tiny_config(data, folder / "run", max_epochs=2)), data


def test_checkpoint_and_export(trained, tmp_path):
    result, _ = trained
    ckpt = torch.load(result["best"], map_location="cpu", weights_only=True)
    state = ckpt["state_dict"]
    ema = {k[len("ema.module."):]: v for k, v in state.items() if k.startswith("ema.module.")}
    raw = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    assert ema.keys() == raw.keys()
    assert any(not torch.equal(ema[k], raw[k]) for k in ema if ema[k].is_floating_point())

    out = export_checkpoint(result["best"], tmp_path / "model.pt")
    payload = read_model_file(out)
    assert payload["cutoff"] == 3.0 and payload["dtype"] == "float64"
    assert payload["units"] == {"energy": "eV", "length": "Å"}
    assert payload["extra"]["weights"] == "ema" and payload["molsym_version"]
    for k, v in ema.items():
        torch.testing.assert_close(payload["state_dict"][k], v, rtol=0, atol=0)
    raw_model, _ = load_checkpoint_model(result["best"], ema=False)
    for k, v in raw.items():
        torch.testing.assert_close(raw_model.state_dict()[k], v, rtol=0, atol=0)


def test_exported_model_predicts_like_the_checkpoint(trained, tmp_path):
    result, data = trained
    out = export_checkpoint(result["last"], tmp_path / "model.pt")
    frames = read_frames(data)[:6]
    a, _ = load_checkpoint_model(result["last"])
    b = load_model(out)
    batch = collate([frame_to_graph(f, 3.0, torch.float64) for f in frames])
    pa, pb = a(batch), b(batch)
    torch.testing.assert_close(pa["energy"], pb["energy"], rtol=0, atol=1e-12)
    torch.testing.assert_close(pa["forces"], pb["forces"], rtol=0, atol=1e-12)


def test_script_export_predicts_like_the_checkpoint(trained, tmp_path):
    """`molsym export --compile script`: a TorchScript file with the metadata, same numbers."""
    from molsym.calculator.compile import is_compiled_file, load_compiled

    result, data = trained
    out = export_checkpoint(result["last"], tmp_path / "model_script.pt", compile="script")
    assert is_compiled_file(out) and not is_compiled_file(export_checkpoint(result["last"], tmp_path / "m.pt"))
    module, meta = load_compiled(out)
    assert meta["compiled"] == "script" and meta["config"]["cutoff"] == 3.0 and meta["units"]["forces"] == "eV/Å"
    a, _ = load_checkpoint_model(result["last"])
    batch = collate([frame_to_graph(f, 3.0, torch.float64) for f in read_frames(data)[:6]])
    pa, pb = a(batch), module(batch)
    for key in ("energy", "node_energy", "forces"):
        torch.testing.assert_close(pa[key], pb[key], rtol=0, atol=1e-12)


def test_export_refuses_a_compile_mode_a_file_cannot_hold(trained, tmp_path):
    result, _ = trained
    from molsym.calculator.compile import CompileError

    with pytest.raises(CompileError, match="was removed"):
        export_checkpoint(result["last"], tmp_path / "x.pt", compile="compile")
    assert not (tmp_path / "x.pt").exists()


def test_evaluation_report(trained, tmp_path):
    result, data = trained
    model, _ = load_checkpoint_model(result["best"])
    frames = read_frames(data)
    res = predict(model, frames, batch_size=5, progress=False)
    rows = res["per_frame"]
    assert len(rows) == len(frames) == len(res["energy_pred"])
    # whole-set RMSEs are the root mean of the per-frame squares (all frames have 5 atoms)
    assert res["metrics"]["energy_rmse"] == pytest.approx(math.sqrt(np.mean([r["energy_error"] ** 2 for r in rows])))
    assert res["metrics"]["forces_rmse"] == pytest.approx(math.sqrt(np.mean([r["forces_rmse"] ** 2 for r in rows])))
    ref = np.array([f["energy"] for f in frames], dtype=float)
    assert np.allclose(res["energy_ref"], ref)
    files = write_report(res, tmp_path / "eval", "lj")
    assert files["png"].stat().st_size > 1000
    assert files["csv"].read_text().count("\n") == len(frames) + 1


def assert_same_metrics(got, want, rel=1e-6):
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=rel), key


def test_final_metrics_are_molsym_eval_of_the_exported_model(trained, tmp_path):
    """The final table's rows (issue 23 #16) are the exported weights on the split's frames, read from the file,
    not the running average of the raw weights over the last epoch."""
    result, data = trained
    final, dm = result["final"], result["datamodule"]
    assert final["checkpoint"] == result["best"] and final["weights"] == "ema"
    assert final["frames"] == {"train": (20, 20), "val": (4, 4)}
    exported = load_model(export_checkpoint(result["best"], tmp_path / "model.pt"))
    frames = read_frames(data)  # as molsym eval reads them
    for split in ("train", "val"):
        ours = [frames[i] for i in dm.split[split]]
        assert_same_metrics(final["metrics"][split], predict(exported, ours, progress=False)["metrics"])
    # the running average of the last epoch is another number (what the old table printed as "train")
    assert result["metrics"]["train/forces_rmse"] != pytest.approx(final["metrics"]["train"]["forces_rmse"], rel=1e-3)


def test_final_metrics_can_be_capped_to_the_first_frames(trained):
    from molsym.train.run import evaluate_exported

    result, data = trained
    dm = result["datamodule"]
    capped = evaluate_exported(result["best"], dm, max_frames=7)
    assert capped["frames"] == {"train": (7, 20), "val": (4, 4)}
    model, _ = load_checkpoint_model(result["best"])
    first = [read_frames(data)[i] for i in dm.split["train"][:7]]
    assert_same_metrics(capped["metrics"]["train"], predict(model, first, progress=False)["metrics"])
    assert_same_metrics(capped["metrics"]["val"], result["final"]["metrics"]["val"], rel=1e-12)


def test_bad_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(ValueError, match="not a molsym training checkpoint"):
        load_checkpoint_model(bad)
    with pytest.raises(FileNotFoundError):
        load_checkpoint_model(tmp_path / "none.ckpt")
