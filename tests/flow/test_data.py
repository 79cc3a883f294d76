"""Graph records (RDKit-perceived bonds and charges), dense batches, size buckets and the data module."""
import ase
import ase.io
import numpy as np
import pytest
import torch

from molsym.data.errors import DataError
from molsym.flow import BOND_CLASSES, FlowDataModule, collate_graphs, graph_records, molecule_graph
from molsym.flow.data import size_bucketed_batches
from molsym.generate import GeneratedMolecule, graph_atom_stability

from conftest import embedded


@pytest.mark.parametrize("kekulize", [True, False])
def test_benzene_bonds(kekulize):
    z, pos = embedded("c1ccccc1")
    charges, bonds = molecule_graph(z, pos, kekulize=kekulize)
    carbons = np.nonzero(z == 6)[0]
    ring = bonds[np.ix_(carbons, carbons)]
    if kekulize:
        assert sorted(np.bincount(ring[ring > 0])[1:].tolist()) == [6, 6]  # 3 single + 3 double, both ways
        assert BOND_CLASSES.index("aromatic") not in bonds
        assert graph_atom_stability(GeneratedMolecule(z, pos, charges, bonds)).all()
    else:
        assert (ring[ring > 0] == BOND_CLASSES.index("aromatic")).sum() == 12
    assert np.array_equal(bonds, bonds.T) and np.all(np.diag(bonds) == 0)


def test_zwitterion_charges_and_valences():
    z, pos = embedded("[NH3+]CC(=O)[O-]")
    charges, bonds = molecule_graph(z, pos)
    assert sorted(charges.tolist())[0] == -1 and sorted(charges.tolist())[-1] == 1
    assert charges.sum() == 0
    assert graph_atom_stability(GeneratedMolecule(z, pos, charges, bonds)).all()


def test_records_skip_unperceivable_and_refuse_unknown_elements():
    good = dict(zip(("atomic_numbers", "pos"), embedded("CC#N")))
    far = {"atomic_numbers": np.array([6, 6]), "pos": np.array([[0.0, 0, 0], [5.0, 0, 0]])}  # two C radicals
    records, skipped = graph_records([good, far], [1, 6, 7, 8, 9])
    assert len(records) + skipped == 2 and len(records) >= 1
    assert set(records[0]) == {"atomic_numbers", "pos", "charges", "bonds"}
    with pytest.raises(DataError, match="frame 0.*elements \\[7\\]"):
        graph_records([good], [1, 6], source="mols.xyz")


def test_collate_pads_centres_and_indexes():
    frames = [dict(zip(("atomic_numbers", "pos"), embedded(s))) for s in ("C", "CCO")]
    records, _ = graph_records(frames, [1, 6, 8])
    b = collate_graphs(records, [1, 6, 8], torch.float64)
    assert b["pos"].shape == (2, 9, 3) and b["bonds"].shape == (2, 9, 9)
    assert b["mask"].sum(1).tolist() == [5, 9] and b["num_atoms"].tolist() == [5, 9]
    assert b["pos"][0, 5:].abs().max() == 0 and b["bonds"][0, 5:].abs().max() == 0
    assert b["pos"].sum(1).abs().max() < 1e-10
    assert b["types"][0, :5].tolist().count(1) == 1  # one carbon (index 1 of [1, 6, 8])
    assert torch.equal(b["bonds"][1, :9, :9], torch.as_tensor(records[1]["bonds"], dtype=torch.long))


def test_size_buckets_cover_everything_once_and_pad_little():
    rng = np.random.default_rng(0)
    sizes = rng.integers(3, 30, size=1000)
    batches = size_bucketed_batches(sizes, 16, seed=1, pool=8)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    spread = np.mean([sizes[b].max() - sizes[b].min() for b in batches])
    assert spread < 4  # random batches of 16 would span ~20 atoms
    assert batches != size_bucketed_batches(sizes, 16, seed=2, pool=8)


def test_datamodule_on_an_extxyz_file_and_its_cache(tmp_path):
    smiles = ["CCO", "CC#N", "O=CO", "CCC", "C=CC", "CO", "CN", "OCC=O", "CC(C)O", "C1CC1", "N#CC#N", "CC=O"]
    frames = [ase.Atoms(numbers=z, positions=p) for z, p in (embedded(s) for s in smiles)]
    path = tmp_path / "mols.xyz"
    ase.io.write(path, frames, format="extxyz")
    dm = FlowDataModule(species=[1, 6, 7, 8], source="extxyz", path=str(path), batch_size=3,
                        cache_dir=str(tmp_path / "cache"), dtype="float64")
    dm.setup("fit")
    stats = dm.statistics
    assert stats["num_train"] == len(dm.records["train"]) and len(stats["num_atoms"]) == stats["num_train"]
    batch = next(iter(dm.train_dataloader()))
    assert batch["pos"].dtype == torch.float64 and batch["pos"].shape[0] <= 3
    assert len(list(tmp_path.joinpath("cache").glob("*.npz"))) == 2
    again = FlowDataModule(species=[1, 6, 7, 8], source="extxyz", path=str(path), batch_size=3,
                           cache_dir=str(tmp_path / "cache"))
    again.setup("fit")  # read from the cache
    for a, b in zip(dm.records["train"], again.records["train"]):
        assert all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="path"):
        FlowDataModule(source="extxyz")
