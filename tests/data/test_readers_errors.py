"""Every kind of bad input is a DataError naming the file and the frame."""
import re

import numpy as np
import pytest

from molsym.data.errors import DataError
from molsym.data.frame import check_frame, make_frame
from molsym.data.readers import read_frames
from molsym.data.readers._common import validate_frames

HEADER = 'Properties=species:S:1:pos:R:3:forces:R:3 energy={e} pbc="F F F"'


def _frame_text(e=-1.0, atoms=None, count=None, header=HEADER):
    atoms = atoms or [("O", 0.0, 0.0, 0.0), ("H", 0.96, 0.0, 0.0), ("H", -0.24, 0.93, 0.0)]
    lines = [str(len(atoms) if count is None else count), header.format(e=e)]
    lines += [f"{s} {x} {y} {z} 0.1 -0.2 0.3" for s, x, y, z in atoms]
    return "\n".join(lines) + "\n"


def _write(tmp_path, *frames, name="bad.xyz"):
    path = tmp_path / name
    path.write_text("".join(frames))
    return path


def _expect(path, frame, pattern, **kwargs):
    with pytest.raises(DataError) as info:
        read_frames(path, **kwargs)
    message = str(info.value)
    assert message.startswith(str(path)), message
    if frame is not None:
        assert f", frame {frame}:" in message, message
    assert re.search(pattern, message), message
    assert "\n" not in message
    return info.value


def test_good_file_reads(tmp_path):
    assert len(read_frames(_write(tmp_path, _frame_text(), _frame_text()))) == 2


def test_atom_count_too_small(tmp_path):
    path = _write(tmp_path, _frame_text(), _frame_text(count=2), _frame_text())
    _expect(path, 2, r"expected the atom count")


def test_atom_count_too_large(tmp_path):
    path = _write(tmp_path, _frame_text(), _frame_text(count=4), _frame_text())
    _expect(path, 1, r"columns, expected 7")


def test_atom_count_past_end_of_file(tmp_path):
    path = _write(tmp_path, _frame_text(), _frame_text(count=5))
    _expect(path, 1, r"atom count says 5 atoms but the file ends after 3")


def test_non_numeric_field(tmp_path):
    bad = _frame_text().replace("0.96", "0.9x6")
    path = _write(tmp_path, _frame_text(), _frame_text(), bad)
    err = _expect(path, 2, r"atom 1: non-numeric value '0.9x6' in column 'pos'")
    assert err.frame == 2


def test_non_numeric_energy(tmp_path):
    path = _write(tmp_path, _frame_text(), _frame_text(e="abc"))
    _expect(path, 1, r"energy label 'energy' is not numeric")


def test_missing_energy_key_when_asked(tmp_path):
    path = _write(tmp_path, _frame_text(), _frame_text())
    _expect(path, 0, r"missing energy label 'REF_energy'", energy_key="REF_energy")


def test_missing_forces_key_when_asked(tmp_path):
    path = _write(tmp_path, _frame_text(), _frame_text())
    _expect(path, 0, r"missing forces label 'REF_forces'", forces_key="REF_forces")


def test_require_labels(tmp_path):
    no_energy = _frame_text(header="Properties=species:S:1:pos:R:3:forces:R:3")
    path = _write(tmp_path, no_energy)
    assert "energy" not in read_frames(path)[0]  # not asked for: fine
    _expect(path, 0, r"missing energy label 'energy'", require_labels=True)


def test_label_in_some_frames_only(tmp_path):
    no_energy = _frame_text(header="Properties=species:S:1:pos:R:3:forces:R:3")
    path = _write(tmp_path, _frame_text(), _frame_text(), no_energy)
    _expect(path, 2, r"no energy label, although frame 0 has one")


@pytest.mark.parametrize("where,value", [("pos", "nan"), ("pos", "inf"), ("forces", "nan"),
                                         ("energy", "inf"), ("energy", "nan")])
def test_nan_and_inf(tmp_path, where, value):
    if where == "energy":
        bad = _frame_text(e=value)
    elif where == "pos":
        bad = _frame_text(atoms=[("O", 0.0, 0.0, value), ("H", 0.96, 0.0, 0.0)])
    else:
        bad = _frame_text().replace("0.1 -0.2 0.3", f"0.1 {value} 0.3", 1)
    path = _write(tmp_path, _frame_text(), bad)
    _expect(path, 1, rf"non-finite value \(NaN or inf\) in '{where}'")


def test_unknown_element(tmp_path):
    bad = _frame_text(atoms=[("O", 0.0, 0.0, 0.0), ("Xq", 0.96, 0.0, 0.0)])
    path = _write(tmp_path, _frame_text(), _frame_text(), bad)
    _expect(path, 2, r"atom 1: unknown element 'Xq'")


def test_dummy_element_is_z0(tmp_path):
    bad = _frame_text(atoms=[("O", 0.0, 0.0, 0.0), ("X", 0.96, 0.0, 0.0)])
    _expect(_write(tmp_path, bad), 0, r"atomic number 0 at atom 1")


@pytest.mark.parametrize("z", [0, 119, -3])
def test_atomic_number_out_of_range(tmp_path, z):
    text = f"2\nProperties=Z:I:1:pos:R:3 energy=1.0\n8 0 0 0\n{z} 0.96 0 0\n"
    _expect(_write(tmp_path, _frame_text(), text), 1, rf"atomic number {z} at atom 1")


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path, content):
    _expect(_write(tmp_path, content), 0, r"file is empty")


def test_atoms_too_close(tmp_path):
    bad = _frame_text(atoms=[("O", 0.0, 0.0, 0.0), ("H", 0.05, 0.0, 0.0), ("H", -0.24, 0.93, 0.0)])
    _expect(_write(tmp_path, _frame_text(), bad), 1, r"atoms 0 and 1 are 0.05 Å apart")


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.xyz", None, r"no such file")


