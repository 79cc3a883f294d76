"""The fast extxyz reader agrees with ase.io.read, converts units, and marks isolated atoms."""
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read as ase_read
from ase.io import write as ase_write
from ase.io.extxyz import key_val_str_to_dict

from molsym.data import readers
from molsym.data.readers import ISOLATED_ATOM, read_frames, split_isolated
from molsym.data.readers._comment import parse_comment
from molsym.data.units import BOHR_TO_ANGSTROM, KCAL_PER_MOL_TO_EV


def _random_atoms(rng, n, periodic=False):
    numbers = rng.choice([1, 6, 7, 8], size=n)
    pos = rng.uniform(0, 6, size=(n, 3))
    while True:  # keep atoms apart
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + 10 * np.eye(n)
        if d.min() > 0.8:
            break
        pos = rng.uniform(0, 6, size=(n, 3))
    atoms = Atoms(numbers, positions=pos)
    if periodic:
        atoms.cell = [[7.0, 0.3, 0.0], [0.5, 7.5, 0.2], [-0.4, 0.6, 8.0]]  # triclinic
        atoms.pbc = [True, True, False]
    return atoms


def _labelled(rng, count, periodic=False, stress=False):
    images = []
    for k in range(count):
        atoms = _random_atoms(rng, 3 + k % 4, periodic)
        results = {"energy": float(rng.normal(-100, 5)), "forces": rng.normal(size=(len(atoms), 3))}
        if stress:
            s = rng.normal(size=(3, 3))
            results["stress"] = (s + s.T)[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        atoms.calc = SinglePointCalculator(atoms, **results)
        atoms.info["dihedral_angle"] = float(rng.uniform(0, 180))
        atoms.info["config_type"] = "md"
        images.append(atoms)
    return images


@pytest.mark.parametrize("periodic", [False, True])
def test_matches_ase(tmp_path, periodic):
    rng = np.random.default_rng(0)
    path = tmp_path / "set.xyz"
    ase_write(path, _labelled(rng, 9, periodic, stress=periodic), format="extxyz")
    frames = read_frames(path, stress_key="stress" if periodic else None,
                         info_keys=["dihedral_angle"])
    ref = ase_read(path, ":")
    assert len(frames) == len(ref) == 9
    for frame, atoms in zip(frames, ref):
        np.testing.assert_array_equal(frame["atomic_numbers"], atoms.numbers)
        np.testing.assert_array_equal(frame["pos"], atoms.positions)
        np.testing.assert_array_equal(frame["cell"], atoms.cell.array)
        np.testing.assert_array_equal(frame["pbc"], atoms.pbc)
        assert frame["energy"] == atoms.get_potential_energy()
        np.testing.assert_array_equal(frame["forces"], atoms.get_forces())
        assert frame["dihedral_angle"] == atoms.info["dihedral_angle"]
        if periodic:
            np.testing.assert_allclose(frame["stress"], atoms.get_stress(voigt=False), atol=1e-12)
        assert ISOLATED_ATOM not in frame


def test_custom_keys_and_units(tmp_path):
    rng = np.random.default_rng(1)
    images = _labelled(rng, 4)
    for atoms in images:
        atoms.info["REF_energy"] = atoms.calc.results["energy"] + 1.0
        atoms.arrays["REF_forces"] = atoms.calc.results["forces"] * 2.0
        atoms.calc = None
    path = tmp_path / "ref.extxyz"
    ase_write(path, images, format="extxyz")
    frames = read_frames(path, energy_key="REF_energy", forces_key="REF_forces",
                         energy_unit="kcal/mol", length_unit="Bohr")
    for frame, atoms in zip(frames, ase_read(path, ":")):  # values as written to the file
        assert frame["energy"] == pytest.approx(atoms.info["REF_energy"] * KCAL_PER_MOL_TO_EV, rel=1e-14)
        np.testing.assert_allclose(frame["forces"], atoms.arrays["REF_forces"] * KCAL_PER_MOL_TO_EV
                                   / BOHR_TO_ANGSTROM, rtol=1e-14)
        np.testing.assert_allclose(frame["pos"], atoms.positions * BOHR_TO_ANGSTROM, rtol=1e-14)


def test_index_selection(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "set.xyz"
    images = _labelled(rng, 6)
    ase_write(path, images, format="extxyz")
    energies = [a.get_potential_energy() for a in images]
    assert [f["energy"] for f in read_frames(path, index="1:5:2")] == energies[1:5:2]
    assert [f["energy"] for f in read_frames(path, index=-1)] == energies[-1:]
    assert [f["energy"] for f in read_frames(path, index=slice(0, 2))] == energies[:2]


def test_isolated_atoms_are_marked_and_split(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "with_e0.xyz"
    isolated = []
    for z, e in ((1, -13.6), (8, -2037.8)):
        atoms = Atoms([z], positions=[[0.0, 0.0, 0.0]])
        atoms.info.update(config_type="isolated_atom", energy=e)
        isolated.append(atoms)
    ase_write(path, isolated + _labelled(rng, 3), format="extxyz")
    frames = read_frames(path, require_labels=True)  # isolated atoms need no forces
    assert [ISOLATED_ATOM in f for f in frames] == [True, True, False, False, False]
    assert frames[0][ISOLATED_ATOM].dtype == bool and frames[0][ISOLATED_ATOM].shape == ()
    ordinary, e0s = split_isolated(frames)
    assert e0s == {1: -13.6, 8: -2037.8}
    assert len(ordinary) == 3 and all(ISOLATED_ATOM not in f for f in ordinary)


def test_plain_xyz_without_labels(tmp_path):
    path = tmp_path / "plain.xyz"
    path.write_text("3\nwater, no labels\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n")
    (frame,) = read_frames(path)
    assert "energy" not in frame and "forces" not in frame
    np.testing.assert_array_equal(frame["atomic_numbers"], [8, 1, 1])
    np.testing.assert_array_equal(frame["pos"], ase_read(path).positions)


def test_unusual_layout_falls_back_to_ase(tmp_path, monkeypatch):
    """A cell given as VEC pseudo-atoms is ASE's business: the reader hands the file over."""
    path = tmp_path / "vec.xyz"
    path.write_text("2\nH2 in a box\nH 0 0 0\nH 0.74 0 0\nVEC1 5 0 0\nVEC2 0 5 0\nVEC3 0 0 5\n")
    calls = []
    original = readers.ase_reader.read_ase
    monkeypatch.setattr(readers.ase_reader, "read_ase",
                        lambda *a, **k: calls.append(a) or original(*a, **k))
    try:
        ref = ase_read(path, ":")
    except Exception:  # pragma: no cover - depends on the ASE version
        pytest.skip("this ASE version does not read VEC lines")
    (frame,) = read_frames(path)
    assert calls, "the fast reader should have handed this file to ase.io.read"
    np.testing.assert_allclose(frame["cell"], ref[0].cell.array)
    np.testing.assert_allclose(frame["cell"], 5 * np.eye(3))
    np.testing.assert_array_equal(frame["pbc"], ref[0].pbc)


COMMENTS = [
    'Lattice="5.0 0.1 0.0 0.2 6.0 0.0 0.0 0.3 7.0" Properties=species:S:1:pos:R:3 energy=-1.5 pbc="T T F"',
    "energy=-12 config_type=isolated_atom pbc=F",
    'dihedrals="_JSON [209.44, 80.54, 59.96]" name="two words" flags="T F T" n=3',
    "stress=\"1 2 3 4 5 6 7 8 9\" virial='1 0 0 0 1 0 0 0 1' x=1e-3 y=+4 z=-.5",
    "bare_key energy=1.0 free text here",
    "a=[1,2,3] b={4 5} c=\"x=y\" d=1,2,3",
    'quote="escaped \\" inside" e=2',
    "",
    "   energy=-3.25   ",
    "nan_value=nan inf_value=-inf big=123456789012345678901234567890",
]


@pytest.mark.parametrize("line", COMMENTS)
def test_comment_parser_agrees_with_ase(line):
    # ase.io.read treats an empty comment line as no keys at all
    ours, ref = parse_comment(line), key_val_str_to_dict(line) if line.strip() else {}
    assert list(ours) == list(ref)
    for key in ref:
        a, b = ours[key], ref[key]
        if isinstance(b, np.ndarray) or isinstance(a, np.ndarray):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
            assert np.asarray(a).dtype.kind == np.asarray(b).dtype.kind
        elif isinstance(b, float) and np.isnan(b):
            assert np.isnan(a)
        else:
            assert a == b and type(a) is type(b), key


def test_shared_acac_matches_ase(shared_data):
    path = shared_data / "acac" / "train_300K.xyz"
    frames = read_frames(path)
    ref = ase_read(path, ":")
    assert len(frames) == len(ref) == 500
    for frame, atoms in zip(frames, ref):
        np.testing.assert_array_equal(frame["atomic_numbers"], atoms.numbers)
        np.testing.assert_array_equal(frame["pos"], atoms.positions)
        assert frame["energy"] == atoms.get_potential_energy()
        np.testing.assert_array_equal(frame["forces"], atoms.get_forces())
    ordinary, e0s = split_isolated(read_frames(shared_data / "acac" / "isolated_atoms.xyz"))
    assert not ordinary and sorted(e0s) == [1, 6, 8]


def test_chunked_conversion_gives_the_same_frames(tmp_path, monkeypatch):
    """Big files are converted in pieces; results and error positions do not change."""
    from molsym.data.errors import DataError
    from molsym.data.readers import extxyz

    rng = np.random.default_rng(4)
    path = tmp_path / "big.xyz"
    ase_write(path, _labelled(rng, 12), format="extxyz")
    whole = read_frames(path)
    monkeypatch.setattr(extxyz, "FLUSH_TOKENS", 40)
    pieces = read_frames(path)
    for a, b in zip(whole, pieces):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    text = path.read_text().split("\n")
    at = 0
    for _ in range(9):  # skip nine frames; atom 1 of the tenth gets a bad x coordinate
        at += int(text[at]) + 2
    fields = text[at + 3].split()
    text[at + 3] = " ".join([fields[0], "1.2.3"] + fields[2:])
    path.write_text("\n".join(text))
    with pytest.raises(DataError, match=r"frame 9: atom 1: non-numeric value '1\.2\.3'"):
        read_frames(path)


def test_calc_keys_mean_the_standard_names(tmp_path):
    rng = np.random.default_rng(6)
    path = tmp_path / "set.xyz"
    ase_write(path, _labelled(rng, 3), format="extxyz")
    plain, calc = read_frames(path), read_frames(path, energy_key="calc", forces_key="calc")
    for a, b in zip(plain, calc):
        assert a["energy"] == b["energy"]
        np.testing.assert_array_equal(a["forces"], b["forces"])
