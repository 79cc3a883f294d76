"""Relaxation of generated molecules: GFN2-xTB, a molsym force field, failures, and the files written."""
import csv

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, CalculationFailed, all_changes
from ase.optimize import BFGS
from rdkit import Chem
from rdkit.Chem import AllChem

from molsym.calculator.calculator import MolSymCalculator
from molsym.generate import GeneratedMolecule
from molsym.generate.relax import (kabsch_rmsd, relax_molecule, relax_molecules, summarize, write_relaxed,
                                   write_report_csv)
from molsym.nn.io import save_model
from molsym.nn.model import build_model

pytest.importorskip("tblite.ase")
from tblite.ase import TBLite  # noqa: E402

_CLASS = {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3, Chem.BondType.AROMATIC: 4}


def _embedded(smiles: str, seed: int = 7, bonds: bool = True) -> GeneratedMolecule:
    """RDKit-embedded molecule with explicit H (ETKDG geometry, not relaxed), bonds from RDKit."""
    rd = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(rd, randomSeed=seed) == 0
    n = rd.GetNumAtoms()
    classes = np.zeros((n, n), dtype=np.int64)
    for b in rd.GetBonds():
        classes[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] = classes[b.GetEndAtomIdx(), b.GetBeginAtomIdx()] = \
            _CLASS[b.GetBondType()]
    return GeneratedMolecule(np.array([a.GetAtomicNum() for a in rd.GetAtoms()]),
                             rd.GetConformer().GetPositions(),
                             np.array([a.GetFormalCharge() for a in rd.GetAtoms()]),
                             classes if bonds else None)


def _perturbed(mol: GeneratedMolecule, sigma: float = 0.05, seed: int = 0) -> GeneratedMolecule:
    pos = mol.pos + np.random.default_rng(seed).normal(0.0, sigma, mol.pos.shape)
    return GeneratedMolecule(mol.atomic_numbers, pos, mol.charges, mol.bonds)


def _with_stretched_h(mol: GeneratedMolecule, heavy: int = 0, by: float = 2.5):
    """(molecule, h): the first H on atom ``heavy`` moved ``by`` Å further out along its bond."""
    h = int(np.flatnonzero((mol.bonds[heavy] > 0) & (mol.atomic_numbers == 1))[0])
    pos = mol.pos.copy()
    direction = pos[h] - pos[heavy]
    pos[h] += by * direction / np.linalg.norm(direction)
    return GeneratedMolecule(mol.atomic_numbers, pos, mol.charges, mol.bonds), h


def _xtb_energy_forces(z, pos, charge=0):
    atoms = Atoms(numbers=z, positions=pos)
    atoms.calc = TBLite(method="GFN2-xTB", charge=charge, verbosity=0)
    return atoms.get_potential_energy(), atoms.get_forces()


@pytest.fixture(scope="module")
def ethanol_minimum():
    """Ethanol at its GFN2-xTB minimum (ASE BFGS to 1e-3 eV/Å, independent of the code under test)."""
    mol = _embedded("CCO")
    atoms = Atoms(numbers=mol.atomic_numbers, positions=mol.pos)
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    assert BFGS(atoms, logfile=None).run(fmax=1e-3, steps=500)
    return GeneratedMolecule(mol.atomic_numbers, atoms.get_positions(), mol.charges, mol.bonds)


@pytest.fixture(scope="module")
def ethanol(ethanol_minimum):
    """The xTB minimum with every coordinate moved by N(0, 0.03 Å)."""
    return _perturbed(ethanol_minimum, sigma=0.03)


@pytest.fixture(scope="module")
def xtb_result(ethanol):
    return relax_molecules([ethanol], "xtb")[0]


