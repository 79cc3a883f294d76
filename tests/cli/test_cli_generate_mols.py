"""`molsym generate` and `molsym eval-gen` end to end (tiny untrained generator)."""
import ase.io
import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from molsym.cli.main import main
from molsym.diffusion import AtomCountDistribution, EquivariantDiffusion
from molsym.generate import GeneratedMolecule
from molsym.generate.export import read_sdf, write_sdf
from molsym.generate import save_generator


def _embedded(smiles, seed=0):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    AllChem.MMFFOptimizeMolecule(mol)
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    return GeneratedMolecule(z, mol.GetConformer().GetPositions(), np.zeros(len(z), dtype=np.int64))


@pytest.fixture
def generator_file(tmp_path):
    torch.manual_seed(0)
    counts = AtomCountDistribution.fit(torch.tensor([4, 5, 6]), torch.tensor([1.0, 2.0, 3.0]), num_bins=2)
    model = EquivariantDiffusion([1, 6, 8], counts, T=10, denoiser={"hidden": 8, "num_layers": 1},
                                 conditions=["alpha"], condition_mean=torch.tensor([2.0]),
                                 condition_mad=torch.tensor([1.0]))
    return save_generator(model, tmp_path / "gen.pt")


def test_generate_writes_sdf_xyz_png(tmp_path, generator_file, capsys):
    out = tmp_path / "mols.sdf"
    rc = main(["generate", "--model", str(generator_file), "--n", "5", "--steps", "4", "--batch-size", "3",
               "--condition", "alpha=2.5", "--out", str(out), "--png", "4", "--xyz"])
    assert rc == 0
    mols = read_sdf(out)
    assert len(mols) == 5 and all(4 <= m.num_atoms <= 6 and m.bonds is None for m in mols)
    frames = ase.io.read(out.with_suffix(".xyz"), index=":")
    assert len(frames) == 5
    assert np.allclose(frames[0].positions, mols[0].pos, atol=1e-4)
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    # same seed, same molecules
    out2 = tmp_path / "again.sdf"
    main(["generate", "--model", str(generator_file), "--n", "5", "--steps", "4", "--batch-size", "3",
          "--condition", "alpha=2.5", "--out", str(out2), "--png", "0"])
    assert all(np.allclose(a.pos, b.pos) for a, b in zip(mols, read_sdf(out2)))


def test_generate_rejects_bad_input(tmp_path, generator_file, capsys):
    args = ["generate", "--model", str(generator_file), "--n", "2", "--out", str(tmp_path / "m.sdf")]
    assert main(args) == 2  # a conditional model without --condition
    assert "conditioned on ['alpha']" in capsys.readouterr().err
    assert main(args + ["--condition", "alpha=x"]) == 2
    assert main(args + ["--condition", "alpha=1", "--steps", "11"]) == 2
    assert main(["generate", "--model", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "m.sdf")]) == 2


def test_eval_gen_scores_known_molecules(tmp_path, capsys):
    mols = [_embedded(s) for s in ("CCO", "CC#N", "OC=O", "CCO")]
    path = write_sdf(tmp_path / "known.sdf", mols)
    ref = tmp_path / "train.smi"
    ref.write_text("OCC\nC\n")
    rc = main(["eval-gen", str(path), "--reference", str(ref), "--json", str(tmp_path / "m.json")])
    assert rc == 0
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.startswith("known.sdf"))
    # all stable and valid; 3 unique of 4; 2 of the 3 unique are not in the reference
    assert row.split()[1:] == ["100.0", "100.0", "100.0", "75.0", "66.7"]
    assert "EDM (1000 steps)" in text
    import json
    assert json.loads((tmp_path / "m.json").read_text())["uniqueness_dist"] == pytest.approx(0.75)  # no generated bonds: distance protocol


def test_eval_gen_missing_file(tmp_path, capsys):
    assert main(["eval-gen", str(tmp_path / "none.sdf")]) == 2
    assert "none.sdf" in capsys.readouterr().err
