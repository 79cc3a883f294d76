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


# ------------------------------------------------------------- directories and QM9 (.xyz, GDB format)
def _qm9_molecule(gdb=1, symbol="C", u0="-40.47893"):
    """One molecule as the QM9 archive writes it: count, 'gdb' + 15 properties, 5-column atoms, ..."""
    props = ["157.7118", "157.70997", "157.70699", "0.", "13.21", "-0.3877", "0.1171", "0.5048",
             "35.3641", "0.044749", u0, "-40.476062", "-40.475117", "-40.498597", "6.469"]
    atoms = [(symbol, "-0.0126981359", "1.0858041578", "0.0080009958", "-0.535689"),
             ("H", "0.002150416", "-0.0060313176", "0.0019761204", "0.133921"),
             ("H", "1.0117308433", "1.4637511618", "0.0002765748", "0.133922"),
             ("H", "-0.540815069", "1.4475266138", "-0.8766437152", "0.133923"),
             ("H", "-0.5238136345", "1.4379326443", "0.9063972942", "0.133923")]
    lines = ["5", f"gdb {gdb}\t" + "\t".join(props) + "\t"] + ["\t".join(a) for a in atoms]
    lines += ["1341.307\t1341.3284\t3151.7078", "C\tC\t", "InChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4"]
    return "\n".join(lines) + "\n"


def test_inspect_directory_is_one_line_saying_what_to_give(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    write_xyz(folder / "a.xyz", n=2)
    for argv in (["data", "inspect", str(folder)],
                 ["data", "pack", str(folder), "--out", str(tmp_path / "s.h5"), "--quiet"]):
        code, _, err = _run(capsys, *argv)
        _one_line_error(code, err, str(folder), "is a directory", "molsym data pack DIR/*.xyz")
        assert "BundleTrajectory" not in err
    assert not (tmp_path / "s.h5").exists()


def test_inspect_reads_an_ase_bundle_trajectory_directory(tmp_path, capsys):
    """A folder that is an ASE BundleTrajectory is a data file, read by ASE."""
    images = [Atoms("CO", positions=[[0, 0, 0], [0, 0, 1.1 + 0.01 * k]]) for k in range(3)]
    ase.io.write(tmp_path / "co.bundle", images, format="bundletrajectory")
    code, out, err = _run(capsys, "data", "inspect", str(tmp_path / "co.bundle"))
    assert code == 0, err
    assert "frames: 3" in out and "CO × 3" in out


def test_inspect_qm9_gdb_xyz_names_format_and_reads_it(tmp_path, capsys):
    from molsym.data.units import HARTREE_TO_EV

    path = tmp_path / "dsgdb9nsd_000001.xyz"
    path.write_text(_qm9_molecule())
    code, out, err = _run(capsys, "data", "inspect", str(path))
    assert code == 0, err
    assert "columns" not in out + err
    assert "format: QM9 .xyz (GDB), read by molsym.data.readers.qm9.read_qm9_xyz" in out
    assert "U0" in out and "--energy-key U0" in out
    assert "frames: 1" in out and "CH4 × 1" in out and "energy: none" in out and "broken frames: none" in out

    code, out, err = _run(capsys, "data", "inspect", str(path), "--energy-key", "U0")
    assert code == 0, err
    assert f"energy [eV]: 1 labelled; mean {-40.47893 * HARTREE_TO_EV:.4f}" in out

    both = tmp_path / "two.xyz"  # two molecules one after the other (cat dsgdb9nsd_*.xyz)
    both.write_text(_qm9_molecule(1) + _qm9_molecule(2, u0="-41.0"))
    code, out, err = _run(capsys, "data", "inspect", str(both), "--energy-key", "U0")
    assert code == 0, err
    assert "frames: 2" in out and f"max {-40.47893 * HARTREE_TO_EV:.4f}" in out
    assert f"min {-41.0 * HARTREE_TO_EV:.4f}" in out


def test_broken_qm9_gdb_xyz_is_one_line_naming_the_format(tmp_path, capsys):
    bad = tmp_path / "bad.xyz"
    bad.write_text(_qm9_molecule(1) + _qm9_molecule(2, symbol="Xx"))
    code, _, err = _run(capsys, "data", "inspect", str(bad))
    _one_line_error(code, err, "bad.xyz", "frame 1", "QM9 .xyz (GDB format)", "unknown element 'Xx'")

    good = tmp_path / "good.xyz"
    good.write_text(_qm9_molecule())
    code, _, err = _run(capsys, "data", "inspect", str(good), "--energy-key", "REF_energy")
    _one_line_error(code, err, "good.xyz", "QM9 .xyz (GDB format)", "'REF_energy'", "U0, U, H, G")
    code, _, err = _run(capsys, "data", "inspect", str(good), "--forces-key", "REF_forces")
    _one_line_error(code, err, "good.xyz", "has no forces", "'REF_forces'")
