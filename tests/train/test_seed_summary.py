"""scripts/seed_summary.py: mean and range over bench_acac.py runs, and the ratio of the means."""
import json

import pytest


def _entry(f300, f600, epochs=100, h=(0.0, 0.01, 0.0)):
    tests = {"test_MD_300K": {"forces_rmse": f300, "energy_rmse": 1.0},
             "test_MD_600K": {"forces_rmse": f600, "energy_rmse": 2.0}}
    profiles = {"test_H_transfer": {"dft": [0, 0.014], "pred": list(h)},
                "test_dihedral": {"dft": [0, 1.0], "pred": [0.0, 1.2]}}
    return {"epochs": epochs, "configs_per_second": 70.0, "tests": tests, "profiles": profiles}


def _run(tmp_path, name, **codes):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(codes))
    return folder


def test_pools_runs_per_code_and_divides_the_means(load_script, tmp_path, capsys):
    mod = load_script("seed_summary")
    runs = [_run(tmp_path, "a", molsym=_entry(10.0, 40.0), mace=_entry(20.0, 50.0)),
            _run(tmp_path, "b", molsym=_entry(14.0, 50.0, epochs=300, h=(0.0, 0.02))),
            _run(tmp_path, "c", mace=_entry(24.0, 70.0))]
    pooled = mod.collect(runs)
    assert [len(pooled[c]) for c in ("molsym", "mace")] == [2, 2]
    s = mod.summarise(pooled["molsym"])
    assert s["F RMSE 600K (meV/Å)"] == {"n": 2, "mean": 45.0, "min": 40.0, "max": 50.0}
    assert s["epochs"]["mean"] == 200.0
    assert s["H-transfer barrier (meV)"]["max"] == pytest.approx(20.0)
    r = mod.ratios(pooled)
    assert r["test_MD_300K"] == pytest.approx(12.0 / 22.0)
    assert r["test_MD_600K"] == pytest.approx(45.0 / 60.0)
    assert mod.main([str(p) for p in runs] + ["--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| molsym | 2 |" in out and "45.00 (40.00–50.00)" in out
    assert "test_MD_600K 0.75" in out


def test_a_run_without_mace_gives_no_ratio_and_a_failed_code_is_left_out(load_script, tmp_path):
    mod = load_script("seed_summary")
    runs = [_run(tmp_path, "a", molsym=_entry(10.0, 40.0), mace={"error": "no checkpoint"})]
    pooled = mod.collect(runs)
    assert pooled["mace"] == [] and mod.ratios(pooled) == {}


def test_missing_or_broken_results_are_named(load_script, tmp_path, capsys):
    mod = load_script("seed_summary")
    (tmp_path / "empty").mkdir()
    assert mod.main([str(tmp_path / "empty")]) == 2
    assert "empty/results.json" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.json").write_text("{not json")
    assert mod.main([str(bad)]) == 2
    assert "bad/results.json: not valid JSON" in capsys.readouterr().err
