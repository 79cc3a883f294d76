"""A seconds-long learn setup: EMT labels (ASE), a tiny EGNN committee, a few MD steps."""
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_tiny_data import tiny_config  # noqa: E402

#: any ASE calculator is a labeller; EMT has (rough) parameters for H, C, N, O and runs in microseconds
EMT = "ase.calculators.emt:EMT"


@pytest.fixture
def tiny_learn_config(tmp_path) -> Path:
    """A training config for the members: an 8-channel EGNN, a few epochs (learn sets data and output)."""
    cfg = tiny_config(tmp_path / "unused.xyz", tmp_path / "unused", max_epochs=4)
    cfg["data"]["init_args"]["split"] = {"val": 0.2, "test": 0, "seed": 0}
    cfg["data"]["init_args"]["e0s"] = "isolated"
    del cfg["data"]["init_args"]["cache_dir"]
    path = tmp_path / "tiny_learn.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def tiny_settings(out, config, **changes):
    """LearnSettings of a run of seconds on water."""
    from molsym.learn import LearnSettings

    values = dict(smiles="O", out=str(out), labeller=EMT, config=str(config), committee=2, seed_frames=8,
                  seed_stride=5, seed_equilibration=10, frames_per_iteration=4, max_iterations=2, md_runs=2,
                  md_steps=60, sample_every=10, min_gap=20, threshold=1e-4, train_minutes=1.0)
    values.update(changes)
    return LearnSettings(**values)
