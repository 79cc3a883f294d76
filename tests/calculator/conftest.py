"""Fixtures: small randomly initialised molsym models saved with save_model."""
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms

from molsym.nn.io import save_model
from molsym.nn.model import build_model

E0S = {1: -13.6, 6: -1029.0, 8: -2041.0}


def small_model(seed: int = 0, dtype: str = "float64", name: str = "painn", cutoff: float = 4.0):
    """A tiny random force field on H, C, O (weights from ``seed``)."""
    torch.manual_seed(seed)
    rep = {"name": name, "hidden": 8, "num_layers": 1} if name == "painn" else {"name": name}
    return build_model({"representation": rep, "species": [1, 6, 8], "cutoff": cutoff,
                        "e0s": E0S, "scale": 0.1, "dtype": dtype})


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    return save_model(small_model(0), tmp_path_factory.mktemp("models") / "model.pt")


@pytest.fixture(scope="session")
def committee_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("committee")
    return [save_model(small_model(s), folder / f"m{s}.pt") for s in (1, 2, 3)]


@pytest.fixture
def acac() -> Atoms:
    """Acetylacetone-like C5H8O2 (15 atoms), a fixed, slightly distorted geometry."""
    return _acac()


def _acac() -> Atoms:
    # enol acetylacetone built from idealised coordinates, then rattled
    symbols = "CCCCCOOHHHHHHHH"
    pos = np.array([
        [-2.49, -0.43, 0.00], [-1.22, 0.36, 0.00], [0.00, -0.29, 0.00], [1.22, 0.36, 0.00],
        [2.49, -0.43, 0.00], [-1.24, 1.66, 0.00], [1.24, 1.66, 0.00], [0.00, 2.05, 0.00],
        [0.00, -1.37, 0.00], [-3.36, 0.23, 0.00], [-2.52, -1.08, 0.88], [-2.52, -1.08, -0.88],
        [3.36, 0.23, 0.00], [2.52, -1.08, 0.88], [2.52, -1.08, -0.88]])
    atoms = Atoms(symbols, pos)
    atoms.rattle(0.02, seed=3)
    return atoms


@pytest.fixture
def make_model():
    """The :func:`small_model` factory, for tests that need a ForceField object."""
    return small_model
