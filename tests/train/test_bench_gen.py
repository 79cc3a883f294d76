"""scripts/bench_gen.py: snapshots during training, scoring, the table and the learning-curve PNG."""
from test_train_generator import flow_config

from molsym.generate import load_generator
from molsym.train import train


def test_snapshots_scores_table_and_plot(load_script, molecules_file, tmp_path):
    bench = load_script("bench_gen")
    snaps = bench.Snapshots(tmp_path / "snaps", every=1e-4)  # a snapshot after every step
    train(flow_config(molecules_file, tmp_path / "run", max_epochs=1), extra_callbacks=[snaps])
    files = sorted((tmp_path / "snaps").glob("snap_*.pt"))
    assert len(files) >= 3  # at the start, during training, at the end
    _, extra = load_generator(files[-1])
    assert extra["global_step"] > 0 and extra["cpu_minutes"] >= 0
    scored = bench.score(files[-1], samples=3, steps=2)
    assert scored["steps"] == 2 and 0 <= scored["mol_stable_dist"] <= 1 and scored["seconds_per_100"] > 0
    results = {"flow": {"curve": [bench.score(f, 2, 2) for f in (files[0], files[-1])], "final": [scored]}}
    assert bench._table(results).count("| flow |") == 3
    bench._plot(results, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"


def test_refuses_to_overwrite_results(load_script, tmp_path, capsys):
    bench = load_script("bench_gen")
    (tmp_path / "results.json").write_text("{}")
    assert bench.main(["--out", str(tmp_path)]) == 2
    assert "results.json exists" in capsys.readouterr().err


def test_every_run_is_a_valid_config(load_script):
    """The runs' configs with the benchmark's overrides pass the config check (a typo would fail here)."""
    from molsym.train.config import load_config

    bench = load_script("bench_gen")
    for name, (config, overrides) in bench.RUNS.items():
        cfg = load_config(bench.ROOT / config, overrides)
        assert cfg["generator"]["val_samples"] == 0 or name == "edm", name
    weights = {name: load_config(bench.ROOT / bench.RUNS[name][0], bench.RUNS[name][1])["model"]["init_args"]
               ["loss_weights"]["distance"] for name in ("flow", "flow-sc", "flow-dist")}
    assert weights == {"flow": 0.0, "flow-sc": 0.0, "flow-dist": 1.0}  # "flow" is the design as first measured
