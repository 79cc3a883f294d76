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
    with pytest.raises(CompileError, match="already TorchScript"):
        MolSymCalculator(str(path), compile="compile")


@pytest.mark.slow
def test_torch_compile_matches_eager_through_the_calculator(model_file, acac):
    """Minutes of Inductor compilation on a 2-core machine: run with `make test-slow`."""
    eager = MolSymCalculator(model_file)
    compiled = MolSymCalculator(model_file, compile="compile")
    for step in range(3):
        acac.positions[0, 0] += 0.05
        acac.calc = eager
        e0, f0 = acac.get_potential_energy(), acac.get_forces()
        acac.calc = compiled
        e1, f1 = acac.get_potential_energy(), acac.get_forces()
        assert abs(e0 - e1) < 1e-10
        np.testing.assert_allclose(f0, f1, atol=1e-10)
