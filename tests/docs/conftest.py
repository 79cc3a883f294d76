"""The folder a documentation page runs in, and the small files its examples name.

Every page runs in its own temporary folder. Three links make paths written
"from the repository root" work there: ``configs/``, ``scripts/`` and
``molsym/`` (for ``molsym/resources/*.pt``). :data:`PAGE_FILES` says which
other files a page's examples read, and the providers below make them with
molsym itself (nothing is downloaded):

``ethanol_xtb.xyz``
    60 GFN2-xTB frames of ethanol at 500 K and ``ethanol_xtb_isolated_atoms.xyz``
    beside it (``molsym.data.generate``, a few seconds; once per session).
``model.pt``
    a PaiNN force field (16 features, one layer) trained for 5 epochs on those
    frames with ``molsym.train``: small, but it holds ethanol together for the
    short MD runs of the docs.
``start.xyz``, ``molecule.xyz``
    the first of those frames, positions only.
``train.xyz``, ``isolated_atoms.xyz`` (readers.md)
    the ethanol frames with their labels also under ``REF_energy`` /
    ``REF_forces``, and the isolated atoms.
``acac``
    ``train_300K.xyz`` and ``isolated_atoms.xyz`` linked from
    ``../shared/data/acac``; the page is skipped when that folder is absent.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]

#: repository folders linked into every page's folder
REPO_LINKS = ("configs", "scripts", "molsym")

#: files each page's examples read, beyond what the page makes itself
PAGE_FILES = {
    "README.md": ("model.pt", "molecule.xyz"),
    "docs/calculator.md": ("model.pt", "start.xyz"),
    "docs/data.md": ("acac", "ethanol_xtb.xyz"),
    "docs/readers.md": ("train.xyz", "isolated_atoms.xyz"),
    "docs/symmetry.md": ("model.pt", "molecule.xyz"),
}


@pytest.fixture(scope="session")
def doc_cache(tmp_path_factory) -> Path:
    """``$MOLSYM_CACHE`` and ``$MOLSYM_CACHE_DIR`` of every page: QM9 is converted once per session."""
    return tmp_path_factory.mktemp("doc_cache")


@pytest.fixture(scope="session")
def doc_ethanol(tmp_path_factory) -> Path:
    """``ethanol_xtb.xyz`` (60 GFN2-xTB frames at 500 K) with its isolated-atom file beside it."""
    from molsym.data.generate import generate_dataset

    path = tmp_path_factory.mktemp("doc_ethanol") / "ethanol_xtb.xyz"
    generate_dataset("CCO", path, frames=60, stride=10, equilibration_steps=200, seed=0, progress=False)
    return path


@pytest.fixture(scope="session")
def doc_model(doc_ethanol, tmp_path_factory) -> Path:
    """A small PaiNN model trained for a few seconds on :func:`doc_ethanol`."""
    from molsym.train import export_checkpoint, train

    out = tmp_path_factory.mktemp("doc_model")
    cfg = {
        "seed": 0, "dtype": "float64", "cutoff": 4.0, "output_dir": str(out),
        "data": {"class_path": "molsym.data.datamodule.MolDataModule",
                 "init_args": {"train": str(doc_ethanol), "cutoff": 4.0, "batch_size": 8,
                               "split": {"val": 10, "test": 0, "seed": 0}, "e0s": "isolated",
                               "dtype": "float64"}},
        "model": {"representation": {"name": "painn", "hidden": 16, "num_layers": 1},
                  "cutoff": 4.0, "scale": "auto", "shift": "auto"},
        "loss": [{"key": "energy", "fn": "mse", "weight": 1.0, "per_atom": True},
                 {"key": "forces", "fn": "mse", "weight": 100.0}],
        "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01, "amsgrad": True}},
        "ema_decay": 0.9,
        "checkpoint": {"monitor": "val/loss"},
        "trainer": {"max_epochs": 5, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False,
                    "enable_model_summary": False, "num_sanity_val_steps": 0, "log_every_n_steps": 1},
    }
    result = train(cfg)
    return export_checkpoint(result["best"], out / "model.pt")


def _positions_only(source: Path, dest: Path) -> None:
    from ase import Atoms
    from ase.io import read, write

    atoms = read(source, 0)
    write(dest, Atoms(numbers=atoms.numbers, positions=atoms.positions))


def _provide(name: str, folder: Path, request) -> None:
    """Write the file (or files) ``name`` of :data:`PAGE_FILES` into ``folder``."""
    from ase.io import read, write

    if name == "acac":
        acac = request.getfixturevalue("shared_data") / "acac"   # skips the test when absent
        for file in ("train_300K.xyz", "isolated_atoms.xyz"):
            (folder / file).symlink_to(acac / file)
        return
    ethanol = request.getfixturevalue("doc_ethanol")
    isolated = ethanol.with_name("ethanol_xtb_isolated_atoms.xyz")
    if name == "model.pt":
        shutil.copy(request.getfixturevalue("doc_model"), folder / name)
    elif name in ("start.xyz", "molecule.xyz"):
        _positions_only(ethanol, folder / name)
    elif name == "ethanol_xtb.xyz":
        shutil.copy(ethanol, folder / name)
        shutil.copy(isolated, folder / isolated.name)
    elif name == "isolated_atoms.xyz":
        shutil.copy(isolated, folder / name)
    elif name == "train.xyz":
        frames = read(ethanol, ":")
        for atoms in frames:
            atoms.info["REF_energy"] = atoms.get_potential_energy()
            atoms.arrays["REF_forces"] = atoms.get_forces().copy()
        write(folder / name, frames, format="extxyz")
    else:
        raise KeyError(f"no provider for {name!r} (PAGE_FILES in tests/docs/conftest.py)")


def _registries():
    """The registries that doc examples add to: representations and labelling methods."""
    from molsym.data.generate import METHODS
    from molsym.nn.representations import REGISTRY

    return [REGISTRY, METHODS]


def _made_by_a_page(value) -> bool:
    """Whether ``value`` (a class, or a Method through its calculator) was defined by a doc example."""
    owner = getattr(value, "calculator", value)
    return str(getattr(owner, "__module__", "")).startswith("__doc_")


def _restore(registry: dict, before: dict) -> None:
    """Undo what doc examples did to ``registry``; entries that modules registered on import stay."""
    for key, value in list(registry.items()):
        if key in before:
            registry[key] = before[key]
        elif _made_by_a_page(value):
            del registry[key]


@pytest.fixture
def doc_workdir(request, tmp_path, monkeypatch):
    """``prepare(page)``: a fresh folder with the links and files ``page`` needs, made the working directory.

    Afterwards the representations and labelling methods the examples
    registered are removed, and torch's thread count and default dtype restored.
    """
    saved = [(registry, dict(registry)) for registry in _registries()]
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()

    def prepare(page: str) -> Path:
        folder = tmp_path / "work"
        folder.mkdir()
        for link in REPO_LINKS:
            (folder / link).symlink_to(ROOT / link, target_is_directory=True)
        for name in PAGE_FILES.get(page, ()):
            _provide(name, folder, request)
        cache = request.getfixturevalue("doc_cache")
        monkeypatch.setenv("MOLSYM_CACHE_DIR", str(cache))
        monkeypatch.setenv("MOLSYM_CACHE", str(cache))
        monkeypatch.setenv("MPLBACKEND", "Agg")
        monkeypatch.chdir(folder)
        return folder

    yield prepare
    for registry, before in saved:
        _restore(registry, before)
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)
