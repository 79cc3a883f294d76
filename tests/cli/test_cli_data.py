"""`molsym data inspect|pack|generate` through molsym.cli.main.main, with capsys."""
import argparse

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from molsym.cli.main import build_parser, main
from molsym.data.store import GraphStore

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



GOOD_FRAME = """3
Properties=species:S:1:pos:R:3:forces:R:3 energy=-2070.5 pbc="F F F"
O 0.0 0.0 0.0 0.1 0.0 0.0
H 0.96 0.0 0.0 -0.1 0.0 0.0
H -0.24 0.93 0.0 0.0 0.0 0.0
"""


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_inspect_file(tmp_path, capsys):
    src = write_xyz(tmp_path / "d.xyz", n=6)
    code, out, err = _run(capsys, "data", "inspect", str(src))
    assert code == 0, err
    assert "frames: 6" in out and "3 isolated-atom" in out
    assert "CH4O × 3" in out and "H2O × 3" in out
    assert "energy [eV]" in out and "forces [eV/Å]" in out and "energy after E0 [eV/atom]" in out
    assert "E0s [eV]: H: -13.600000, C: -1029.500000, O: -2041.900000" in out
    assert "broken frames: none" in out


def test_pack_then_inspect_store(tmp_path, capsys):
    src = write_xyz(tmp_path / "d.xyz", n=6)
    out_path = tmp_path / "d.h5"
    code, out, err = _run(capsys, "data", "pack", str(src), "--out", str(out_path), "--cutoff", "3.5", "--quiet")
    assert code == 0, err
    store = GraphStore(out_path)
    assert len(store) == 6 and store.stored_cutoff == 3.5
    code, out, err = _run(capsys, "data", "inspect", str(out_path))
    assert code == 0 and "store:" in out and "frames: 6" in out and "E0s [eV]: H" in out
    assert "average neighbours within 3.5 Å" in out
    # refusing to overwrite without --overwrite; replacing with it
    code, _, err = _run(capsys, "data", "pack", str(src), "--out", str(out_path))
    _one_line_error(code, err, "d.h5", "--overwrite")
    code, out, err = _run(capsys, "data", "pack", str(src), "--out", str(out_path), "--overwrite", "--cutoff", "2")
    assert code == 0 and "wrote 6 frames" in out and GraphStore(out_path).stored_cutoff == 2.0


def test_inspect_lists_every_broken_frame(tmp_path, capsys):
    nan = GOOD_FRAME.replace("energy=-2070.5", "energy=nan")
    close = GOOD_FRAME.replace("H 0.96 0.0 0.0", "H 0.05 0.0 0.0")
    short = GOOD_FRAME.replace("3\n", "4\n", 1)
    bad = tmp_path / "bad.xyz"
    bad.write_text(GOOD_FRAME + nan + GOOD_FRAME + close + short + GOOD_FRAME)
    code, out, err = _run(capsys, "data", "inspect", str(bad))
    assert code == 1
    assert "broken frames: 3" in out
    assert "frame 1:" in out and "frame 3:" in out and "frame 4:" in out
    assert "non-finite" in out and "apart" in out and "atom count says 4" in out
    assert "frames: 3" in out  # the readable frames are still summarised


@pytest.mark.parametrize("content,needle", [
    (GOOD_FRAME + GOOD_FRAME.replace("3\n", "5\n", 1), "frame 1"),                          # wrong atom count
    (GOOD_FRAME + GOOD_FRAME.replace("0.96 0.0 0.0", "0.96 abc 0.0"), "frame 1"),             # non-numeric
    (GOOD_FRAME + GOOD_FRAME.replace("energy=-2070.5", "energy=inf"), "frame 1"),              # inf
    (GOOD_FRAME + GOOD_FRAME.replace("H -0.24", "Xx -0.24"), "frame 1"),                       # unknown element
    (GOOD_FRAME + GOOD_FRAME.replace("H 0.96 0.0 0.0", "H 0.01 0.0 0.0"), "frame 1"),          # too close
    ("", "bad.xyz"),                                                                           # empty file
])
def test_pack_bad_input_is_one_line_and_leaves_no_store(tmp_path, capsys, content, needle):
    bad = tmp_path / "bad.xyz"
    bad.write_text(content)
    out_path = tmp_path / "s.h5"
    code, _, err = _run(capsys, "data", "pack", str(bad), "--out", str(out_path), "--quiet")
    _one_line_error(code, err, "bad.xyz", needle)
    assert not out_path.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.xyz"]


def test_pack_missing_requested_key(tmp_path, capsys):
    src = write_xyz(tmp_path / "d.xyz", n=3)
    code, _, err = _run(capsys, "data", "pack", str(src), "--out", str(tmp_path / "s.h5"),
                        "--energy-key", "REF_energy", "--quiet")
    _one_line_error(code, err, "d.xyz", "frame 0", "REF_energy")
    assert not (tmp_path / "s.h5").exists()


def test_pack_npz_with_mismatched_shapes(tmp_path, capsys):
    bad = tmp_path / "md17.npz"
    np.savez(bad, nuclear_charges=np.array([8, 1, 1]), coords=np.zeros((4, 3, 3)),
             energies=np.zeros(5), forces=np.zeros((4, 3, 3)))
    code, _, err = _run(capsys, "data", "pack", str(bad), "--out", str(tmp_path / "s.h5"), "--quiet")
    _one_line_error(code, err, "md17.npz")
    assert not (tmp_path / "s.h5").exists()


def test_inspect_missing_file_and_not_a_store(tmp_path, capsys):
    code, _, err = _run(capsys, "data", "inspect", str(tmp_path / "nope.xyz"))
    _one_line_error(code, err, "nope.xyz", "not found")
    import h5py
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["a"] = np.zeros(2)
    code, _, err = _run(capsys, "data", "inspect", str(tmp_path / "x.h5"))
    _one_line_error(code, err, "x.h5", "not a molsym store")


def _data_parser():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["data"]


def test_every_flag_has_help():
    data = _data_parser()
    sub = next(a for a in data._actions if isinstance(a, argparse._SubParsersAction))
    assert {"inspect", "pack"} <= set(sub.choices)
    for name in ("inspect", "pack"):
        for action in sub.choices[name]._actions:
            assert action.help, (name, action.dest)


def test_generate_subcommand_is_wired(capsys):
    pytest.importorskip("molsym.cli.data_generate")
    with pytest.raises(SystemExit) as exc:
        main(["data", "generate", "--help"])
    assert exc.value.code == 0 and "--smiles" in capsys.readouterr().out


def test_data_without_action_prints_help(capsys):
    code, out, _ = _run(capsys, "data")
    assert code == 1 and "inspect" in out and "pack" in out
