"""MD17/rMD17/sGDML .npz, ASE databases and other ase.io formats."""
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write as ase_write

from molsym.data.errors import DataError
from molsym.data.readers import ISOLATED_ATOM, read_frames, split_isolated
from molsym.data.units import KCAL_PER_MOL_TO_EV


def test_kcal_per_mol_factor_value():
    """1 kcal/mol = 4184 J / N_A / e = 0.0433641 eV (CODATA)."""
    assert KCAL_PER_MOL_TO_EV == pytest.approx(4184.0 / 6.02214076e23 / 1.602176634e-19, rel=1e-5)
    assert KCAL_PER_MOL_TO_EV == pytest.approx(0.0433641, rel=1e-5)


def _md17_arrays(seed=0, n_frames=5):
    rng = np.random.default_rng(seed)
    z = np.array([6, 8, 1, 1])
    pos = rng.normal(scale=0.1, size=(n_frames, 4, 3)) + 1.5 * np.arange(4)[None, :, None]
    energy = rng.normal(-1000.0, 2.0, size=n_frames)
    forces = rng.normal(size=(n_frames, 4, 3))
    return z, pos, energy, forces


def test_rmd17_layout(tmp_path):
    z, pos, energy, forces = _md17_arrays()
    path = tmp_path / "rmd17_aspirin.npz"
    np.savez(path, nuclear_charges=z, coords=pos, energies=energy, forces=forces,
             old_indices=np.arange(5))
    frames = read_frames(path)
    assert len(frames) == 5
    for k, frame in enumerate(frames):
        np.testing.assert_array_equal(frame["atomic_numbers"], z)
        np.testing.assert_array_equal(frame["pos"], pos[k])
        assert frame["energy"] == pytest.approx(energy[k] * 0.0433641, rel=1e-5)
        assert frame["energy"] == energy[k] * KCAL_PER_MOL_TO_EV
        np.testing.assert_allclose(frame["forces"], forces[k] * KCAL_PER_MOL_TO_EV, rtol=1e-15)
    assert [f["energy"] for f in read_frames(path, index="1::2")] == \
        [energy[1] * KCAL_PER_MOL_TO_EV, energy[3] * KCAL_PER_MOL_TO_EV]


def test_sgdml_layout_with_declared_units(tmp_path):
    z, pos, energy, forces = _md17_arrays(seed=1)
    path = tmp_path / "sgdml.npz"
    np.savez(path, z=z, R=pos, E=energy[:, None], F=forces, name=np.array("test"))
    frames = read_frames(path)
    np.testing.assert_allclose([f["energy"] for f in frames], energy * KCAL_PER_MOL_TO_EV, rtol=1e-15)
    # a file that declares eV is read as eV; the keyword overrides the declaration
    np.savez(path, z=z, R=pos, E=energy, F=forces, e_unit=np.array("eV"), r_unit=np.array("Ang"))
    np.testing.assert_array_equal([f["energy"] for f in read_frames(path)], energy)
    overridden = read_frames(path, energy_unit="kcal/mol")
    np.testing.assert_allclose(overridden[2]["forces"], forces[2] * KCAL_PER_MOL_TO_EV, rtol=1e-15)


def test_npz_labels_can_be_skipped(tmp_path):
    z, pos, energy, forces = _md17_arrays()
    path = tmp_path / "rmd17.npz"
    np.savez(path, nuclear_charges=z, coords=pos, energies=energy, forces=forces)
    (frame,) = read_frames(path, energy_key=None, forces_key=None, index=0)
    assert "energy" not in frame and "forces" not in frame


def _db_images(rng):
    images = []
    for k in range(4):
        atoms = Atoms("CO2", positions=[[0, 0, 0], [1.16, 0, 0], [-1.16, 0, 0]])
        atoms.positions += rng.normal(scale=0.05, size=(3, 3))
        atoms.calc = SinglePointCalculator(atoms, energy=-20.0 - k, forces=rng.normal(size=(3, 3)))
        images.append(atoms)
    return images


def test_ase_database(tmp_path):
    import ase.db

    rng = np.random.default_rng(2)
    path = tmp_path / "set.db"
    images = _db_images(rng)
    ref_forces = []
    with ase.db.connect(str(path)) as db:
        iso = Atoms("O", positions=[[0, 0, 0]])
        iso.calc = SinglePointCalculator(iso, energy=-2040.0)
        db.write(iso, config_type="isolated_atom")
        for atoms in images:
            f = rng.normal(size=(3, 3))
            ref_forces.append(f)
            db.write(atoms, REF_energy=atoms.get_potential_energy() * 2, data={"REF_forces": f})
    frames = read_frames(path)
    assert ISOLATED_ATOM in frames[0] and frames[0]["energy"] == -2040.0
    ordinary, e0s = split_isolated(frames)
    assert e0s == {8: -2040.0}
    for frame, atoms in zip(ordinary, images):
        np.testing.assert_allclose(frame["pos"], atoms.positions)
        assert frame["energy"] == atoms.get_potential_energy()
        np.testing.assert_allclose(frame["forces"], atoms.get_forces())
    ref = read_frames(path, energy_key="REF_energy", forces_key="REF_forces", index="1:")
    for frame, atoms, f in zip(ref, images, ref_forces):
        assert frame["energy"] == 2 * atoms.get_potential_energy()
        np.testing.assert_array_equal(frame["forces"], f)


def test_other_ase_format_with_calculator(tmp_path):
    """An ASE trajectory: labels come from the stored single-point calculator."""
    rng = np.random.default_rng(3)
    images = _db_images(rng)
    path = tmp_path / "set.traj"
    ase_write(path, images)
    frames = read_frames(path, energy_unit="kcal/mol")
    for frame, atoms in zip(frames, images):
        assert frame["energy"] == pytest.approx(atoms.get_potential_energy() * KCAL_PER_MOL_TO_EV)
        np.testing.assert_allclose(frame["forces"], atoms.get_forces() * KCAL_PER_MOL_TO_EV)


def test_other_ase_format_bad_file(tmp_path):
    path = tmp_path / "broken.traj"
    path.write_bytes(b"this is not a trajectory")
    with pytest.raises(DataError, match=str(path)):
        read_frames(path)


def test_pdb_through_ase(tmp_path):
    path = tmp_path / "water.pdb"
    ase_write(path, Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]))
    (frame,) = read_frames(path)
    np.testing.assert_array_equal(frame["atomic_numbers"], [8, 1, 1])
    np.testing.assert_allclose(frame["pos"][1], [0.96, 0, 0], atol=1e-3)
