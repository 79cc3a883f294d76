"""Fixtures for the MD tests: a broken potential (the tiny model file is in tests/conftest.py)."""
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes


@pytest.fixture
def water() -> Atoms:
    return Atoms("OHH", [[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])


class Harmonic(Calculator):
    """Springs between every pair at their starting length, times ``k`` (eV/Å²).

    ``k > 0`` is a stable toy potential; ``k < 0`` pushes every pair apart
    (a deliberately broken model); ``lie`` scales the returned energy, so
    forces and energy disagree and NVE energy drifts.
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, reference, k=5.0, lie=1.0):
        super().__init__()
        self.ref = reference.positions.copy()
        self.k, self.lie = k, lie

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        pos = self.atoms.positions
        d0 = np.linalg.norm(self.ref[:, None] - self.ref[None], axis=-1)
        vec = pos[:, None] - pos[None]
        d = np.linalg.norm(vec, axis=-1)
        np.fill_diagonal(d, 1.0)
        stretch = d - d0
        np.fill_diagonal(stretch, 0.0)
        energy = 0.25 * self.k * (stretch ** 2).sum()
        forces = -(self.k * stretch / d)[..., None] * vec
        self.results = {"energy": self.lie * energy, "forces": forces.sum(axis=1)}


@pytest.fixture
def harmonic():
    return Harmonic
