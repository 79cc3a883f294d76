"""``molsym learn`` from the command line: a tiny run, its summary, and one-line errors (exit code 2)."""
import pytest

from molsym.cli.main import main

from learn_tiny import EMT


def _args(out, config, *more):
    return ["learn", "--smiles", "O", "--out", str(out), "--labeller", EMT, "--config", str(config),
            "--committee", "2", "--seed-frames", "8", "--seed-stride", "5", "--seed-equilibration", "10",
            "--frames-per-iteration", "3", "--max-iterations", "2", "--md-runs", "2", "--md-steps", "40",
            "--min-gap", "20", "--threshold", "0.0001", *more]


def test_tiny_run_and_its_files(tmp_path, tiny_learn_config, capsys):
    out = tmp_path / "w"
    assert main(_args(out, tiny_learn_config, "trainer.max_epochs=2")) == 0
    printed = capsys.readouterr().out
    assert "done (max iterations (2) reached): 11 labelled frames" in printed
    assert f"committee: {out / 'committee.json'}" in printed and "plot:" in printed
    assert "epoch " not in printed and "steps/s" not in printed  # no per-epoch lines of the members' training

    # molsym eval scores the committee file as the mean MolSymCalculator gives
    import json
    import numpy as np
    from ase.io import read
    from molsym.calculator import MolSymCalculator
    assert main(["eval", "--model", str(out / "committee.json"), "--data", str(out / "data.xyz"),
                 "--out", str(tmp_path / "ev")]) == 0
    capsys.readouterr()
    metrics = json.loads((tmp_path / "ev" / "data_metrics.json").read_text())
    calc, diffs = MolSymCalculator(out / "committee.json"), []
    for frame in read(out / "data.xyz", ":"):
        ref = frame.get_forces()
        frame.calc = calc
        diffs.append(frame.get_forces() - ref)
    rmse = 1e3 * np.sqrt(np.mean(np.concatenate(diffs) ** 2))
    assert metrics["metrics"]["forces_rmse"] == pytest.approx(rmse, rel=1e-4)

    # never over an earlier run; --resume of a finished run does nothing new
    assert main(_args(out, tiny_learn_config)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "earlier learn run" in err and "--resume" in err
    assert main(["learn", "--out", str(out), "--resume"]) == 0
    assert "after 1 completed iterations" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--labeller", "no.such:Thing"], "labeller 'no.such:Thing': cannot import"),
    (["--committee", "1"], "at least 2 members"),
    (["model.representation.hiden=4"], "hiden"),
])
def test_bad_input_is_one_line(tmp_path, tiny_learn_config, capsys, args, message):
    assert main(_args(tmp_path / "x", tiny_learn_config, *args)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_resume_needs_a_run_and_a_new_run_needs_smiles(tmp_path, capsys):
    assert main(["learn", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "no earlier learn run to resume" in capsys.readouterr().err
    assert main(["learn", "--out", str(tmp_path / "none")]) == 2
    assert "--smiles is required" in capsys.readouterr().err
