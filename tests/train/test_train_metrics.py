"""Energy/force MAE and RMSE in meV and meV/Å, accumulated over batches."""
import math

import pytest
import torch

from molsym.train.metrics import ForceFieldMetrics, frame_errors


def _batch(e, n, f):
    n = torch.tensor(n)
    return {"energy": torch.tensor(e, dtype=torch.float64), "num_atoms": n,
            "forces": torch.tensor(f, dtype=torch.float64),
            "batch": torch.repeat_interleave(torch.arange(len(n)), n)}


@pytest.mark.filterwarnings("ignore:The ..compute.. method")
def test_metrics_accumulate_over_batches_in_mev():
    m = ForceFieldMetrics()
    t1 = _batch([0.0, 0.0], [1, 2], [[0, 0, 0]] * 3)
    p1 = {"energy": torch.tensor([0.003, -0.004], dtype=torch.float64),
          "forces": torch.tensor([[0.001, 0, 0], [0, 0, 0], [0, 0, 0]], dtype=torch.float64)}
    t2 = _batch([1.0], [4], [[1, 1, 1]] * 4)
    p2 = {"energy": torch.tensor([1.0], dtype=torch.float64),
          "forces": torch.full((4, 3), 1.002, dtype=torch.float64)}
    m.update(p1, t1)
    m.update(p2, t2)
    out = {k: float(v) for k, v in m.compute().items()}
    assert out["energy_mae"] == pytest.approx((3 + 4 + 0) / 3)
    assert out["energy_rmse"] == pytest.approx(math.sqrt((9 + 16) / 3))
    assert out["energy_per_atom_mae"] == pytest.approx((3 + 2 + 0) / 3)
    assert out["energy_per_atom_rmse"] == pytest.approx(math.sqrt((9 + 4) / 3))
    assert out["forces_mae"] == pytest.approx((1 + 12 * 2) / 21)
    assert out["forces_rmse"] == pytest.approx(math.sqrt((1 + 12 * 4) / 21))
    m.reset()
    assert m.compute() == {}


def test_frame_errors():
    t = _batch([0.0, 0.0], [1, 2], [[0, 0, 0]] * 3)
    p = {"energy": torch.tensor([0.003, -0.004], dtype=torch.float64),
         "forces": torch.tensor([[0.003, 0, 0], [0, 0.006, 0], [0, 0, 0]], dtype=torch.float64)}
    e = frame_errors(p, t)
    assert e["energy_error"].tolist() == pytest.approx([3.0, -4.0])
    assert e["energy_error_per_atom"].tolist() == pytest.approx([3.0, -2.0])
    assert e["forces_rmse"].tolist() == pytest.approx([math.sqrt(9 / 3), math.sqrt(36 / 6)])
    assert e["forces_mae"].tolist() == pytest.approx([1.0, 1.0])
