"""`molsym eval` reports stress errors (eV/Å³ and GPa) for files with stress, and none for files without.

The data are strained, rattled Cu cells labelled by EMT (tests/train/stress_tiny_data.py), the
model a random Cu PaiNN; every number is checked against a hand computation from the model's
own predictions, one frame at a time.
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from molsym.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from stress_tiny_data import CU_CUTOFF, cu_model, write_cu_dataset  # noqa: E402

#: 1 eV/Å³ in GPa.
GPA = 160.21766208


@pytest.fixture(scope="module")
def cu(tmp_path_factory):
    """(model file, data file with stress, hand-computed stress errors [frames, 3, 3] eV/Å³)."""
    from molsym.data.graph import frame_to_graph
    from molsym.data.readers import read_frames
    from molsym.nn.io import save_model

    folder = tmp_path_factory.mktemp("cu")
    model = cu_model()
    path = save_model(model, folder / "cu.pt")
    data = write_cu_dataset(folder / "cu.xyz", frames=5)
    model.eval()
    errors = []
    for frame in read_frames(data, stress_key="stress"):
        out = model(frame_to_graph(frame, CU_CUTOFF), compute_forces=True, compute_stress=True)
        errors.append(out["stress"][0].detach().numpy() - frame["stress"])
    return path, data, np.array(errors)


def _eval(capsys, model, data, out, *flags):
    code = main(["eval", "--model", str(model), "--data", str(data), "--out", str(out), *flags])
    stdout, stderr = capsys.readouterr()
    return code, stdout, stderr


def _outputs(out, name):
    metrics = json.loads((out / f"{name}_metrics.json").read_text())
    with open(out / f"{name}_errors.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return metrics, rows


def _png_width(path):
    import matplotlib.image

    return matplotlib.image.imread(str(path)).shape[1]


def test_eval_reports_stress_in_both_units(tmp_path, capsys, cu):
    model, data, errors = cu
    mae, rmse = np.abs(errors).mean(), np.sqrt((errors ** 2).mean())
    code, stdout, stderr = _eval(capsys, model, data, tmp_path / "ev")
    assert code == 0, stderr
    head, units, row = stdout.strip().splitlines()[-3:]
    assert "S MAE" in head and "S RMSE" in head
    assert units.split()[-4:] == ["eV/Å³", "eV/Å³", "GPa", "GPa"]
    assert row.split()[0] == "cu"
    assert row.split()[-4:] == [f"{mae:.5f}", f"{rmse:.5f}", f"{GPA * mae:.3f}", f"{GPA * rmse:.3f}"]

    metrics, rows = _outputs(tmp_path / "ev", "cu")
    m = metrics["metrics"]
    assert m["stress_mae"] == pytest.approx(mae, rel=1e-10)
    assert m["stress_rmse"] == pytest.approx(rmse, rel=1e-10)
    assert m["stress_mae_GPa"] == pytest.approx(GPA * mae, rel=1e-9)
    assert m["stress_rmse_GPa"] == pytest.approx(GPA * rmse, rel=1e-9)
    assert metrics["units"]["stress_rmse"] == "eV/Å³" and metrics["units"]["stress_rmse_GPa"] == "GPa"
    assert len(rows) == 5
    for r, err in zip(rows, errors):
        assert float(r["stress_rmse"]) == pytest.approx(np.sqrt((err ** 2).mean()), rel=1e-10)
        assert float(r["stress_mae"]) == pytest.approx(np.abs(err).mean(), rel=1e-10)
        assert float(r["stress_rmse_GPa"]) == pytest.approx(GPA * np.sqrt((err ** 2).mean()), rel=1e-9)

    # --stress-key none: the same file, no stress anywhere; the parity plot loses its stress panel
    code, stdout, stderr = _eval(capsys, model, data, tmp_path / "none", "--stress-key", "none")
    assert code == 0, stderr
    assert "S MAE" not in stdout and "GPa" not in stdout
    metrics, rows = _outputs(tmp_path / "none", "cu")
    assert not [k for k in list(metrics["metrics"]) + list(metrics["units"]) if k.startswith("stress")]
    assert not [k for k in rows[0] if k.startswith("stress")]
    assert metrics["metrics"]["forces_rmse"] > 0
    three, two = _png_width(tmp_path / "ev" / "cu_parity.png"), _png_width(tmp_path / "none" / "cu_parity.png")
    assert three > 1.3 * two, (three, two)


def test_eval_stress_key_names_the_label(tmp_path, capsys, cu):
    model, _, errors = cu
    data = write_cu_dataset(tmp_path / "ref.xyz", frames=5, stress_key="REF_stress")  # the same frames
    code, _, stderr = _eval(capsys, model, data, tmp_path / "ev", "--stress-key", "REF_stress")
    assert code == 0, stderr
    m = _outputs(tmp_path / "ev", "ref")[0]["metrics"]
    assert m["stress_rmse"] == pytest.approx(np.sqrt((errors ** 2).mean()), rel=1e-10)

    # the default key 'stress' is not in this file: evaluated without stress, not refused
    code, stdout, stderr = _eval(capsys, model, data, tmp_path / "default")
    assert code == 0, stderr
    assert "S MAE" not in stdout
    assert not [k for k in _outputs(tmp_path / "default", "ref")[0]["metrics"] if k.startswith("stress")]

    # a named key the file lacks is one line naming it, exit 2
    code, _, stderr = _eval(capsys, model, data, tmp_path / "bad", "--stress-key", "virial")
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert "ref.xyz" in stderr and "'virial'" in stderr and "stress" in stderr


def test_eval_without_stress_labels_reports_none(tmp_path, capsys, cu):
    model = cu[0]
    data = write_cu_dataset(tmp_path / "plain.xyz", frames=3, stress_key=None)
    code, stdout, stderr = _eval(capsys, model, data, tmp_path / "ev")
    assert code == 0, stderr
    assert "S MAE" not in stdout and "eV/Å³" not in stdout
    metrics, rows = _outputs(tmp_path / "ev", "plain")
    assert not [k for k in list(metrics["metrics"]) + list(metrics["units"]) if k.startswith("stress")]
    assert not [k for k in rows[0] if k.startswith("stress")] and len(rows) == 3
    assert {"energy_mae", "forces_rmse"} <= set(metrics["metrics"])
