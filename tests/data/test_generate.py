"""molsym.data.generate: SMILES → RDKit conformer → Langevin MD on GFN2-xTB → extxyz."""
import os

import ase.io
import numpy as np
import pytest
from ase.calculators.calculator import CalculationFailed
from ase.calculators.lj import LennardJones

from molsym.data import generate as G
from molsym.data.errors import DataError

tblite_ase = pytest.importorskip("tblite.ase")

SMALL = dict(frames=5, stride=2, equilibration_steps=10, progress=False)


def _xtb(charge=0, multiplicity=1):
    return tblite_ase.TBLite(method="GFN2-xTB", charge=charge, multiplicity=multiplicity, verbosity=0)


@pytest.fixture(scope="module")
def water(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "water.xyz"
    result = G.generate_dataset("O", out, seed=3, temperature=500.0, **SMALL)
    return result


def test_trajectory_file_has_labels_and_metadata(water):
    images = ase.io.read(water.path, ":")
    assert water.frames == len(images) == 5
    for k, atoms in enumerate(images):
        assert sorted(atoms.get_chemical_symbols()) == ["H", "H", "O"]
        assert atoms.info["config_type"] == "md"
        assert atoms.info["smiles"] == "O"
        assert atoms.info["method"] == "gfn2-xtb"
        assert atoms.info["temperature"] == 500.0
        assert atoms.info["md_step"] == 10 + 2 * (k + 1)
        # ase moves the `energy` / `forces` keys onto a single-point calculator
        assert np.isfinite(atoms.get_potential_energy())
        assert atoms.get_forces().shape == (3, 3)
    # the dynamics moved the atoms and the molecule stayed intact
    pos = np.stack([a.positions for a in images])
    assert np.abs(pos[1:] - pos[:-1]).max() > 1e-3
    o = [i for i, s in enumerate(images[0].get_chemical_symbols()) if s == "O"][0]
    for atoms in images:
        d = atoms.get_distances(o, [i for i in range(3) if i != o])
        assert np.all((d > 0.8) & (d < 1.3)), d


def test_labels_match_tblite_and_finite_differences(water):
    atoms = ase.io.read(water.path, 2)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    probe = atoms.copy()
    probe.calc = _xtb()
    assert probe.get_potential_energy() == pytest.approx(energy, abs=1e-5)
    h = 1e-3  # Å
    fd = np.zeros_like(forces)
    for i in range(len(probe)):
        for k in range(3):
            for sign in (1.0, -1.0):
                moved = atoms.copy()
                moved.calc = _xtb()
                moved.positions[i, k] += sign * h
                fd[i, k] -= sign * moved.get_potential_energy() / (2 * h)
    assert np.abs(forces).max() > 0.05  # a non-trivial check
    np.testing.assert_allclose(forces, fd, atol=2e-3)


def test_isolated_atoms_file(water):
    images = ase.io.read(water.isolated_atoms_path, ":")
    assert water.isolated_atoms_path.name == "water_isolated_atoms.xyz"
    by_z = {int(a.numbers[0]): a for a in images}
    assert sorted(by_z) == [1, 8] and all(len(a) == 1 for a in images)
    for z, atoms in by_z.items():
        assert atoms.info["config_type"] == "isolated_atom"
        assert atoms.info["method"] == "gfn2-xtb"
        assert atoms.get_potential_energy() == pytest.approx(water.e0s[z], abs=1e-9)
        mult = atoms.info["multiplicity"]
        assert (mult - 1) % 2 == z % 2  # parity matches the electron count
        lone = atoms.copy()
        lone.calc = _xtb(0, mult)
        assert lone.get_potential_energy() == pytest.approx(water.e0s[z], abs=1e-8)
    # spin-restricted GFN2 has no spin term: the O triplet lies above the recorded E0
    triplet = by_z[8].copy()
    triplet.calc = _xtb(0, 3)
    assert triplet.get_potential_energy() > water.e0s[8]
    # the molecule is bound relative to its atoms
    e_mol = ase.io.read(water.path, 0).get_potential_energy()
    assert e_mol - (2 * water.e0s[1] + water.e0s[8]) < -1.0


def test_same_seed_same_bytes_other_seed_differs(water, tmp_path):
    again = G.generate_dataset("O", tmp_path / "water.xyz", seed=3, temperature=500.0, **SMALL)
    assert again.path.read_bytes() == water.path.read_bytes()
    assert again.isolated_atoms_path.read_bytes() == water.isolated_atoms_path.read_bytes()
    other = G.generate_dataset("O", tmp_path / "other.xyz", seed=4, temperature=500.0, **SMALL)
    assert other.path.read_bytes() != water.path.read_bytes()


def test_no_temporary_files_left(water):
    names = sorted(p.name for p in water.path.parent.iterdir())
    assert names == ["water.xyz", "water_isolated_atoms.xyz"]


@pytest.mark.parametrize("smiles, charge, multiplicity", [("[OH-]", -1, 1), ("[CH3]", 0, 2)])
def test_charge_and_radicals_come_from_smiles(tmp_path, smiles, charge, multiplicity):
    result = G.generate_dataset(smiles, tmp_path / "x.xyz", frames=2, stride=1,
                                equilibration_steps=2, progress=False)
    atoms = ase.io.read(result.path, -1)
    assert atoms.info["charge"] == charge and atoms.info["multiplicity"] == multiplicity
    probe = atoms.copy()
    probe.calc = _xtb(charge, multiplicity)
    assert probe.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=1e-5)


