"""MolDataModule: splits, E0s, statistics (cached), dataloaders, stores, Lightning."""
import json

import ase.io
import lightning as L
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

import molsym.data.datamodule as dmod
from molsym.data import keys as K
from molsym.data.datamodule import MolDataModule
from molsym.data.dataset import load_frames
from molsym.data.errors import DataError
from molsym.data.statistics import compute_statistics, fit_e0s_lstsq
from molsym.data.store import pack

E0 = {1: -13.6, 6: -1029.5, 8: -2041.9}


def write_xyz(path, n=12, seed=0, isolated=True):
    """A small labelled extxyz (water-like and methanol-like molecules), plus isolated atoms."""
    rng = np.random.default_rng(seed)
    images = []
    for k in range(n):
        z = [8, 1, 1] if k % 2 else [6, 8, 1, 1, 1, 1]
        pos = np.arange(len(z))[:, None] * np.array([1.0, 0.4, 0.2]) + rng.normal(0, 0.1, (len(z), 3))
        a = Atoms(numbers=z, positions=pos)
        a.calc = SinglePointCalculator(a, energy=sum(E0[i] for i in z) + rng.normal(),
                                       forces=rng.normal(size=(len(z), 3)))
        images.append(a)
    if isolated:
        for z, e in E0.items():
            a = Atoms(numbers=[z], positions=[[0, 0, 0]])
            a.info["config_type"] = "isolated_atom"
            a.calc = SinglePointCalculator(a, energy=e)
            images.append(a)
    ase.io.write(path, images, format="extxyz")
    return path



def test_split_saved_beside_data_and_reused(tmp_path):
    src = write_xyz(tmp_path / "d.xyz", n=20)
    dm = MolDataModule(src, cutoff=3.0, batch_size=4, split={"val": 0.25, "test": 3, "seed": 1})
    dm.setup()
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (12, 5, 3)
    files = list(tmp_path.glob("d.split-*.json"))
    assert len(files) == 1
    doc = json.loads(files[0].read_text())
    assert doc["n"] == 20 and sorted(doc["train"] + doc["val"] + doc["test"]) == list(range(20))
    # a saved split is reused as it is, even if it was edited by hand
    doc["val"], doc["train"] = doc["train"][:5], sorted(doc["train"][5:] + doc["val"])
    files[0].write_text(json.dumps(doc))
    dm2 = MolDataModule(src, cutoff=3.0, batch_size=4, split={"val": 0.25, "test": 3, "seed": 1})
    dm2.setup()
    assert list(dm2.val_dataset.indices) == doc["val"]
    assert dm2.statistics["num_frames"] == 12


def test_statistics_on_training_split_with_isolated_e0s(tmp_path):
    src = write_xyz(tmp_path / "d.xyz", n=20)
    dm = MolDataModule(src, cutoff=3.0, split={"val": 0.2, "seed": 0})
    dm.setup()
    frames, _, _ = load_frames(src)
    train = [frames[i] for i in dm.split["train"]]
    expected = compute_statistics(train, E0, 3.0)
    assert dm.statistics == expected and dm.e0s() == E0
    for key in ("e0s", "species", "mean_energy_per_atom", "force_rms", "avg_num_neighbors"):
        assert key in dm.statistics


def test_statistics_cached_and_reused(tmp_path, monkeypatch):
    src = write_xyz(tmp_path / "d.xyz", n=10)
    first = MolDataModule(src, cutoff=3.0)
    first.setup()
    assert len(list(tmp_path.glob("d.stats-*.json"))) == 1
    monkeypatch.setattr(dmod, "compute_statistics", lambda *a, **k: pytest.fail("recomputed"))
    again = MolDataModule(src, cutoff=3.0)
    again.setup()
    assert again.statistics == first.statistics
    # another cutoff is another statistic
    with pytest.raises(pytest.fail.Exception):
        MolDataModule(src, cutoff=2.5).setup()


@pytest.mark.parametrize("spec", ["lstsq", "dict", None])
def test_e0_modes(tmp_path, spec):
    src = write_xyz(tmp_path / "d.xyz", n=16)
    e0s = {1: -1.0, 6: -2.0, 8: -3.0} if spec == "dict" else spec
    dm = MolDataModule(src, cutoff=3.0, e0s=e0s)
    dm.setup()
    frames, _, _ = load_frames(src)
    train = [frames[i] for i in dm.split["train"]]
    want = {"lstsq": fit_e0s_lstsq(train), "dict": e0s, None: {}}[spec]
    assert dm.statistics["e0s"] == pytest.approx(want)


def test_isolated_e0s_missing_is_an_error(tmp_path):
    src = write_xyz(tmp_path / "d.xyz", n=6, isolated=False)
    with pytest.raises(DataError, match="no isolated-atom frames"):
        MolDataModule(src, cutoff=3.0, e0s="isolated").setup()


