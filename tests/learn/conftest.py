"""A seconds-long learn setup: the members' training config (a tiny EGNN)."""
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_tiny_data import tiny_config  # noqa: E402


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
