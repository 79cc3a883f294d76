"""The EDM generator on the one trainer: `molsym train` config → checkpoints → resume → exported file → samples.

Also generator files: round trip, foreign files, and the shipped format-version-1 file.
"""
import sys
from pathlib import Path

import ase
import ase.io
import numpy as np
import pytest
import torch

from molsym.data.errors import DataError
from molsym.diffusion import EquivariantDiffusion
from molsym.generate import GeneratedMolecule, export_generator_checkpoint, load_generator, save_generator
from molsym.train import train
from molsym.train.run import is_generator_config

from diffusion_helpers import embedded, random_batch, tiny_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_kill import Killed, KillAt, states as _states  # noqa: E402

SMILES = ["CCO", "CC=O", "C#N", "CO", "CC", "C=C", "OCC=O", "CN", "CCC", "NCCO", "COC", "CC#N", "C=CC", "OC=O",
          "CCN", "NC=O"]
SHIPPED = Path(__file__).resolve().parents[2] / "molsym" / "resources" / "qm9_edm_cpu.pt"


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


def edm_config(path, out, conditions=(), max_epochs=3):
    conditions = list(conditions)
    return {
        "seed": 0, "dtype": "float64", "output_dir": str(out),
        "data": {"class_path": "molsym.diffusion.DiffusionDataModule",
                 "init_args": {"species": [1, 6, 7, 8], "source": "extxyz", "path": str(path),
                               "formal_charges": "rdkit", "conditions": conditions, "batch_size": 4,
                               "dtype": "float64"}},
        "model": {"class_path": "molsym.diffusion.EquivariantDiffusion",
                  "init_args": {"species": [1, 6, 7, 8], "atom_counts": "auto", "T": 20, "conditions": conditions,
                                "denoiser": {"hidden": 8, "num_layers": 1}}},
        "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 1e-3, "amsgrad": True}},
        "ema_decay": 0.9,
        "ema_warmup": False,
        "generator": {"val_samples": 3, "val_steps": 4},
        "checkpoint": {"monitor": "val/loss", "every_n_train_steps": 2},
        "trainer": {"max_epochs": max_epochs, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False,
                    "log_every_n_steps": 1, "enable_model_summary": False},
    }


def test_molsym_train_trains_resumes_bit_for_bit_and_exports(molecule_file, tmp_path):
    cfg = edm_config(molecule_file, tmp_path / "ref")
    assert is_generator_config(cfg)
    ref = train(cfg)
    module, dm = ref["module"], ref["datamodule"]
    steps = ref["trainer"].global_step
    num_train = dm.statistics["num_train"]
    assert steps == 3 * -(-num_train // 4)  # every training molecule, in batches of 4, for 3 epochs
    for key in ("val/loss", "val/loss_pos", "val/loss_types", "val/loss_charges", "val/nll_given_n",
                "val/mol_stable_dist", "train/loss_pos"):
        assert np.isfinite(ref["metrics"][key]), key
    parts = sum(ref["metrics"][f"val/loss_{k}"] for k in ("pos", "types", "charges"))
    assert parts == pytest.approx(ref["metrics"]["val/loss"], rel=1e-9)
    model = module.averaged_model
    assert isinstance(model, EquivariantDiffusion) and next(model.parameters()).dtype == torch.float64
    assert torch.equal(model.atom_counts.counts, torch.bincount(dm.statistics["num_atoms"]).double())

    # a run killed mid-way and resumed from its last checkpoint ends where the uninterrupted one did
    killed = edm_config(molecule_file, tmp_path / "killed")
    with pytest.raises(Killed):
        train(killed, extra_callbacks=[KillAt(steps - 3)])
    resumed = train(killed, resume="last")
    assert resumed["trainer"].global_step == steps
    a, b = _states(module), _states(resumed["module"])
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-12, msg=k)

    # the exported EMA generator is the module's averaged model and samples molecules
    out = export_generator_checkpoint(ref["last"], tmp_path / "gen.pt", extra={"note": "x"})
    assert torch.load(out, weights_only=True)["state_dict"]["denoiser.embed.weight"].dtype == torch.float64
    loaded, extra = load_generator(out)  # float32, the default
    assert extra["weights"] == "ema" and extra["global_step"] == steps and extra["note"] == "x"
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v.to(loaded.state_dict()[k].dtype), rtol=0, atol=0, msg=k)
    batch = random_batch((4, 5), dtype=torch.float32)
    noise = loaded.sample_noise(batch["batch"], 2, torch.float32, torch.Generator().manual_seed(0)) * 2
    t = torch.tensor([3, 9])
    torch.testing.assert_close(loaded.nll(batch, t, noise)["nll"],
                               model.float().nll(batch, t, noise)["nll"])
    model.double()
    mols = loaded.sample_molecules(5, steps=4, generator=torch.Generator().manual_seed(0), batch_size=2)
    assert len(mols) == 5 and all(isinstance(m, GeneratedMolecule) and m.bonds is None for m in mols)
    assert {m.num_atoms for m in mols} <= set(torch.nonzero(model.atom_counts.counts).view(-1).tolist())
    assert set(np.concatenate([m.atomic_numbers for m in mols]).tolist()) <= {1, 6, 7, 8}
    assert np.isfinite(np.concatenate([m.pos for m in mols])).all()