# ---------------------------------------------------------------- Kabsch RMSD
def test_kabsch_rmsd_ignores_rotation_and_translation_but_not_reflection_or_distortion():
    pos = _embedded("CCO").pos
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    rot = q * np.sign(np.linalg.det(q))  # a proper rotation
    assert kabsch_rmsd(pos, pos @ rot.T + [3.0, -1.0, 2.0]) < 1e-10
    assert kabsch_rmsd(pos, pos * [1, 1, -1]) > 0.1  # a mirror image is not superposable (no reflection)
    moved = pos.copy()
    moved[0] += [0.0, 0.0, 0.3]
    # superposition can only reduce the plain RMSD of one displaced atom, and not to zero
    assert 0.0 < kabsch_rmsd(pos, moved) <= 0.3 / np.sqrt(len(pos)) + 1e-12
    assert kabsch_rmsd(pos, moved) == pytest.approx(kabsch_rmsd(moved, pos))


# ---------------------------------------------------------------------- xTB
def test_xtb_relaxation_lowers_the_energy_converges_and_keeps_the_bonds(ethanol, ethanol_minimum, xtb_result):
    r = xtb_result
    assert r.error is None and r.converged and r.steps > 0
    assert r.energy_drop > 0.05 and r.energy_drop == pytest.approx(r.energy_initial - r.energy_final)
    # it went back to the minimum it was shaken out of: moved about the perturbation (0.03·√3 Å rms)
    assert kabsch_rmsd(r.relaxed.pos, ethanol_minimum.pos) < 0.03
    assert r.rmsd == pytest.approx(kabsch_rmsd(ethanol.pos, ethanol_minimum.pos), abs=0.03)
    assert 0.02 < r.rmsd < 0.15
    assert not r.bonds_changed
    np.testing.assert_array_equal(r.relaxed.atomic_numbers, ethanol.atomic_numbers)
    np.testing.assert_array_equal(r.relaxed.charges, ethanol.charges)
    np.testing.assert_array_equal(r.relaxed.bonds, ethanol.bonds)
    assert r.rmsd == pytest.approx(kabsch_rmsd(ethanol.pos, r.relaxed.pos))
    # the recorded energies are GFN2-xTB's at the two geometries, and the relaxed one is a minimum
    e0, _ = _xtb_energy_forces(ethanol.atomic_numbers, ethanol.pos)
    e1, f1 = _xtb_energy_forces(r.relaxed.atomic_numbers, r.relaxed.pos)
    assert r.energy_initial == pytest.approx(e0, abs=1e-6) and r.energy_final == pytest.approx(e1, abs=1e-6)
    assert np.linalg.norm(f1, axis=1).max() < 0.05


def test_xtb_uses_the_sum_of_formal_charges():
    """Methylammonium CH3NH3+: relaxed at charge +1, its energy is xTB's cation energy, not the neutral's."""
    mol = _perturbed(_embedded("C[NH3+]"))
    assert mol.charges.sum() == 1
    r = relax_molecules([mol], "xtb", steps=1)[0]
    cation, _ = _xtb_energy_forces(mol.atomic_numbers, mol.pos, charge=1)
    neutral, _ = _xtb_energy_forces(mol.atomic_numbers, mol.pos, charge=0)
    assert r.energy_initial == pytest.approx(cation, abs=1e-6)
    assert abs(cation - neutral) > 1.0


def test_a_stretched_ch_bond_is_restored_by_xtb():
    """An H moved 2.5 Å out (3.6 Å from its C) falls back onto that C: GFN2-xTB rebinds the radical pair."""
    mol, h = _with_stretched_h(_embedded("CCO"))
    r = relax_molecules([mol], "xtb")[0]
    assert r.error is None and r.converged
    assert np.linalg.norm(r.relaxed.pos[h] - r.relaxed.pos[0]) < 1.2
    assert r.energy_drop > 2.0  # a C-H bond is worth several eV
    assert r.rmsd > 0.5
    # against the generated bonds (which have this C-H) nothing changed ...
    assert not r.bonds_changed
    # ... but against the connectivity perceived from the stretched geometry a bond appeared
    no_bonds = GeneratedMolecule(mol.atomic_numbers, mol.pos, mol.charges, None)
    r2 = relax_molecules([no_bonds], "xtb")[0]
    assert r2.error is None and r2.bonds_changed
    np.testing.assert_allclose(r2.relaxed.pos, r.relaxed.pos, atol=1e-8)  # same physics, other reference


