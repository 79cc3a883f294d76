"""Every command loads models one way: a file that cannot be loaded is one line, exit 2.

`molsym md`, `check`, `eval` and `export` are run on broken copies of a real
model file and a real training checkpoint (truncated halves, text renamed
.pt, a pickle that would run code, a missing file); each must exit with code
2 and one stderr line that names the file, never a traceback.
"""
import os
import pickle
import sys
from pathlib import Path

import pytest
from ase.build import molecule
from ase.io import read, write

from molsym.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_tiny_data import tiny_config, write_lj_dataset  # noqa: E402


class RunsCode:
    """Unpickling this would create ``marker``: a file that tries to run code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real training checkpoint (one epoch, seconds) and the labelled CH4 file it learned."""
    from molsym.train import train

    folder = tmp_path_factory.mktemp("ckpt")
    data = write_lj_dataset(folder / "ch4.xyz", frames=8)
    result = train(tiny_config(data, folder / "run", max_epochs=1))
    return Path(result["last"]), data


@pytest.fixture(scope="module")
def broken(trained, model_file, tmp_path_factory):
    """name -> a file no command can load (and the marker a code-running pickle would create)."""
    ckpt, _ = trained
    folder = tmp_path_factory.mktemp("broken")
    model_bytes, ckpt_bytes = Path(model_file).read_bytes(), ckpt.read_bytes()
    files = {"truncated_model": folder / "half_model.pt", "text_pt": folder / "notes.pt",
             "truncated_ckpt": folder / "half.ckpt", "runs_code": folder / "evil.pt",
             "missing": folder / "missing.pt"}
    files["truncated_model"].write_bytes(model_bytes[: len(model_bytes) // 2])
    files["text_pt"].write_text("these are my notes, not a model\n")
    files["truncated_ckpt"].write_bytes(ckpt_bytes[: len(ckpt_bytes) // 2])
    with open(files["runs_code"], "wb") as fh:
        pickle.dump({"format": "molsym-force-field", "payload": RunsCode(folder / "code_ran")}, fh)
    return files, folder / "code_ran"


@pytest.fixture(scope="module")
def methane(tmp_path_factory):
    path = tmp_path_factory.mktemp("ch4") / "ch4.xyz"
    write(path, molecule("CH4"))
    return path


def command(name, model, methane, data, out):
    """The argument list of ``molsym <name>`` loading ``model``."""
    model = str(model)
    if name == "md":
        return ["md", "--model", model, "--atoms", str(methane), "--steps", "2", "--quiet",
                "--out", str(out / "t.extxyz")]
    if name == "md-committee":  # the bad file is the second member
        return ["md", "--model", "GOOD", model, "--atoms", str(methane), "--steps", "2", "--quiet",
                "--out", str(out / "t.extxyz")]
    if name == "check":
        return ["check", "--model", model, "--atoms", str(methane), "--trials", "1"]
    if name == "eval":
        return ["eval", "--model", model, "--data", str(data), "--out", str(out / "ev")]
    return ["export", model, "--out", str(out / "exported.pt")]


def assert_one_line_naming(err: str, path: Path) -> None:
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert str(path) in err and err.startswith("molsym ") and ": error: " in err


@pytest.mark.parametrize("cmd", ["md", "md-committee", "check", "eval", "export"])
@pytest.mark.parametrize("kind, says", [
    ("truncated_model", "truncated or corrupt"), ("text_pt", "not a file written by torch.save"),
    ("truncated_ckpt", "truncated or corrupt"), ("runs_code", "never unpickles"), ("missing", "no such")])
def test_a_file_that_cannot_be_loaded_is_one_line(cmd, kind, says, broken, trained, model_file, methane,
                                                  tmp_path, capsys):
    files, marker = broken
    args = [str(model_file) if a == "GOOD" else a
            for a in command(cmd, files[kind], methane, trained[1], tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert_one_line_naming(err, files[kind])
    assert says in err
    assert not marker.exists()  # the pickle's code never ran
    assert not (tmp_path / "exported.pt").exists() and not (tmp_path / "t.extxyz").exists()


@pytest.mark.parametrize("cmd", ["md", "check", "eval"])
def test_a_checkpoint_loads_wherever_a_model_file_does(cmd, trained, methane, tmp_path, capsys):
    ckpt, data = trained
    assert main(command(cmd, ckpt, methane, data, tmp_path) + (["--no-watchdog"] if cmd == "md" else [])) == 0
    capsys.readouterr()
    if cmd == "md":
        assert len(read(tmp_path / "t.extxyz", ":")) == 2  # steps 0 and 2 (the last)
