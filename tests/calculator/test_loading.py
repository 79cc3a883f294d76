"""load_force_field: any molsym model file by its content; every failure one ModelFileError line."""
import numpy as np
import pytest
import torch

from molsym.calculator import MolSymCalculator, load_force_field
from molsym.nn.io import ModelFileError


def fake_checkpoint(model, path):
    """A dict shaped like a molsym Lightning checkpoint (hyper-parameters + prefixed weights)."""
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    state.update({f"ema.module.{k}": v + 1e-3 if v.is_floating_point() else v for k, v in model.state_dict().items()})
    torch.save({"hyper_parameters": {"model": model.to_config()}, "state_dict": state, "epoch": 3,
                "global_step": 12}, path)
    return path


def test_files_are_told_apart_by_content_not_name(tmp_path, model_file, make_model, acac):
    """A model file named .ckpt and a checkpoint named .pt both load (the checkpoint's EMA weights)."""
    renamed = tmp_path / "model.ckpt"
    renamed.write_bytes(model_file.read_bytes())
    ckpt = fake_checkpoint(make_model(0), tmp_path / "ckpt.pt")
    plain, as_ckpt, from_ckpt = (load_force_field(p) for p in (model_file, renamed, ckpt))
    assert not from_ckpt.training and from_ckpt.cutoff == plain.cutoff
    ema = make_model(0).state_dict()
    for k, v in from_ckpt.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, ema[k] + 1e-3, rtol=0, atol=0)
    energies = []
    for model in (plain, as_ckpt):
        acac.calc = MolSymCalculator(model)
        energies.append(acac.get_potential_energy())
    assert energies[0] == energies[1]
    assert load_force_field(model_file, dtype="float32").dtype == torch.float32


def test_every_failure_is_one_line_naming_the_file(tmp_path, model_file, make_model):
    payload = torch.load(model_file, weights_only=True)
    wrong = tmp_path / "wrong_weights.pt"
    state = dict(payload["state_dict"])
    state.pop(next(iter(state)))
    torch.save({**payload, "state_dict": state}, wrong)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    bad_ckpt = fake_checkpoint(make_model(0), tmp_path / "bad.ckpt")
    raw = torch.load(bad_ckpt, weights_only=True)
    raw["hyper_parameters"]["model"]["representation"]["hidden"] = 5  # weights no longer fit
    torch.save(raw, bad_ckpt)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    cases = {wrong: "weights do not match", other: "neither a molsym model file", bad_ckpt: "do not match",
             empty: "empty", tmp_path: "no such"}
    for path, says in cases.items():
        with pytest.raises(ModelFileError) as info:
            load_force_field(path)
        message = str(info.value)
        assert message.startswith(str(path)) and says in message and "\n" not in message, message


def test_committee_with_one_bad_member_names_it(tmp_path, committee_files, acac):
    bad = tmp_path / "m_bad.pt"
    data = committee_files[1].read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"m_bad\.pt: .*truncated"):
        MolSymCalculator([committee_files[0], bad, committee_files[2]])
    acac.calc = MolSymCalculator(committee_files)  # the good ones still make a committee
    assert np.isfinite(acac.get_potential_energy())
