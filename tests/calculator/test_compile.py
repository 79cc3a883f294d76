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


def test_script_matches_eager_or_fails_clearly(acac, make_model):
    model = make_model(0).eval()
    graph = atoms_to_graph(acac, model.cutoff, torch.float64)
    try:
        scripted = compile_model(model, "script", example=graph)
    except CompileError as err:
        assert "'script'" in str(err) and "ForceField" in str(err) and err.__cause__ is not None
        return
    a, b = model(graph), scripted(graph, compute_forces=True, compute_stress=False)
    for key in ("energy", "forces", "node_energy"):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-12)


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
