"""The LightningModule: EMA arithmetic, validation on the EMA weights, precision from the config."""
import pytest
import torch

from molsym.data.readers import read_frames
from molsym.train import train
from molsym.train.evaluate import predict
from molsym.train.module import EMAUpdate

from train_tiny_data import tiny_config


def test_ema_update_arithmetic():
    avg = [torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([3])]
    cur = [torch.tensor([3.0, 6.0], dtype=torch.float64), torch.tensor([7])]
    EMAUpdate(0.75)(avg, cur, 1)
    assert avg[0].tolist() == pytest.approx([1.5, 3.0])
    assert avg[1].tolist() == [7]  # integer buffers are copied
    with pytest.raises(ValueError):
        EMAUpdate(1.0)


def test_ema_warmup_ramps_the_decay_up_to_its_value():
    ema = EMAUpdate(0.99, warmup=True)
    assert ema.decay_at(1) == pytest.approx(2 / 11)
    assert ema.decay_at(100) == pytest.approx(101 / 110)
    assert ema.decay_at(10_000) == 0.99
    assert EMAUpdate(0.99).decay_at(1) == 0.99
    avg, cur = [torch.tensor([0.0])], [torch.tensor([11.0])]
    ema(avg, cur, 1)  # d = 2/11: avg = 9/11 of the way to cur
    assert avg[0].item() == pytest.approx(9.0)


def test_validation_metrics_are_those_of_the_ema_weights(lj_data, tmp_path):
    result = train(tiny_config(lj_data, tmp_path / "run", max_epochs=1))
    module, dm = result["module"], result["datamodule"]
    val = [dm.val_dataset.dataset.frames[i] for i in dm.val_dataset.indices]
    logged = result["metrics"]["val/forces_rmse"]
    ema = predict(module.averaged_model, val, progress=False)["metrics"]["forces_rmse"]
    raw = predict(module.model, val, progress=False)["metrics"]["forces_rmse"]
    assert logged == pytest.approx(ema, rel=1e-5)
    assert abs(raw - ema) > 1e-3 * ema  # the raw weights really differ


def test_float32_config(lj_data, tmp_path):
    cfg = tiny_config(lj_data, tmp_path / "run", max_epochs=1)
    cfg["dtype"] = cfg["data"]["init_args"]["dtype"] = "float32"
    before = torch.get_default_dtype()
    result = train(cfg)
    assert torch.get_default_dtype() == before
    params = list(result["module"].model.parameters())
    assert all(p.dtype == torch.float32 for p in params if p.is_floating_point())
    assert result["module"].model.dtype == torch.float32
    frames = read_frames(lj_data)[:3]
    assert predict(result["module"].averaged_model, frames, progress=False)["metrics"]["forces_rmse"] > 0


def test_fitted_shift_minimises_the_energy_offset(lj_data, tmp_path):
    from molsym.data.collate import collate
    from molsym.nn import build_model
    from molsym.train.run import build_datamodule, fill_model_config, fit_shift

    cfg = tiny_config(lj_data, tmp_path / "run")
    cfg["data"]["init_args"]["e0s"] = {1: -0.5, 6: -2.0}
    dm = build_datamodule(cfg)
    model_cfg = fill_model_config(cfg["model"], dm.statistics, "float64")
    shift = fit_shift(model_cfg, dm.train_dataset)
    batch = collate([dm.train_dataset[i] for i in range(len(dm.train_dataset))])
    e0_sum = -2.0 - 4 * 0.5  # CH4

    def objective(s):
        model = build_model(dict(model_cfg, shift=s))
        base = build_model(dict(model_cfg, shift=0.0))
        base.load_state_dict(model.state_dict())
        b = model(batch, compute_forces=False)["energy"] - base(batch, compute_forces=False)["energy"]
        return float(((b - (batch["energy"] - e0_sum)) ** 2).sum())

    best = objective(shift)
    assert best < objective(shift * 1.01) and best < objective(shift * 0.99)