def test_conditional_generator_takes_its_scales_and_sizes_from_the_data(molecule_file, tmp_path):
    cfg = edm_config(molecule_file, tmp_path / "cond", conditions=["alpha"], max_epochs=1)
    result = train(cfg)
    alpha = result["datamodule"].statistics["condition"][:, 0]
    sizes = result["datamodule"].statistics["num_atoms"]
    model = result["module"].averaged_model
    assert model.conditions == ["alpha"]
    torch.testing.assert_close(model.condition_mean.double(), alpha.mean().view(1))
    torch.testing.assert_close(model.condition_mad.double(), (alpha - alpha.mean()).abs().mean().view(1))
    joint = model.atom_counts.joint
    assert joint.shape[0] == 20 and float(joint.sum()) == len(alpha)  # p(N | c) over 20 property bins
    torch.testing.assert_close(joint.sum(0), torch.bincount(sizes, minlength=joint.shape[1]).to(joint.dtype))
    # the hyper-parameters stay plain types: the checkpoint loads with weights_only=True, and exports
    ckpt = torch.load(result["last"], map_location="cpu", weights_only=True)
    assert isinstance(ckpt["hyper_parameters"]["model"]["init_args"]["atom_counts"]["joint"], list)
    loaded, _ = load_generator(export_generator_checkpoint(result["last"], tmp_path / "gen.pt"))
    assert torch.equal(loaded.atom_counts.joint, joint.float())
    small = loaded.sample_molecules(2, steps=3, condition=[float(alpha.min())],
                                    generator=torch.Generator().manual_seed(0))
    assert len(small) == 2


def test_model_and_data_conditions_must_agree(molecule_file, tmp_path):
    cfg = edm_config(molecule_file, tmp_path / "bad", conditions=["alpha"])
    cfg["data"]["init_args"]["conditions"] = []
    with pytest.raises(ValueError, match="conditions"):
        train(cfg)


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


def test_shipped_format_version_1_file_still_loads_and_samples():
    payload = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    assert payload["format_version"] == 1 and "class_path" not in payload
    model, extra = load_generator(SHIPPED)
    assert isinstance(model, EquivariantDiffusion) and model.T == payload["config"]["T"]
    assert model.atom_counts.counts.sum() == extra["data"]["num_train"]
    for k, v in payload["state_dict"].items():
        torch.testing.assert_close(model.state_dict()[k], v.to(model.state_dict()[k].dtype), msg=k)
    mols = model.sample_molecules(3, steps=5, generator=torch.Generator().manual_seed(0))
    assert len(mols) == 3 and np.isfinite(np.concatenate([m.pos for m in mols])).all()
    assert set(np.concatenate([m.atomic_numbers for m in mols]).tolist()) <= set(model.species)
