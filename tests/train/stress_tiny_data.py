"""A tiny periodic data set with stress labels: strained, rattled fcc Cu cells labelled by EMT."""
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write

#: Cutoff (Å) of :func:`cu_model`: below the 3.6 Å cube, above the 2.55 Å nearest-neighbour distance.
CU_CUTOFF = 3.0


def cu_images(frames: int = 5, seed: int = 0, stress_key: str = "stress") -> list:
    """Four-atom cubic Cu cells, each strained (±2 %) and rattled (0.05 Å), labelled with EMT.

    ``info["energy"]`` eV, ``arrays["forces"]`` eV/Å and ``info[stress_key]``
    (3x3, eV/Å³, ASE's sign) unless ``stress_key`` is None.
    """
    rng = np.random.default_rng(seed)
    images = []
    for k in range(frames):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        strain = rng.uniform(-0.02, 0.02, (3, 3))
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.5 * (strain + strain.T)), scale_atoms=True)
        atoms.rattle(0.05, seed=seed * 100 + k)
        atoms.calc = EMT()
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)
        atoms.calc = None
        atoms.info["energy"] = e
        atoms.arrays["forces"] = f
        if stress_key is not None:
            atoms.info[stress_key] = s
        images.append(atoms)
    return images


def write_cu_dataset(path: Path, frames: int = 5, seed: int = 0, stress_key: str = "stress") -> Path:
    """:func:`cu_images` as an extxyz file."""
    write(path, cu_images(frames, seed, stress_key), format="extxyz")
    return path


def cu_model(seed: int = 0):
    """A tiny random PaiNN force field for Cu (float64, cutoff :data:`CU_CUTOFF`)."""
    import torch

    from molsym.nn.model import build_model

    torch.manual_seed(seed)
    return build_model({"representation": {"name": "painn", "hidden": 8, "num_layers": 1},
                        "species": [29], "cutoff": CU_CUTOFF, "scale": 10.0, "dtype": "float64"})
