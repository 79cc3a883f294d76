"""Shared fixtures. Tests run on one thread: the machine has two cores."""
import importlib.util
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

#: The project's shared benchmark data (../shared/data beside the repo).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture
def load_script():
    """``load_script("name")`` imports ``scripts/name.py`` as a module."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


@pytest.fixture
def shared_data() -> Path:
    """Path to ../shared/data; skips the test with a reason when it is absent."""
    if not (SHARED_DATA / "acac" / "train_300K.xyz").exists():
        pytest.skip(f"shared benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def ethanol_start(tmp_path) -> Path:
    """``start.xyz``: ASE's ethanol geometry, positions only (a start for MD and the CLI)."""
    from ase.build import molecule
    from ase.io import write

    path = tmp_path / "start.xyz"
    write(path, molecule("CH3CH2OH"))
    return path


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request):
    """Run a test in both precisions."""
    return request.param


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    """A tiny random PaiNN model file (H, C, O; float64) for MD and CLI tests."""
    from molsym.nn.io import save_model
    from molsym.nn.model import build_model

    torch.manual_seed(0)
    model = build_model({"representation": {"name": "painn", "hidden": 8, "num_layers": 1},
                         "species": [1, 6, 8], "cutoff": 4.0, "scale": 0.01, "dtype": "float64"})
    return save_model(model, tmp_path_factory.mktemp("md") / "model.pt")