def test_dataloaders_cover_the_splits(tmp_path, dtype):
    src = write_xyz(tmp_path / "d.xyz", n=20)
    dm = MolDataModule(src, cutoff=3.0, batch_size=4, val_batch_size=3, split={"val": 5, "seed": 2},
                       dtype=str(dtype).replace("torch.", ""))
    dm.setup()
    train = list(dm.train_dataloader())
    assert len(train) == 4 and sum(b[K.NUM_ATOMS].numel() for b in train) == 15
    val = list(dm.val_dataloader())
    assert [b[K.NUM_ATOMS].numel() for b in val] == [3, 2]
    frames, _, _ = load_frames(src)
    energies = sorted(float(e) for b in val for e in b[K.ENERGY])
    assert energies == pytest.approx(sorted(float(frames[i]["energy"]) for i in dm.split["val"]))
    b = train[0]
    assert b[K.POS].dtype == dtype and b[K.BATCH].max().item() == 3 and b[K.EDGE_INDEX].shape[0] == 2
    assert dm.test_dataloader() == []


def test_separate_val_and_test_files(tmp_path):
    tr, va, te = (write_xyz(tmp_path / f"{n}.xyz", n=k, seed=k) for n, k in (("tr", 8), ("va", 4), ("te", 2)))
    dm = MolDataModule(tr, val=va, test=te, cutoff=3.0)
    dm.setup()
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (8, 4, 2)
    assert not list(tmp_path.glob("*.split-*.json"))


@pytest.mark.parametrize("e0s", ["isolated", "lstsq", None])
def test_store_source_gives_same_statistics_and_batches(tmp_path, e0s):
    src = write_xyz(tmp_path / "d.xyz", n=12)
    store = pack([src], tmp_path / "d.h5", cutoff=3.0, progress=False)
    a = MolDataModule(src, cutoff=3.0, split={"val": 3, "seed": 0}, e0s=e0s)
    b = MolDataModule(store, cutoff=3.0, split={"val": 3, "seed": 0}, e0s=e0s, num_workers=int(e0s is None))
    a.setup()
    b.setup()
    assert np.array_equal(a.split["val"], b.split["val"])
    for key, value in a.statistics.items():
        if key == "e0s":
            assert sorted(b.statistics[key]) == sorted(value)
            assert list(b.statistics[key].values()) == pytest.approx(list(value.values()), abs=1e-6)
        else:
            assert b.statistics[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    va, vb = next(iter(a.val_dataloader())), next(iter(b.val_dataloader()))
    for k in va:
        assert torch.equal(va[k], vb[k]), k


def test_read_only_data_uses_cache_dir(tmp_path, monkeypatch):
    src = write_xyz(tmp_path / "d.xyz", n=8)
    monkeypatch.setattr(dmod, "sidecar_dir", lambda paths, cache_dir=None: tmp_path / "cache")
    dm = MolDataModule(src, cutoff=3.0)
    dm.setup()
    assert list((tmp_path / "cache").glob("d.split-*.json")) and not list(tmp_path.glob("d.split-*"))


class _Tiny(L.LightningModule):
    """Fits per-element energies: enough to drive the DataModule through a Trainer."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(119, dtype=torch.float64))

    def training_step(self, batch, _):
        e = torch.zeros_like(batch[K.ENERGY]).index_add(0, batch[K.BATCH], self.w[batch[K.ATOMIC_NUMBERS]])
        return ((e - batch[K.ENERGY]) ** 2).mean()

    def validation_step(self, batch, _):
        self.log("val", float(batch[K.ENERGY].mean()), batch_size=len(batch[K.ENERGY]))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-3)


def test_lightning_trainer_runs(tmp_path):
    dm = MolDataModule(write_xyz(tmp_path / "d.xyz", n=10), cutoff=3.0, batch_size=4)
    trainer = L.Trainer(max_steps=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path)
    trainer.fit(_Tiny(), datamodule=dm)
    assert trainer.global_step == 3 and dm.statistics is not None


def test_shared_data_acac(shared_data, tmp_path):
    dm = MolDataModule([shared_data / "acac" / "train_300K.xyz", shared_data / "acac" / "isolated_atoms.xyz"],
                       cutoff=5.0, cache_dir=tmp_path, split={"val": 50, "seed": 0})
    dm.setup()
    s = dm.statistics
    assert s["species"] == [1, 6, 8] and s["num_frames"] == 450 and sorted(s["e0s"]) == [1, 6, 8]
    assert 0.5 < s["force_rms"] < 3 and 8 < s["avg_num_neighbors"] < 15
