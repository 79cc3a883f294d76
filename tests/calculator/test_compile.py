"""Compiled inference paths give the eager numbers, or fail with a clear CompileError."""
import numpy as np
import pytest
import torch

from molsym.calculator import CompileError, MolSymCalculator, compile_model
from molsym.data.graph import atoms_to_graph



def test_eager_is_the_model_itself(make_model):
    model = make_model(0)
    assert compile_model(model, None) is model and compile_model(model, "eager") is model


def test_unknown_mode_is_refused(make_model):
    with pytest.raises(ValueError, match="unknown compile mode 'jit'"):
        compile_model(make_model(0), "jit")


@pytest.mark.parametrize("name", ["painn", "ace"])
@pytest.mark.parametrize("zbl", [False, True])
def test_script_matches_eager(acac, name, zbl):
    """TorchScript runs the eager model's own code: same energies, forces and stress."""
    from molsym.nn.model import build_model

    torch.manual_seed(0)
    rep = {"name": name, "hidden": 8, "num_layers": 1} if name == "painn" else {"name": name, "channels": 4}
    model = build_model({"representation": rep, "species": [1, 6, 8], "cutoff": 4.0, "scale": 0.1,
                         "shift": -0.3, "e0s": {1: -13.6, 6: -1029.0, 8: -2041.0}, "zbl": zbl,
                         "dtype": "float64"}).eval()
    model.species_offset.data.normal_()
    acac.set_cell(np.eye(3) * 9.0)
    acac.pbc = True
    graph = atoms_to_graph(acac, model.cutoff, torch.float64)
    scripted = compile_model(model, "script", example=graph)
    assert isinstance(scripted, torch.jit.ScriptModule)
    a = model(graph, compute_stress=True)
    b = scripted(graph, compute_forces=True, compute_stress=True)
    assert a["forces"].abs().max() > 1e-3
    for key in ("energy", "node_energy", "forces", "stress"):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-12)
    graph["atomic_numbers"] = graph["atomic_numbers"].clone()
    graph["atomic_numbers"][2] = 7
    with pytest.raises(Exception, match=r"atomic number 7 is not among the model's species \[1, 6, 8\]"):
        scripted(graph, compute_forces=True, compute_stress=False)


def test_calculator_runs_a_script_file_like_the_eager_one(acac, make_model, tmp_path):
    from molsym.calculator.compile import METADATA, save_compiled

    model = make_model(0).eval()
    path = save_compiled(compile_model(model, "script"), tmp_path / "m.pt", {METADATA: "{}"})
    eager, scripted = MolSymCalculator(model), MolSymCalculator(str(path))
    assert scripted.cutoffs == eager.cutoffs and scripted.species == eager.species
    for calc in (eager, scripted):
        acac.calc = calc
        calc.out = (acac.get_potential_energy(), acac.get_forces().copy())
    assert abs(eager.out[0] - scripted.out[0]) < 1e-10
    np.testing.assert_allclose(eager.out[1], scripted.out[1], rtol=0, atol=1e-10)
    from molsym.calculator import load_force_field
    loaded = MolSymCalculator(load_force_field(path))  # a loaded TorchScript module (not deep-copied)
    acac.calc = loaded
    assert abs(acac.get_potential_energy() - scripted.out[0]) < 1e-12
    again = MolSymCalculator(str(path), compile="script")  # a script file is kept as it is
    assert isinstance(again._runners[0], torch.jit.ScriptModule)


def test_calculator_script_matches_eager_along_a_trajectory(acac, make_model):
    """compile='script' in the calculator: the eager ACE energies and forces at every step, float64."""
    model = make_model(0, name="ace").eval()
    eager, scripted = MolSymCalculator(model), MolSymCalculator(model, compile="script")
    assert isinstance(scripted._runners[0], torch.jit.ScriptModule)
    for step in range(3):
        acac.positions[step] += 0.05
        results = []
        for calc in (eager, scripted):
            acac.calc = calc
            results.append((acac.get_potential_energy(), acac.get_forces().copy()))
        assert np.abs(results[0][1]).max() > 1e-3
        assert abs(results[0][0] - results[1][0]) < 1e-10
        np.testing.assert_allclose(results[0][1], results[1][1], rtol=0, atol=1e-10)


def _assert_removed_line(text):
    assert "torch.compile" in text and "was removed" in text and "compile='script'" in text
    assert "100 s" in text and "\n" not in text.rstrip("\n")


def test_torch_compile_is_refused_with_the_reason(make_model, tmp_path):
    """The removed torch.compile path: one line with the measurement, before any model is loaded."""
    from molsym.calculator.compile import TORCH_COMPILE_REMOVED

    _assert_removed_line(TORCH_COMPILE_REMOVED)
    for call in (lambda: compile_model(make_model(0), "compile"),
                 lambda: MolSymCalculator(make_model(0), compile="compile"),
                 lambda: MolSymCalculator(str(tmp_path / "missing.pt"), compile="compile")):
        with pytest.raises(CompileError) as info:
            call()
        assert str(info.value) == TORCH_COMPILE_REMOVED


@pytest.fixture
def ethanol(ethanol_start):
    return ethanol_start


@pytest.mark.parametrize("command", ["md", "export"])
def test_cli_refuses_torch_compile_in_one_line(command, model_file, ethanol, tmp_path, capsys):
    """`molsym md|export --compile compile`: exit 2, the reason in one line, no traceback, nothing written."""
    from molsym.calculator.compile import TORCH_COMPILE_REMOVED
    from molsym.cli.main import main

    out = tmp_path / "out.extxyz"
    argv = {"md": ["md", "--model", str(model_file), "--atoms", str(ethanol), "--steps", "2", "--quiet"],
            "export": ["export", str(tmp_path / "run.ckpt")]}[command]
    assert main(argv + ["--out", str(out), "--compile", "compile"]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"molsym {command}: error: {TORCH_COMPILE_REMOVED}\n"
    assert not out.exists()


def _runner_that_fails_when_called(model):
    def runner(batch, compute_forces=True, compute_stress=False):
        raise RuntimeError("boom at run time\nsecond line")
    return runner


def test_a_failing_compile_fails_at_construction(make_model, model_file, ethanol, tmp_path, monkeypatch,
                                                 capsys):
    """A compiled model that fails only when run is caught by the calculator, not at the first MD step."""
    import molsym.calculator.compile as compile_module
    from molsym.cli.main import main

    monkeypatch.setattr(compile_module, "_script", _runner_that_fails_when_called)
    line = "compile mode 'script' failed for ForceField: RuntimeError: boom at run time"
    with pytest.raises(CompileError, match=line):
        MolSymCalculator(make_model(0), compile="script")
    out = tmp_path / "traj.extxyz"
    assert main(["md", "--model", str(model_file), "--atoms", str(ethanol), "--steps", "2", "--quiet",
                 "--out", str(out), "--compile", "script"]) == 2
    assert capsys.readouterr().err == f"molsym md: error: {line}\n" and not out.exists()
