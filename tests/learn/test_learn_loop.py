"""The learn loop end to end on water with EMT labels: files, stopping rules, refusal, resume after a kill."""
import json

import lightning.pytorch as pl
import numpy as np
import pytest
from ase.io import read

from molsym.calculator import MolSymCalculator, read_committee
from molsym.learn import LearnError, learn, read_state

from learn_tiny import tiny_settings
from train_kill import Killed


class KillIn(pl.Callback):
    """Raise at optimizer step ``step`` of the run whose folder ends with ``folder``."""

    def __init__(self, folder: str, step: int):
        self.folder, self.step = folder, step

    def on_train_batch_end(self, trainer, *args):
        if trainer.default_root_dir.endswith(self.folder) and trainer.global_step == self.step:
            raise Killed(f"killed in {self.folder}")


def test_two_iterations_write_everything(tmp_path, tiny_learn_config):
    out = tmp_path / "run"
    lines = []
    state = learn(tiny_settings(out, tiny_learn_config), report=lines.append)
    assert state["stopped"] == "max iterations (2) reached"
    first, second = state["iterations"]
    # iteration 0 picked frames (the threshold is tiny, so it cannot converge) and labelled them
    assert first["selected"] == first["labelled"] == 4 and first["failed"] == 0
    assert second["train_frames"] == 8 + 4 and "labelled" not in second and second["stop"]
    assert first["new_force_rmse"] > 0 and first["max_spread"] >= first["mean_spread"] > 0
    assert first["quantile_spread"] == first["max_spread"]      # the default quantile is the largest
    labelled = read(out / "iter_000" / "labelled.xyz", ":")
    assert [f.info["config_type"] for f in labelled] == ["learn"] * 4
    steps = sorted((f.info["md_run"], f.info["md_step"]) for f in labelled)
    for (r1, s1), (r2, s2) in zip(steps, steps[1:]):
        assert r1 != r2 or s2 - s1 >= 20               # --min-gap between picks of one run
    # the labels are the labeller's, not the committee's
    from ase.calculators.emt import EMT
    probe = labelled[0].copy()
    probe.calc = EMT()
    np.testing.assert_allclose(labelled[0].get_forces(), probe.get_forces(), atol=1e-10)

    data = read(out / "data.xyz", ":")
    assert len(data) == 12 and (out / "data_isolated_atoms.xyz").is_file()
    members = read_committee(out / "committee.json")
    assert [p.parent.name for p in members] == ["member_0", "member_1"]
    assert all(p.parent.parent.name == "iter_001" for p in members)
    atoms = data[-1].copy()
    atoms.calc = MolSymCalculator(out / "committee.json")
    atoms.get_forces()
    assert atoms.calc.results["max_force_std"] > 0
    assert (out / "model.pt").is_file() and (out / "learning.png").stat().st_size > 1000
    assert not list(out.rglob("*.ckpt"))                # a finished member keeps its model file only
    log = (out / "learn.log").read_text()
    assert "iteration 1: member 1/2 fine-tuned on 12 frames" in log and log.count("\n") == len(lines)
    assert json.loads((out / "state.json").read_text())["stopped"] == state["stopped"]


def test_a_test_set_is_scored_after_every_training(tmp_path, tiny_learn_config):
    from ase import Atoms
    from ase.calculators.emt import EMT
    from ase.io import write

    rng = np.random.default_rng(0)
    frames = []
    for _ in range(3):
        atoms = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]] + rng.normal(0, 0.05, (3, 3)))
        atoms.calc = EMT()
        atoms.get_forces()
        frames.append(atoms)
    test = tmp_path / "test.xyz"
    write(test, frames, format="extxyz")
    out = tmp_path / "run"
    state = learn(tiny_settings(out, tiny_learn_config, test=str(test)))
    for record in state["iterations"]:
        calc, diffs = MolSymCalculator(out / f"iter_{record['iteration']:03d}" / "committee.json", dtype="float64"), []
        for frame in read(test, ":"):
            ref = frame.get_forces()
            frame.calc = calc
            diffs.append(frame.get_forces() - ref)
        assert record["test_force_rmse"] == pytest.approx(np.sqrt(np.mean(np.concatenate(diffs) ** 2)), rel=1e-9)


