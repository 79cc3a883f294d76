"""Energy/force MAE and RMSE in meV and meV/Å, stress in eV/Å³ and GPa, accumulated over batches."""
import math

import numpy as np
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


# ------------------------------------------------------------------ stress
def _stress_batch(stress, periodic):
    """Graphs of one atom each; ``periodic[b]`` gives graph b a 4 Å cube and pbc, else no cell."""
    b = len(periodic)
    cell = torch.stack([torch.eye(3, dtype=torch.float64) * 4.0 if p else torch.zeros(3, 3, dtype=torch.float64)
                        for p in periodic])
    return {"num_atoms": torch.ones(b, dtype=torch.long), "batch": torch.arange(b), "cell": cell,
            "pbc": torch.tensor([[p] * 3 for p in periodic]), "stress": torch.as_tensor(stress)}


@pytest.mark.filterwarnings("ignore:The ..compute.. method")
def test_stress_errors_over_periodic_graphs_in_ev_per_a3_and_gpa():
    gen = torch.Generator().manual_seed(0)
    t1 = _stress_batch(torch.randn(3, 3, 3, generator=gen, dtype=torch.float64) * 0.01, [True, False, True])
    t1["stress"][1] = 1e3  # a molecule's "label": counted, it would dominate every number
    t2 = _stress_batch(torch.randn(1, 3, 3, generator=gen, dtype=torch.float64) * 0.01, [True])
    p1 = {"stress": torch.randn(3, 3, 3, generator=gen, dtype=torch.float64) * 0.01}
    p1["stress"][1] = 0.0  # what the model gives a graph that is not periodic
    p2 = {"stress": torch.randn(1, 3, 3, generator=gen, dtype=torch.float64) * 0.01}
    m = ForceFieldMetrics()
    m.update(p1, t1)
    m.update(p2, t2)
    out = {k: float(v) for k, v in m.compute().items()}
    err = torch.cat([(p1["stress"] - t1["stress"])[[0, 2]], p2["stress"] - t2["stress"]]).numpy().ravel()
    assert err.size == 27
    mae, rmse = float(abs(err).mean()), math.sqrt(float((err ** 2).mean()))
    assert out["stress_mae"] == pytest.approx(mae, rel=1e-12)
    assert out["stress_rmse"] == pytest.approx(rmse, rel=1e-12)
    assert out["stress_mae_GPa"] == pytest.approx(160.21766208 * mae, rel=1e-9)
    assert out["stress_rmse_GPa"] == pytest.approx(160.21766208 * rmse, rel=1e-9)
    assert not {k for k in out if not k.startswith("stress")}  # no energy or forces in these batches

    per_frame = frame_errors(p1, t1)
    for b in (0, 2):
        e = (p1["stress"][b] - t1["stress"][b]).numpy()
        assert float(per_frame["stress_rmse"][b]) == pytest.approx(math.sqrt(float((e ** 2).mean())), rel=1e-12)
        assert float(per_frame["stress_mae"][b]) == pytest.approx(float(abs(e).mean()), rel=1e-12)
        assert float(per_frame["stress_mae_GPa"][b]) == pytest.approx(160.21766208 * float(abs(e).mean()),
                                                                      rel=1e-9)
    assert all(math.isnan(float(per_frame[k][1])) for k in
               ("stress_rmse", "stress_mae", "stress_rmse_GPa", "stress_mae_GPa"))


@pytest.mark.filterwarnings("ignore:The ..compute.. method")
def test_no_stress_metrics_without_stress_or_periodic_graphs():
    zeros = torch.zeros(2, 3, 3, dtype=torch.float64)
    cases = [
        ({"energy": torch.zeros(2, dtype=torch.float64)}, _batch([0.0, 0.0], [1, 1], [[0, 0, 0]] * 2)),
        ({"stress": zeros}, _stress_batch(zeros + 1.0, [False, False])),       # molecules only
        ({"energy": torch.zeros(2, dtype=torch.float64)},                      # model gave no stress
         {**_stress_batch(zeros + 1.0, [True, True]), "energy": torch.ones(2, dtype=torch.float64)}),
    ]
    for pred, target in cases:
        m = ForceFieldMetrics()
        m.update(pred, target)
        assert not [k for k in m.compute() if k.startswith("stress")]
        # per frame: no stress column, or NaN (empty in the CSV) for frames that have no stress
        per_frame = {k: v for k, v in frame_errors(pred, target).items() if k.startswith("stress")}
        assert all(torch.isnan(v).all() for v in per_frame.values()), per_frame


def test_predict_reports_stress_of_an_emt_data_set(tmp_path):
    """Cu cells labelled by EMT, a random Cu model: predict's stress errors are the hand-computed ones."""
    from stress_tiny_data import CU_CUTOFF, cu_model, write_cu_dataset

    from molsym.data.graph import frame_to_graph
    from molsym.data.readers import read_frames
    from molsym.train.evaluate import predict

    path = write_cu_dataset(tmp_path / "cu.xyz", frames=5)
    frames = read_frames(path, stress_key="stress")
    model = cu_model().eval()
    errors = []
    for frame in frames:  # one frame at a time, outside predict's batching
        out = model(frame_to_graph(frame, CU_CUTOFF), compute_forces=True, compute_stress=True)
        errors.append(out["stress"][0].detach().numpy() - frame["stress"])
    errors = np.array(errors)
    assert np.abs(errors).max() > 1e-4 and np.abs(np.array([f["stress"] for f in frames])).max() > 1e-3

    result = predict(model, frames, batch_size=2, progress=False)  # batches of 2, 2, 1
    m = result["metrics"]
    assert m["stress_mae"] == pytest.approx(np.abs(errors).mean(), rel=1e-10)
    assert m["stress_rmse"] == pytest.approx(np.sqrt((errors ** 2).mean()), rel=1e-10)
    assert m["stress_rmse_GPa"] == pytest.approx(160.21766208 * np.sqrt((errors ** 2).mean()), rel=1e-9)
    assert {"energy_mae", "forces_rmse"} <= set(m)
    for row, err in zip(result["per_frame"], errors):
        assert row["stress_rmse"] == pytest.approx(np.sqrt((err ** 2).mean()), rel=1e-10)
        assert row["stress_mae_GPa"] == pytest.approx(160.21766208 * np.abs(err).mean(), rel=1e-9)
    assert result["stress_pred"].shape == result["stress_ref"].shape == (5, 3, 3)
    np.testing.assert_allclose(result["stress_pred"] - result["stress_ref"], errors, rtol=0, atol=1e-14)

    unlabelled = read_frames(path)  # the same frames, stress not read
    result = predict(model, unlabelled, batch_size=2, progress=False)
    assert not [k for k in result["metrics"] if k.startswith("stress")]
    assert not [k for row in result["per_frame"] for k in row if k.startswith("stress")]
    assert result["stress_pred"] is None and result["stress_ref"] is None
