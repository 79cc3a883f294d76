"""Training with a stress loss logs stress errors (eV/Å³ and GPa): those of the EMA weights."""
import pytest

from molsym.train import train
from molsym.train.evaluate import predict

from stress_tiny_data import write_cu_dataset
from train_tiny_data import tiny_config


def test_training_with_a_stress_loss_logs_stress_errors(tmp_path):
    data = write_cu_dataset(tmp_path / "cu.xyz", frames=12)
    cfg = tiny_config(data, tmp_path / "run", max_epochs=1)
    cfg["data"]["init_args"]["stress_key"] = "stress"
    cfg["loss"].append({"key": "stress", "fn": "mse", "weight": 1.0})
    result = train(cfg)
    logged = result["metrics"]
    for split in ("train", "val"):
        assert {f"{split}/stress_mae", f"{split}/stress_rmse", f"{split}/stress_mae_GPa",
                f"{split}/stress_rmse_GPa"} <= set(logged), sorted(logged)
    module, dm = result["module"], result["datamodule"]
    val = [dm.val_dataset.dataset.frames[i] for i in dm.val_dataset.indices]
    assert all("stress" in f for f in val)
    ema = predict(module.averaged_model, val, progress=False)["metrics"]
    assert float(logged["val/stress_rmse"]) == pytest.approx(ema["stress_rmse"], rel=1e-5)
    assert float(logged["val/stress_mae_GPa"]) == pytest.approx(ema["stress_mae_GPa"], rel=1e-5)
    assert ema["stress_rmse"] > 0