def test_bad_unit_name(tmp_path):
    _expect(_write(tmp_path, _frame_text()), None, r"unknown energy unit", energy_unit="furlong")


def test_error_in_unselected_frame_is_still_found(tmp_path):
    """The whole file is parsed, so a broken frame is reported even when not selected."""
    bad = _frame_text().replace("0.96", "zz")
    _expect(_write(tmp_path, _frame_text(), bad), 1, r"non-numeric", index="0")


# --- npz (MD17 layouts) -----------------------------------------------------------

def _md17(n_frames=4, n_atoms=3, seed=0):
    rng = np.random.default_rng(seed)
    pos = rng.normal(size=(n_frames, n_atoms, 3)) + 3 * np.arange(n_atoms)[None, :, None]
    return {"nuclear_charges": np.array([8, 1, 1][:n_atoms]), "coords": pos,
            "energies": rng.normal(size=n_frames), "forces": rng.normal(size=(n_frames, n_atoms, 3))}


@pytest.mark.parametrize("key,shape,frame,pattern", [
    ("energies", (3,), 3, r"'energies' has shape \(3,\), expected \(4,\)"),
    ("forces", (4, 2, 3), None, r"'forces' has shape \(4, 2, 3\)"),
    ("forces", (3, 3, 3), 3, r"'forces' has shape \(3, 3, 3\), expected \(4, 3, 3\)"),
    ("coords", (4, 2, 3), None, r"'coords' has shape \(4, 2, 3\), expected \(frames, 3, 3\)"),
])
def test_npz_mismatched_shapes(tmp_path, key, shape, frame, pattern):
    arrays = _md17()
    arrays[key] = np.zeros(shape)
    path = tmp_path / "md17.npz"
    np.savez(path, **arrays)
    _expect(path, frame, pattern)


def test_npz_bad_values_name_the_frame(tmp_path):
    arrays = _md17()
    arrays["forces"][2, 1, 0] = np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, **arrays)
    _expect(path, 2, r"non-finite value \(NaN or inf\) in 'forces'")
    arrays = _md17()
    arrays["nuclear_charges"][1] = 0
    np.savez(path, **arrays)
    _expect(path, 0, r"atomic number 0 at atom 1")


def test_npz_unknown_layout_and_empty(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, foo=np.zeros(3))
    _expect(path, None, r"unknown .npz layout")
    arrays = _md17(n_frames=0)
    np.savez(path, **arrays)
    _expect(path, 0, r"file is empty")


# --- the vectorised checks agree with check_frame -----------------------------------

def _broken_frames(rng):
    frames = []
    for k in range(40):
        n = 2 + k % 5
        pos = rng.uniform(0, 8, size=(n, 3))
        z = rng.choice([1, 6, 8], size=n)
        labels = {"energy": rng.normal(), "forces": rng.normal(size=(n, 3))}
        frames.append(make_frame(z, pos, **labels))
    return frames


@pytest.mark.parametrize("breakage", ["none", "close", "nan_pos", "inf_energy", "z0", "z119",
                                      "nan_forces", "forces_shape", "empty"])
def test_validate_frames_matches_check_frame(breakage):
    rng = np.random.default_rng(5)
    frames = _broken_frames(rng)
    for k in (7, 23):  # break two frames: the first one must be reported
        f = frames[k]
        if breakage == "close":
            f["pos"][1] = f["pos"][0] + [0.0, 0.0, 0.09]
        elif breakage == "nan_pos":
            f["pos"][0, 1] = np.nan
        elif breakage == "inf_energy":
            f["energy"] = np.array(np.inf)
        elif breakage == "z0":
            f["atomic_numbers"][0] = 0
        elif breakage == "z119":
            f["atomic_numbers"][-1] = 119
        elif breakage == "nan_forces":
            f["forces"][-1, 2] = np.nan
        elif breakage == "forces_shape":
            f["forces"] = f["forces"][:-1]
        elif breakage == "empty":
            frames[k] = make_frame([], np.zeros((0, 3)))
    expected = None
    for k, f in enumerate(frames):
        try:
            check_frame(f, "mem", k)
        except DataError as err:
            expected = str(err)
            break
    if breakage == "none":
        assert expected is None  # the random frames themselves are sound
        validate_frames(frames, range(len(frames)), "mem")
        return
    with pytest.raises(DataError) as info:
        validate_frames(frames, range(len(frames)), "mem")
    assert str(info.value) == expected
    assert "frame 7:" in expected


def test_energy_must_be_one_number(tmp_path):
    path = _write(tmp_path, _frame_text(), _frame_text(e='"1.0 2.0"'))
    _expect(path, 1, r"energy label 'energy' has 2 values, expected one")


@pytest.mark.parametrize("index,pattern", [(5, r"frame index 5 out of range for 2 frames"),
                                           ("x:y", r"bad frame index|frame index must be")])
def test_bad_index(tmp_path, index, pattern):
    _expect(_write(tmp_path, _frame_text(), _frame_text()), None, pattern, index=index)


def test_truncated_npz_and_empty_db(tmp_path):
    path = tmp_path / "cut.npz"
    np.savez(path, **_md17())
    path.write_bytes(path.read_bytes()[:200])
    _expect(path, None, r"not a readable .npz file")
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    _expect(empty, 0, r"file is empty")


def test_directory_is_refused_with_what_to_give(tmp_path):
    (tmp_path / "a.xyz").write_text(_frame_text())
    err = _expect(tmp_path, None, r"is a directory, not a data file: give one file .*DIR/\*\.xyz")
    assert err.frame is None and "BundleTrajectory" not in str(err)
