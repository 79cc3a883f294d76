"""`molsym generate` with a flow generator: SDF with the generated bonds and charges, seeds, options, scores."""
import csv

import numpy as np
import pytest
import torch

from molsym.cli.main import main
from molsym.flow import FlowMatchingGenerator
from molsym.generate import save_generator
from molsym.generate.export import read_sdf


@pytest.fixture
def flow_file(tmp_path):
    torch.manual_seed(0)
    model = FlowMatchingGenerator([1, 6, 7, 8], torch.tensor([0.0, 0, 0, 1, 2, 1]),
                                  network={"hidden": 16, "edge_dim": 8, "msg_dim": 8, "num_layers": 1, "num_rbf": 8})
    return save_generator(model, tmp_path / "flow.pt")


def test_generate_writes_generated_bonds_and_is_reproducible(tmp_path, flow_file, capsys):
    out = tmp_path / "mols.sdf"
    args = ["generate", "--model", str(flow_file), "--n", "5", "--steps", "3", "--batch-size", "2", "--seed", "7"]
    assert main(args + ["--out", str(out), "--xyz", "--png", "2"]) == 0
    text = capsys.readouterr().out
    assert "molecules/s" in text and "generated bonds: atom stable" in text and "distance protocol" in text
    mols = read_sdf(out)
    assert len(mols) == 5 and all(3 <= m.num_atoms <= 5 and m.bonds is not None for m in mols)
    assert out.with_suffix(".xyz").is_file() and out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    again = tmp_path / "again.sdf"
    assert main(args + ["--out", str(again), "--png", "0"]) == 0
    for a, b in zip(mols, read_sdf(again)):
        assert np.allclose(a.pos, b.pos) and np.array_equal(a.bonds, b.bonds)
    other = tmp_path / "other.sdf"
    assert main(args[:-1] + ["8", "--out", str(other), "--png", "0"]) == 0
    assert not all(np.allclose(a.pos, b.pos) for a, b in zip(mols, read_sdf(other)) if a.num_atoms == b.num_atoms)


def test_generate_refuses_what_does_not_apply_and_never_overwrites(tmp_path, flow_file, capsys):
    out = tmp_path / "m.sdf"
    base = ["generate", "--model", str(flow_file), "--n", "2", "--steps", "2", "--png", "0", "--out", str(out)]
    assert main(base + ["--sampler", "ddim"]) == 2
    assert "--sampler does not apply" in capsys.readouterr().err
    assert main(base + ["--condition", "alpha=1"]) == 2
    assert "unconditional" in capsys.readouterr().err
    assert main(base + ["--temperature", "0"]) == 2
    assert "--temperature must be positive" in capsys.readouterr().err
    assert main(base + ["--time-power", "-1"]) == 2
    assert "--time-power must be positive" in capsys.readouterr().err
    assert main(base + ["--eta", "0.5", "--temperature", "0.8", "--time-power", "3"]) == 0
    before = out.read_bytes()
    assert main(base) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before
    assert main(base + ["--force", "--seed", "3"]) == 0
    assert main(base[:-1] + [str(tmp_path / "m.txt")]) == 2
    assert main(["generate", "--model", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x.sdf")]) == 2
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    assert main(["generate", "--model", str(bad), "--out", str(tmp_path / "x.sdf")]) == 2
    assert "bad.pt" in capsys.readouterr().err


def test_eval_gen_reads_bonds_from_the_sdf(tmp_path, flow_file, capsys):
    out = tmp_path / "m.sdf"
    assert main(["generate", "--model", str(flow_file), "--n", "4", "--steps", "2", "--png", "0",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval-gen", str(out), "--json", str(tmp_path / "m.json")]) == 0
    text = capsys.readouterr().out
    assert "generated bonds and charges" in text and "bonds from distances (EDM protocol)" in text
    import json
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert {"mol_stable", "mol_stable_dist", "validity", "validity_dist"} <= set(metrics)


def test_the_shipped_default_is_a_flow_generator_with_bonds():
    from molsym.cli.generate import DEFAULT_MODEL
    from molsym.generate import load_generator

    model, extra = load_generator(DEFAULT_MODEL)
    assert type(model).__name__ == "FlowMatchingGenerator" and extra["weights"] == "ema"
    assert model.species == [1, 6, 7, 8, 9] and model.atom_counts.max_atoms >= 25
    mols = model.sample_molecules(2, steps=2, generator=torch.Generator().manual_seed(0))
    assert all(m.bonds is not None for m in mols)


def test_generate_relax_mmff_writes_the_relaxed_file_and_a_row_per_molecule(tmp_path, flow_file, capsys):
    out = tmp_path / "m.sdf"
    assert main(["generate", "--model", str(flow_file), "--n", "4", "--steps", "2", "--png", "0",
                 "--out", str(out), "--relax", "mmff", "--relax-steps", "20"]) == 0
    text = capsys.readouterr().out
    rows = list(csv.DictReader(open(tmp_path / "m_relax.csv")))
    assert len(rows) == 4
    failed = sum(1 for r in rows if r["error"])
    assert f"{failed} failed" in text and "relaxed with mmff" in text
    assert (tmp_path / "m_relaxed.sdf").is_file()
    if failed < 4:  # an untrained tiny model's graphs often cannot be typed for MMFF
        assert f"the {4 - failed} of 4 molecules that relaxed" in text
        assert len(read_sdf(tmp_path / "m_relaxed.sdf")) == 4 - failed
