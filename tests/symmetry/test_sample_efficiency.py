"""The sample-efficiency study script: its interpolation, and a tiny end-to-end run (slow)."""
import json

import pytest


def test_efficiency_factor_interpolates_in_log_log(load_script):
    se = load_script("sample_efficiency")
    # error halves per doubling: reaching 25 from (100 -> 50) needs 400 configurations
    assert se.efficiency_factor([100, 200, 400], [100.0, 50.0, 25.0], 25.0) == pytest.approx(400.0)
    assert se.efficiency_factor([100, 200, 400], [100.0, 50.0, 25.0], 35.355339) == pytest.approx(282.8427, rel=1e-5)
    assert se.efficiency_factor([100, 200], [100.0, 50.0], 10.0) is None
    assert se.efficiency_factor([100, 200], [5.0, 4.0], 10.0) == 100.0


@pytest.mark.slow
def test_tiny_study_runs_end_to_end(load_script, shared_data, tmp_path):
    se = load_script("sample_efficiency")
    out = tmp_path / "se"
    assert se.main(["--sizes", "10", "--steps", "4", "--models", "raw", "pca", "--test-frames", "5",
                    "--val", "5", "--threads", "1", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"raw", "pca"}
    # the canonicalized model's error is the same on the rotated test set; the raw one's is not
    pca, raw = results["pca"]["10"], results["raw"]["10"]
    assert pca["rmse_rotated"] == pytest.approx(pca["rmse"], rel=1e-9)
    assert raw["rmse_rotated"] != pytest.approx(raw["rmse"], rel=1e-9)
    assert (out / "learning_curves.png").stat().st_size > 1000


def test_extrapolated_size_follows_the_power_law_of_the_last_points(load_script):
    se = load_script("sample_efficiency")
    # error ∝ n^-1/2 through the last three points: 25 → 4× the size of 50
    assert se.extrapolated_size([10, 100, 200, 400], [999.0, 100.0, 70.710678, 50.0], 25.0) == pytest.approx(1600.0, rel=1e-6)
    assert se.extrapolated_size([100, 200, 400], [50.0, 50.0, 60.0], 25.0) is None   # rising: never
