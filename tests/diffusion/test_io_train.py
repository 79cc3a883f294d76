"""Generator files and the config-driven training entry point, end to end on a tiny set."""
import ase
import ase.io
import pytest
import torch
import yaml

from molsym.data.errors import DataError
from molsym.diffusion import sample
from molsym.diffusion.io import load_generator, save_generator
from molsym.diffusion.train import main as train_main

from diffusion_helpers import embedded, random_batch, tiny_model

SMILES = ["CCO", "CC=O", "C#N", "CO", "CC", "C=C", "OCC=O", "CN"]


@pytest.fixture(scope="module")
def molecule_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("mols") / "mols.xyz"
    frames = []
    for i, smi in enumerate(SMILES):
        z, pos = embedded(smi)
        atoms = ase.Atoms(numbers=z, positions=pos)
        atoms.info["alpha"] = 10.0 + 2 * i
        frames.append(atoms)
    ase.io.write(path, frames, format="extxyz")
    return path


def test_save_load_roundtrip(tmp_path):
    model = tiny_model(conditions=("alpha",))
    path = save_generator(model, tmp_path / "g.pt", extra={"note": "x"})
    loaded, extra = load_generator(path, dtype=torch.float64)
    assert extra == {"note": "x"} and loaded.conditions == ["alpha"]
    b = random_batch((4, 5), conditions=1)
    t = torch.tensor([3, 9])
    noise = model.sample_noise(b["batch"], 2, torch.float64, torch.Generator().manual_seed(0)) * 2
    assert torch.allclose(model.nll(b, t, noise)["nll"], loaded.nll(b, t, noise)["nll"])
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_loading_a_foreign_file_names_it(tmp_path):
    bad = tmp_path / "ff.pt"
    torch.save({"format": "molsym-model"}, bad)
    with pytest.raises(DataError, match="ff.pt.*not a molsym generator"):
        load_generator(bad)
    with pytest.raises(FileNotFoundError):
        load_generator(tmp_path / "missing.pt")


@pytest.mark.parametrize("conditions", [[], ["alpha"]])
def test_train_from_config_exports_a_working_generator(tmp_path, molecule_file, conditions):
    config = {
        "data": {"source": "extxyz", "path": str(molecule_file), "split_seed": 0, "formal_charges": "rdkit"},
        "model": {"species": [1, 6, 7, 8], "T": 20, "conditions": conditions,
                  "denoiser": {"hidden": 8, "num_layers": 1}},
        "training": {"batch_size": 2, "lr": 1e-3, "ema_decay": 0.9, "max_epochs": 2, "accelerator": "cpu",
                     "devices": 1, "enable_progress_bar": False, "enable_model_summary": False,
                     "log_every_n_steps": 1},
        "output": {"dir": str(tmp_path / "run"), "model": str(tmp_path / "run" / "gen.pt")},
    }
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(config))
    assert train_main([str(cfg)]) == 0
    model, extra = load_generator(tmp_path / "run" / "gen.pt")
    assert extra["data"]["num_train"] >= 5 and extra["global_step"] > 0
    assert model.conditions == conditions
    assert model.atom_counts.counts.sum() == extra["data"]["num_train"]
    cond = torch.tensor([[12.0], [12.0]]) if conditions else None
    out = sample(model, torch.tensor([4, 6]), steps=5, condition=cond, generator=torch.Generator().manual_seed(0))
    assert out["pos"].shape == (10, 3) and torch.isfinite(out["pos"]).all()
