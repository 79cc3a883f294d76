"""Fixtures of the training tests: a tiny labelled file (seconds on one core)."""
from pathlib import Path

import pytest

from train_tiny_data import write_lj_dataset, write_molecules


@pytest.fixture
def lj_data(tmp_path) -> Path:
    """Path of a 24-frame labelled extxyz file in a temporary folder."""
    return write_lj_dataset(tmp_path / "ch4_lj.xyz")


@pytest.fixture(scope="session")
def molecules_file(tmp_path_factory) -> Path:
    """An extxyz file of 20 small organic molecules (generator tests)."""
    return write_molecules(tmp_path_factory.mktemp("gen") / "mols.xyz")