def test_members_trained_in_parallel_processes_are_the_members_trained_one_after_another(tmp_path,
                                                                                          tiny_learn_config):
    import torch

    from molsym.calculator import load_force_field

    runs = {p: learn(tiny_settings(tmp_path / f"p{p}", tiny_learn_config, max_iterations=1, parallel=p))
            for p in (1, 2)}
    assert runs[1]["iterations"][0]["max_spread"] == runs[2]["iterations"][0]["max_spread"]
    for k in range(2):
        one, two = (load_force_field(tmp_path / f"p{p}" / "iter_000" / f"member_{k}" / "model.pt").state_dict()
                    for p in (1, 2))
        assert all(torch.equal(one[name], two[name]) for name in one)


def test_a_new_run_never_overwrites_an_earlier_one(tmp_path, tiny_learn_config):
    out = tmp_path / "run"
    learn(tiny_settings(out, tiny_learn_config, max_iterations=1))
    before = (out / "data.xyz").read_bytes()
    with pytest.raises(LearnError, match=r"earlier learn run .*--resume.*--force"):
        learn(tiny_settings(out, tiny_learn_config, max_iterations=1))
    assert (out / "data.xyz").read_bytes() == before
    (out / "mine.txt").write_text("a user's file")
    learn(tiny_settings(out, tiny_learn_config, max_iterations=1, seed=1), force=True)
    assert (out / "mine.txt").read_text() == "a user's file"
    assert read_state(out)["settings"]["seed"] == 1
    with pytest.raises(LearnError, match="no earlier learn run"):
        learn(tiny_settings(tmp_path / "empty", tiny_learn_config), resume=True)


def test_budgets_and_convergence_stop_the_loop(tmp_path, tiny_learn_config):
    state = learn(tiny_settings(tmp_path / "frames", tiny_learn_config, budget_frames=10, max_iterations=5))
    assert state["iterations"][0]["labelled"] == 2                 # 8 seed frames + 2 = the budget of 10
    assert state["stopped"] == "frame budget (10) spent" and len(state["iterations"]) == 2
    state = learn(tiny_settings(tmp_path / "easy", tiny_learn_config, threshold=1e3, max_iterations=5))
    assert state["stopped"] == "converged"
    last, *before = state["iterations"][::-1]
    assert last["fired"] == 0 and last["max_spread"] < 1e3
    # no spread reaches 1e3 eV/Å: the only frames picked are those where a watchdog fired
    assert all(r["selected"] == r["fired"] > 0 for r in before)


def test_the_spread_quantile_is_what_the_stopping_rule_compares(tmp_path, tiny_learn_config, monkeypatch):
    import molsym.learn.select as select

    seen = []
    real = select.converged
    monkeypatch.setattr(select, "converged", lambda c, t, q=1.0: seen.append((t, q)) or real(c, t, q))
    state = learn(tiny_settings(tmp_path / "q", tiny_learn_config, max_iterations=1, spread_quantile=0.5))
    spreads = [f.info["max_force_std"] for j in range(2)
               for f in read(tmp_path / "q" / "iter_000" / f"md_{j}.xyz", ":") if f.info["step"] > 0]
    record = state["iterations"][0]
    assert seen == [(1e-4, 0.5)]                                      # tiny_settings' threshold
    assert record["quantile_spread"] == pytest.approx(float(np.median(spreads)))
    assert record["quantile_spread"] < record["max_spread"]


def test_resume_after_a_kill_continues_at_the_interrupted_iteration(tmp_path, tiny_learn_config):
    out = tmp_path / "run"
    with pytest.raises(Killed):
        learn(tiny_settings(out, tiny_learn_config), extra_callbacks=[KillIn("iter_001/member_1", 2)])
    saved = read_state(out)
    assert len(saved["iterations"]) == 1 and saved["stopped"] is None
    kept = (out / "iter_001" / "member_0" / "model.pt").read_bytes()
    lines = []
    state = learn(tiny_settings(out, tiny_learn_config, max_iterations=None, threshold=None), resume=True,
                  report=lines.append)
    assert state["stopped"] == "max iterations (2) reached" and len(state["iterations"]) == 2
    assert state["iterations"][0] == saved["iterations"][0]
    assert (out / "iter_001" / "member_0" / "model.pt").read_bytes() == kept
    assert any("member 1/2 finished earlier, kept" in line for line in lines)
    assert len(read(out / "data.xyz", ":")) == 12

    # a stopped run goes on when resumed with a larger max_iterations
    state = learn(tiny_settings(out, tiny_learn_config, max_iterations=3, threshold=None), resume=True)
    assert len(state["iterations"]) == 3 and state["iterations"][1]["labelled"] == 4
    assert state["stopped"] == "max iterations (3) reached"
