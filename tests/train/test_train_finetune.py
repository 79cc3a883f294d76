"""Fine-tuning (``init:``): the run starts from the file's weights and statistics, counts its epochs from 0,
refits the E0s/scale/shift only when asked, and refuses a file whose architecture differs in one line."""
import copy

import pytest
import torch

from molsym.calculator import load_force_field
from molsym.data.collate import collate
from molsym.train import export_checkpoint, train
from molsym.train.config import ConfigError
from molsym.train.finetune import read_init_model
from molsym.train.run import build_datamodule, build_module, fit_shift
from molsym.train.schema import check_config

from train_kill import Killed, KillAt
from train_tiny_data import lj_images, tiny_config, write_lj_dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained for 2 epochs: (data file, model file, checkpoint)."""
    folder = tmp_path_factory.mktemp("init")
    data = write_lj_dataset(folder / "ch4.xyz")
    result = train(tiny_config(data, folder / "run", max_epochs=2), final_eval_frames=0)
    return data, export_checkpoint(result["best"], folder / "model.pt"), result["last"]


def _predict(model, frames):
    out = model.eval()(collate(frames))
    return out["energy"].detach(), out["forces"].detach()


def _init_config(data, out, model, **init):
    cfg = tiny_config(data, out, max_epochs=1)
    cfg["init"] = {"model": str(model), **init}
    return cfg


@pytest.mark.parametrize("source", ["model", "checkpoint"])
def test_before_training_the_model_is_the_files(trained, tmp_path, source):
    data, model_file, ckpt = trained
    path = model_file if source == "model" else ckpt
    cfg = _init_config(write_lj_dataset(tmp_path / "new.xyz", seed=5), tmp_path / "ft", path)
    dm = build_datamodule(cfg)
    module = build_module(cfg, dm.statistics, dm.train_dataset)
    reference = load_force_field(path)
    frames = [dm.train_dataset[i] for i in range(6)]
    e_ref, f_ref = _predict(reference, frames)
    for model in (module.model, module.averaged_model):
        energy, forces = _predict(model, frames)
        torch.testing.assert_close(energy, e_ref, rtol=0, atol=0)
        torch.testing.assert_close(forces, f_ref, rtol=0, atol=0)
    assert module.model.e0s == reference.e0s and module.model.scale == reference.scale
    assert module.model.shift == reference.shift


def test_a_fine_tuning_run_is_new(trained, tmp_path):
    """Fresh epoch counter, optimizer and schedule: one epoch after init is epoch 1, step 5, the config's rate."""
    data, model_file, ckpt = trained
    assert torch.load(ckpt, weights_only=True)["global_step"] == 10
    cfg = _init_config(data, tmp_path / "ft", ckpt)
    cfg["optimizer"]["init_args"]["lr"] = 0.003
    result = train(cfg, final_eval_frames=0)
    last = torch.load(result["last"], weights_only=True)
    assert last["epoch"] == 1 and last["global_step"] == 5          # 20 frames, batch 4: 5 steps per epoch
    assert last["optimizer_states"][0]["param_groups"][0]["lr"] == 0.003
    assert last["optimizer_states"][0]["state"][0]["step"] == 5
    # it trained: the weights moved away from the file's
    start = read_init_model(ckpt)[1]
    moved = {k: v for k, v in result["module"].model.state_dict().items() if v.is_floating_point()}
    assert any(not torch.equal(v, start[k].to(v.dtype)) for k, v in moved.items())


def test_statistics_are_kept_or_refitted(trained, tmp_path):
    data, model_file, _ = trained
    new = write_lj_dataset(tmp_path / "new.xyz", seed=7)
    file_cfg, weights = read_init_model(model_file)
    kept = _init_config(new, tmp_path / "keep", model_file)
    refit = _init_config(new, tmp_path / "refit", model_file, refit=True)
    dm = build_datamodule(refit)
    m_keep = build_module(kept, dm.statistics, dm.train_dataset).model
    m_refit = build_module(refit, dm.statistics, dm.train_dataset).model
    assert (m_keep.scale, m_keep.shift, m_keep.e0s) == (file_cfg["scale"], file_cfg["shift"], file_cfg["e0s"])
    assert m_refit.scale == pytest.approx(dm.statistics["force_rms"])
    cfg_refit = m_refit.to_config()
    assert m_refit.shift == pytest.approx(fit_shift(dict(cfg_refit, shift=0.0), dm.train_dataset, weights=weights))
    assert m_refit.shift != file_cfg["shift"] and m_refit.avg_num_neighbors == file_cfg["avg_num_neighbors"]
    for k, v in m_refit.state_dict().items():  # refitting changes the statistics, never the weights
        if k in weights:
            torch.testing.assert_close(v, weights[k].to(v.dtype), rtol=0, atol=0)


