"""Tiny labelled data and configs shared by the training and CLI tests."""
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.lj import LennardJones
from ase.io import write


def lj_images(frames: int = 24, seed: int = 0, forces: bool = True) -> list:
    """Perturbed methane-like CH4 frames labelled with a Lennard-Jones potential (eV, Å).

    ``info["energy"]`` always, ``arrays["forces"]`` only with ``forces``.
    """
    rng = np.random.default_rng(seed)
    base = np.array([[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63],
                     [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]]) * 1.6
    images = []
    for _ in range(frames):
        atoms = Atoms("CH4", positions=base + rng.normal(scale=0.08, size=base.shape))
        atoms.calc = LennardJones(sigma=1.2, epsilon=0.05, rc=4.0, smooth=True)
        e, f = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = None
        atoms.info["energy"] = e
        if forces:
            atoms.arrays["forces"] = f
        images.append(atoms)
    return images


def write_lj_dataset(path: Path, frames: int = 24, seed: int = 0, forces: bool = True) -> Path:
    """:func:`lj_images` as an extxyz file (without force columns unless ``forces``)."""
    write(path, lj_images(frames, seed, forces), format="extxyz")
    return path


def write_lj_energies_db(path: Path, frames: int = 12, seed: int = 0) -> Path:
    """:func:`lj_images` as an ASE database holding energies and no forces (a single-point calculator)."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.db import connect

    with connect(path, append=False) as db:
        for atoms in lj_images(frames, seed, forces=False):
            atoms.calc = SinglePointCalculator(atoms, energy=atoms.info.pop("energy"))
            db.write(atoms)
    return path


def tiny_config(data: Path, out: Path, **trainer) -> dict:
    """A resolved config for a seconds-long EGNN run on ``data``."""
    return {
        "seed": 3,
        "dtype": "float64",
        "cutoff": 3.0,
        "output_dir": str(out),
        "data": {"class_path": "molsym.data.datamodule.MolDataModule",
                 "init_args": {"train": str(data), "cutoff": 3.0, "batch_size": 4,
                               "split": {"val": 4, "test": 0, "seed": 0}, "e0s": None,
                               "dtype": "float64", "cache_dir": str(out / "cache")}},
        "model": {"representation": {"name": "egnn", "hidden": 8, "num_layers": 1},
                  "cutoff": 3.0, "scale": "auto", "shift": "auto"},
        "loss": [{"key": "energy", "fn": "mse", "weight": 1.0, "per_atom": True},
                 {"key": "forces", "fn": "mse", "weight": 10.0}],
        "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01, "amsgrad": True}},
        "scheduler": {"class_path": "torch.optim.lr_scheduler.ReduceLROnPlateau",
                      "init_args": {"factor": 0.5, "patience": 2}, "monitor": "val/loss"},
        "ema_decay": 0.9,
        "checkpoint": {"monitor": "val/loss"},
        "trainer": {"max_epochs": 2, "accelerator": "cpu", "devices": 1, "gradient_clip_val": 10.0,
                    "enable_progress_bar": False, "log_every_n_steps": 1, "enable_model_summary": False,
                    "num_sanity_val_steps": 0, **trainer},
    }


#: Small organic molecules (H, C, N, O) for the generator tests.
SMILES = ["CCO", "CC#N", "O=CO", "CCC", "C=CC", "CO", "CN", "OCC=O", "CC(C)O", "C1CC1", "N#CC#N", "CC=O",
          "NCCO", "C#CC", "OC=O", "CC(N)=O", "COC", "C=O", "NC=O", "CCN"]


def write_molecules(path: Path) -> Path:
    """MMFF-relaxed RDKit conformers (explicit H) of :data:`SMILES` as an extxyz file."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    frames = []
    for s in SMILES:
        mol = Chem.AddHs(Chem.MolFromSmiles(s))
        AllChem.EmbedMolecule(mol, randomSeed=0)
        AllChem.MMFFOptimizeMolecule(mol)
        frames.append(Atoms(numbers=[a.GetAtomicNum() for a in mol.GetAtoms()],
                            positions=mol.GetConformer().GetPositions()))
    write(path, frames, format="extxyz")
    return path
