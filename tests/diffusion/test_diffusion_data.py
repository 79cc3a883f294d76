"""DiffusionDataModule: split, statistics, batches, cache and errors (on a small extxyz file)."""
import ase
import ase.io
import numpy as np
import pytest
import torch

from molsym.data.errors import DataError
from molsym.diffusion import DiffusionDataModule, qm9_split

from diffusion_helpers import embedded

SMILES = ["CCO", "CC=O", "C#N", "CO", "CC", "C=C", "OCC=O", "CN", "CCC", "NCCO", "COC", "CC#N", "C=CC", "OC=O"]


@pytest.fixture(scope="module")
def molecule_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "mols.xyz"
    frames = []
    for i, smi in enumerate(SMILES):
        z, pos = embedded(smi)
        atoms = ase.Atoms(numbers=z, positions=pos)
        atoms.info["gap"] = 1.0 + 0.5 * i
        frames.append(atoms)
    ase.io.write(path, frames, format="extxyz")
    return path


def _module(path, **kwargs):
    args = dict(species=[1, 6, 7, 8], source="extxyz", path=str(path), batch_size=3, dtype="float64")
    args.update(kwargs)
    dm = DiffusionDataModule(**args)
    dm.setup("fit")
    return dm


def test_split_statistics_and_batches_follow_the_file(molecule_file):
    frames = ase.io.read(molecule_file, index=":")
    dm = _module(molecule_file, conditions=["gap"], subset={"train": 7})
    split = qm9_split(len(frames), seed=0)
    expected = [frames[i] for i in split["train"][:7]]
    stats = dm.statistics
    assert stats["num_train"] == 7 and stats["conditions"] == ["gap"]
    assert stats["num_atoms"].tolist() == [len(a) for a in expected]
    assert stats["condition"].dtype == torch.float64
    assert stats["condition"][:, 0].tolist() == [a.info["gap"] for a in expected]
    assert len(dm.val_dataset) == len(split["val"])

    loader = dm.train_dataloader()  # what molsym train rewraps
    assert loader.batch_size == 3 and loader.num_workers == 0 and len(loader.dataset) == 7
    batch = loader.collate_fn([loader.dataset[i] for i in range(3)])
    n = batch["num_atoms"]
    assert batch["pos"].dtype == torch.float64 and batch["pos"].shape == (int(n.sum()), 3)
    assert batch["condition"].shape == (3, 1)
    assert torch.equal(batch["batch"], torch.repeat_interleave(torch.arange(3), n))
    assert torch.equal(torch.tensor([1, 6, 7, 8])[batch["types"]], batch["atomic_numbers"])
    assert batch["charges"].abs().max() == 0  # neutral closed-shell molecules: RDKit perceives no charges
    first = expected[0]
    np.testing.assert_allclose(batch["pos"][: len(first)].numpy(), first.positions)
    assert next(iter(dm.val_dataloader()))["num_atoms"].shape[0] == min(3, len(split["val"]))


def test_cache_reproduces_the_records(molecule_file, tmp_path):
    a = _module(molecule_file, conditions=["gap"], cache_dir=str(tmp_path / "cache"))
    files = sorted((tmp_path / "cache").glob("edm_*.npz"))
    assert [f.name.split("_")[1] for f in files] == ["train", "val"]
    b = _module(molecule_file, conditions=["gap"], cache_dir=str(tmp_path / "cache"))
    for split in ("train", "val"):
        assert len(a.records[split]) == len(b.records[split])
        for ra, rb in zip(a.records[split], b.records[split]):
            assert ra.keys() == rb.keys()
            for key in ra:
                np.testing.assert_array_equal(ra[key], rb[key])
    # another argument that changes the records gets another cache entry
    _module(molecule_file, conditions=[], cache_dir=str(tmp_path / "cache"))
    assert len(list((tmp_path / "cache").glob("edm_*.npz"))) == 4


def test_bad_arguments_and_data_are_named(molecule_file, tmp_path):
    with pytest.raises(ValueError, match="source"):
        DiffusionDataModule(source="sdf")
    with pytest.raises(ValueError, match="path"):
        DiffusionDataModule(source="extxyz")
    with pytest.raises(ValueError, match="formal_charges"):
        DiffusionDataModule(source="extxyz", path="x.xyz", formal_charges="guess")
    with pytest.raises(DataError, match="not among the model species"):
        _module(molecule_file, species=[1, 6, 8])
    with pytest.raises(DataError, match="property"):
        _module(molecule_file, conditions=["alpha"])