@pytest.mark.parametrize("change, key", [
    (lambda cfg: cfg["model"].update(cutoff=2.5), "model.cutoff"),
    (lambda cfg: cfg["model"]["representation"].update(hidden=16), "model.representation.hidden"),
    (lambda cfg: cfg["model"]["representation"].update(num_basis=4), "model.representation.num_basis"),
    (lambda cfg: cfg["model"].update(head_hidden=8), "model.head_hidden"),
])
def test_an_architecture_mismatch_is_one_line(trained, tmp_path, change, key):
    data, model_file, _ = trained
    cfg = _init_config(data, tmp_path / "ft", model_file)
    change(cfg)
    with pytest.raises(ConfigError, match=rf"^init\.model: .*model\.pt has {key.replace('.', '[.]')} = ") as err:
        train(cfg)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "ft" / "checkpoints").exists()


def test_other_species_are_refused(trained, tmp_path):
    from ase.io import write

    data, model_file, _ = trained
    frames = lj_images(12, seed=2)
    for atoms in frames:
        atoms.symbols[0] = "Si"
    write(tmp_path / "sih4.xyz", frames, format="extxyz")
    cfg = _init_config(tmp_path / "sih4.xyz", tmp_path / "ft", model_file)
    with pytest.raises(ConfigError, match=r"trained on the species \[H, C\], this run's model has \[H, Si\]"):
        train(cfg)


def test_unreadable_files_and_config_keys(trained, tmp_path):
    data, model_file, _ = trained
    with pytest.raises(ConfigError, match=r"^init\.model: .*missing\.pt: no such"):
        train(_init_config(data, tmp_path / "a", tmp_path / "missing.pt"))
    cfg = copy.deepcopy(tiny_config(data, tmp_path / "b"))
    cfg["init"] = {"model": "m.pt", "refti": True}
    with pytest.raises(ConfigError, match=r"unknown config key 'init\.refti' \(did you mean 'refit'\?\)"):
        check_config(cfg)
    cfg["init"] = {"refit": True}
    with pytest.raises(ConfigError, match=r"'init\.model' is missing"):
        check_config(cfg)
    cfg["init"] = {"model": "m.pt", "refit": "yes please"}
    with pytest.raises(ConfigError, match=r"'init\.refit': 'yes please' is not a boolean"):
        check_config(cfg)


def test_a_killed_fine_tuning_run_resumes_without_its_init_file(trained, tmp_path):
    """The resumed run takes the model config (the file's statistics) from its checkpoint: the init file
    may be gone and the config may lack the init section, and it ends as an uninterrupted run."""
    data, model_file, _ = trained
    copy_of_file = tmp_path / "start.pt"
    copy_of_file.write_bytes(model_file.read_bytes())
    new = write_lj_dataset(tmp_path / "new.xyz", seed=9)
    ref = train(_init_config(new, tmp_path / "ref", copy_of_file) | {"seed": 5}, final_eval_frames=0)

    cfg = _init_config(new, tmp_path / "killed", copy_of_file) | {"seed": 5}
    cfg["checkpoint"]["every_n_train_steps"] = 2
    with pytest.raises(Killed):
        train(cfg, extra_callbacks=[KillAt(3)])
    copy_of_file.unlink()
    del cfg["init"]
    resumed = train(cfg, resume="last", final_eval_frames=0)
    assert resumed["trainer"].global_step == ref["trainer"].global_step == 5
    assert resumed["module"].model.to_config() == ref["module"].model.to_config()
    state = resumed["module"].state_dict()
    for k, v in ref["module"].state_dict().items():
        if k.startswith(("model.", "ema.")):
            torch.testing.assert_close(state[k], v, rtol=0, atol=1e-12, msg=k)