def test_invalid_smiles_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match=r"SMILES 'C1CC\(': RDKit cannot parse"):
        G.generate_dataset("C1CC(", tmp_path / "bad.xyz", **SMALL)
    with pytest.raises(DataError, match="cannot parse"):
        G.generate_dataset("", tmp_path / "bad.xyz", **SMALL)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("smiles, message", [
    ("[Xe]", r"SMILES '\[Xe\]': a single atom has no conformations"),
    ("O=[U]=O", r"SMILES 'O=\[U\]=O': gfn2-xtb cannot handle this molecule: .*Z"),
])
def test_molecules_the_method_cannot_run(tmp_path, smiles, message):
    with pytest.raises(DataError, match=message):
        G.generate_dataset(smiles, tmp_path / "x.xyz", **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_unknown_method_lists_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown method 'dftb'.*gfn1-xtb.*gfn2-xtb"):
        G.generate_dataset("O", tmp_path / "w.xyz", method="dftb", **SMALL)
    assert list(tmp_path.iterdir()) == []
    assert {"gfn1-xtb", "gfn2-xtb"} <= set(G.available_methods())
    assert G.get_method("GFN2-xTB").name == "gfn2-xtb"


@pytest.mark.parametrize("bad", [dict(frames=0), dict(stride=0), dict(seed=-1), dict(temperature=-5.0),
                                 dict(timestep_fs=0.0), dict(equilibration_steps=-1), dict(frames=2.5),
                                 dict(threads=0)])
def test_bad_arguments(tmp_path, bad):
    kwargs = {**SMALL, **bad}
    with pytest.raises(ValueError):
        G.generate_dataset("O", tmp_path / "w.xyz", **kwargs)


def test_default_stride_is_ten_femtoseconds():
    assert G.default_stride(0.5) == 20
    assert G.default_stride(1.0) == 10
    assert G.default_stride(25.0) == 1


def test_registry_accepts_any_ase_calculator(tmp_path, monkeypatch):
    lj = G.Method("lj-test", "Lennard-Jones", lambda charge, mult: LennardJones(sigma=1.0, epsilon=0.01, rc=5.0))
    monkeypatch.setitem(G.METHODS, "lj-test", lj)
    result = G.generate_dataset("O", tmp_path / "lj.xyz", method="lj-test", **SMALL)
    atoms = ase.io.read(result.path, 1)
    assert atoms.info["method"] == "lj-test"
    probe = atoms.copy()
    probe.calc = LennardJones(sigma=1.0, epsilon=0.01, rc=5.0)
    assert probe.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
    assert result.e0s == {1: 0.0, 8: 0.0}


class _ThreadProbe(LennardJones):
    """Records the OpenMP thread limit in force whenever it computes."""

    seen = []

    def calculate(self, *args, **kwargs):
        import threadpoolctl
        type(self).seen += [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "openmp"]
        super().calculate(*args, **kwargs)


def test_threads_limit_openmp_during_the_run(tmp_path, monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    outside = [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "openmp"]
    assert outside, "tblite's OpenMP runtime should be loaded"
    monkeypatch.setitem(G.METHODS, "probe", G.Method("probe", "probe", lambda c, m: _ThreadProbe(sigma=1.0)))
    _ThreadProbe.seen = []
    G.generate_dataset("O", tmp_path / "a.xyz", method="probe", threads=1, **SMALL)
    assert _ThreadProbe.seen and set(_ThreadProbe.seen) == {1}
    _ThreadProbe.seen = []
    G.generate_dataset("O", tmp_path / "b.xyz", method="probe", threads=None, **SMALL)
    assert set(_ThreadProbe.seen) == set(outside)
    assert [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "openmp"] == outside


class _FailingLJ(LennardJones):
    """Fails after a few evaluations, as an SCF that does not converge would."""

    calls = 0

    def calculate(self, *args, **kwargs):
        type(self).calls += 1
        if type(self).calls > 8:
            raise CalculationFailed("SCF did not converge")
        super().calculate(*args, **kwargs)


def test_failure_mid_run_names_frame_and_keeps_old_file(tmp_path, monkeypatch):
    out = tmp_path / "keep.xyz"
    out.write_text("old contents\n")
    _FailingLJ.calls = 0
    monkeypatch.setitem(G.METHODS, "fail", G.Method("fail", "fails", lambda c, m: _FailingLJ(sigma=1.0)))
    with pytest.raises(DataError, match=r"keep\.xyz, frame \d+: calculator failed during sampling"):
        G.generate_dataset("O", out, method="fail", frames=20, stride=1, equilibration_steps=2, progress=False)
    assert out.read_text() == "old contents\n"
    assert sorted(os.listdir(tmp_path)) == ["keep.xyz"]