def test_generated_bonds_that_disagree_with_the_geometry_are_reported():
    """Generated bonds that put an H of C0 on O instead: the relaxed geometry keeps it on C, a change."""
    mol = _perturbed(_embedded("CCO"))
    h = int(np.flatnonzero((mol.bonds[0] > 0) & (mol.atomic_numbers == 1))[0])
    wrong = mol.bonds.copy()
    wrong[0, h] = wrong[h, 0] = 0
    wrong[2, h] = wrong[h, 2] = 1
    r = relax_molecules([GeneratedMolecule(mol.atomic_numbers, mol.pos, mol.charges, wrong)], "xtb")[0]
    assert r.error is None and r.bonds_changed
    np.testing.assert_array_equal(r.relaxed.bonds, wrong)  # the record keeps the molecule's own bonds


# ------------------------------------------------------------- force field
@pytest.fixture(scope="module")
def force_field_file(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model({"representation": {"name": "painn", "hidden": 8, "num_layers": 1},
                         "species": [1, 6, 8], "cutoff": 4.0, "scale": 1.0, "dtype": "float64"})
    return save_model(model, tmp_path_factory.mktemp("relax") / "ff.pt")


def test_a_molsym_force_field_file_relaxes_molecules(ethanol, force_field_file):
    fmax = 0.005  # the random model's forces are small; a tight threshold makes it take steps
    r = relax_molecules([ethanol], str(force_field_file), fmax=fmax, steps=100)[0]
    assert r.error is None and r.steps > 0 and r.energy_drop > 0
    atoms = Atoms(numbers=ethanol.atomic_numbers, positions=r.relaxed.pos)
    atoms.calc = MolSymCalculator(force_field_file)
    assert r.energy_final == pytest.approx(atoms.get_potential_energy(), abs=1e-8)
    assert r.converged == (np.linalg.norm(atoms.get_forces(), axis=1).max() < fmax)
    assert r.converged
    # an element the model does not know is a failed molecule, not a crash
    fluorine = GeneratedMolecule(np.array([9, 1]), np.array([[0.0, 0, 0], [0.92, 0, 0]]), np.zeros(2, int))
    bad, good = relax_molecules([fluorine, ethanol], force_field_file, fmax=fmax, steps=100)
    assert bad.error is not None and "F (Z=9)" in bad.error and bad.relaxed is None
    assert good.error is None and good.energy_final == pytest.approx(r.energy_final)


def test_a_torchscript_force_field_file_relaxes_like_the_model_file(tmp_path, ethanol, force_field_file):
    from molsym.calculator.compile import METADATA, compile_model, save_compiled
    from molsym.nn.io import load_model

    script = save_compiled(compile_model(load_model(force_field_file).eval(), "script"), tmp_path / "ff_script.pt",
                           {METADATA: "{}"})
    eager, scripted = (relax_molecules([ethanol], p, fmax=0.005, steps=100)[0] for p in (force_field_file, script))
    assert scripted.error is None and scripted.steps == eager.steps
    assert scripted.energy_final == pytest.approx(eager.energy_final, abs=1e-8)


def test_bad_methods_are_named(tmp_path, ethanol):
    with pytest.raises(ValueError, match="'gfn3'"):
        relax_molecules([ethanol], "gfn3")
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        relax_molecules([ethanol], str(missing))
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        relax_molecules([ethanol], missing)
    not_a_model = tmp_path / "notes.pt"
    not_a_model.write_text("not a model")
    with pytest.raises(ValueError, match="notes.pt"):  # molsym.nn.io.ModelFileError
        relax_molecules([ethanol], not_a_model)


# ------------------------------------------------------------------ failures
class _Harmonic(Calculator):
    """E = |x - x0|² / 2 (eV, Å); ``fail_at`` calls in, it raises (``mode="raise"``) or returns NaN."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, x0, fail_at=None, mode="raise"):
        super().__init__()
        self.x0, self.fail_at, self.mode, self.calls = np.asarray(x0), fail_at, mode, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        d = self.atoms.positions - self.x0
        energy, forces = 0.5 * float((d ** 2).sum()), -d
        if self.fail_at is not None and self.calls >= self.fail_at:
            if self.mode == "raise":
                raise CalculationFailed("SCF not converged\nin 250 iterations")
            energy, forces = (energy, forces * np.nan) if self.mode == "nan_forces" else (np.nan, forces)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


@pytest.mark.parametrize("fail_at,mode,reason", [(1, "raise", "CalculationFailed: SCF not converged"),
                                                  (1, "nan_energy", "initial geometry"),
                                                  (3, "nan_forces", "at step"),
                                                  (3, "raise", "SCF not converged")])
def test_a_failing_calculator_gives_a_failed_result_with_a_one_line_reason(ethanol, fail_at, mode, reason):
    x0 = _embedded("CCO").pos
    ok = relax_molecule(ethanol, lambda m: _Harmonic(x0), fmax=1e-3)
    assert ok.error is None and ok.converged and ok.energy_drop > 0 and kabsch_rmsd(ok.relaxed.pos, x0) < 1e-2
    r = relax_molecule(ethanol, lambda m: _Harmonic(x0, fail_at, mode), fmax=1e-3)
    assert r.error is not None and reason in r.error and "\n" not in r.error
    assert r.relaxed is None and np.isnan(r.energy_final) and not r.converged


def test_one_failing_molecule_does_not_stop_the_others(ethanol):
    overlapping = GeneratedMolecule(np.array([6, 1, 1]), np.array([[0.0, 0, 0], [0.0, 0, 0], [1.09, 0, 0]]),
                                    np.zeros(3, int))
    results = relax_molecules([ethanol, overlapping, ethanol], "xtb", steps=5)
    assert [r.error is None for r in results] == [True, False, True]
    assert "distance" in results[1].error.lower()  # tblite: "Too close interatomic distances found"
    assert results[0].energy_final == pytest.approx(results[2].energy_final)  # fresh state per molecule
    s = summarize(results)
    assert s["molecules"] == 3 and s["failed"] == 1
    assert s["mean_rmsd"] == pytest.approx(results[0].rmsd)
    assert s["median_energy_drop"] == pytest.approx(results[0].energy_drop)


def test_summarize_counts_and_averages_the_successful_ones(ethanol):
    x0 = _embedded("CCO").pos
    results = [relax_molecule(_perturbed(ethanol, 0.05, seed), lambda m: _Harmonic(x0), steps=s)
               for seed, s in ((0, 200), (1, 200), (2, 1))]
    results.append(relax_molecule(ethanol, lambda m: _Harmonic(x0, 1), steps=200))
    s = summarize(results)
    ok = results[:3]
    assert (s["molecules"], s["failed"]) == (4, 1)
    assert s["converged"] == sum(r.converged for r in ok) == 2  # one step is not enough
    assert s["bonds_changed"] == sum(r.bonds_changed for r in ok)
    assert s["mean_rmsd"] == pytest.approx(np.mean([r.rmsd for r in ok]))
    assert s["median_energy_drop"] == pytest.approx(np.median([r.energy_drop for r in ok]))
    assert np.isnan(summarize([])["mean_rmsd"]) and summarize([])["molecules"] == 0


# --------------------------------------------------------------------- files
def test_write_relaxed_round_trips_and_refuses_to_overwrite(tmp_path, ethanol, xtb_result):
    x0 = _embedded("CCO").pos
    failed = relax_molecule(ethanol, lambda m: _Harmonic(x0, 1))
    no_bonds = relax_molecule(GeneratedMolecule(ethanol.atomic_numbers, ethanol.pos, ethanol.charges, None),
                              lambda m: _Harmonic(x0))
    results = [xtb_result, failed, no_bonds]
    path = write_relaxed(tmp_path / "relaxed.sdf", results)
    read = [m for m in Chem.SDMolSupplier(str(path), removeHs=False, sanitize=False)]
    assert len(read) == 2 and all(m is not None for m in read)
    for rd, index in zip(read, (0, 2)):
        r = results[index]
        assert int(rd.GetProp("index")) == index
        assert float(rd.GetProp("rmsd_A")) == pytest.approx(r.rmsd, rel=1e-6)
        assert float(rd.GetProp("energy_drop_eV")) == pytest.approx(r.energy_drop, rel=1e-6)
        assert rd.GetProp("bonds_changed") == str(int(r.bonds_changed))
        assert rd.GetProp("converged") == str(int(r.converged))
        np.testing.assert_allclose(rd.GetConformer().GetPositions(), r.relaxed.pos, atol=1e-4)
        assert rd.GetNumBonds() == 8  # ethanol: generated bonds, or perceived from the relaxed distances
    assert Chem.MolToSmiles(Chem.RemoveHs(read[0])) == "CCO"

    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="relaxed.sdf"):
        write_relaxed(path, results[:1])
    assert path.read_bytes() == before
    write_relaxed(path, results[:1], overwrite=True)
    assert len(Chem.SDMolSupplier(str(path), removeHs=False, sanitize=False)) == 1

    report = write_report_csv(tmp_path / "report.csv", results)
    rows = list(csv.DictReader(report.open()))
    assert [int(r["index"]) for r in rows] == [0, 1, 2]
    assert rows[1]["error"].startswith("CalculationFailed") and rows[0]["error"] == ""
    assert float(rows[0]["energy_drop_eV"]) == pytest.approx(xtb_result.energy_drop)
    with pytest.raises(FileExistsError, match="report.csv"):
        write_report_csv(report, results)
    write_report_csv(report, results[:1], overwrite=True)
    assert len(list(csv.DictReader(report.open()))) == 1


def test_mmff_calculator_matches_rdkit_in_ev_and_its_forces_are_the_energy_gradient():
    from molsym.generate.mmff import KCAL_PER_MOL_TO_EV, MMFFCalculator

    mol = _perturbed(_embedded("CC(=O)N"), sigma=0.05)
    atoms = Atoms(numbers=mol.atomic_numbers, positions=mol.pos)
    atoms.calc = MMFFCalculator(mol)
    rd = Chem.AddHs(Chem.MolFromSmiles("CC(=O)N"))  # same atom order as _embedded
    assert AllChem.EmbedMolecule(rd, randomSeed=1) == 0  # RDKit's force field needs a conformer
    ff = AllChem.MMFFGetMoleculeForceField(rd, AllChem.MMFFGetMoleculeProperties(rd))
    assert atoms.get_potential_energy() == pytest.approx(ff.CalcEnergy(mol.pos.reshape(-1).tolist())
                                                         * KCAL_PER_MOL_TO_EV, rel=1e-12)
    assert KCAL_PER_MOL_TO_EV == pytest.approx(0.0433641, rel=1e-5)
    numeric = atoms.calc.calculate_numerical_forces(atoms, d=1e-4)
    assert np.allclose(atoms.get_forces(), numeric, atol=1e-5)


def test_mmff_relaxation_converges_keeps_bonds_and_refuses_graphs_it_cannot_type(ethanol):
    r = relax_molecules([_perturbed(ethanol, sigma=0.1)], "mmff")[0]
    assert r.error is None and r.converged and not r.bonds_changed and r.energy_drop > 0
    no_bonds = GeneratedMolecule(ethanol.atomic_numbers, ethanol.pos, ethanol.charges, None)
    bad_valence = ethanol.bonds.copy()
    c = int(np.flatnonzero(ethanol.atomic_numbers == 6)[0])
    partner = int(np.flatnonzero(ethanol.bonds[c] > 0)[0])
    bad_valence[c, partner] = bad_valence[partner, c] = 3  # a triple bond on a saturated carbon
    bad = GeneratedMolecule(ethanol.atomic_numbers, ethanol.pos, ethanol.charges, bad_valence)
    failed = relax_molecules([no_bonds, bad], "mmff")
    assert "needs the molecule's bonds" in failed[0].error and "sanitize" in failed[1].error
