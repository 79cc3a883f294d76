"""Shared fixtures. Tests run on one thread: the machine has two cores."""
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

#: The project's shared benchmark data (../shared/data beside the repo).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """Path to ../shared/data; skips the test with a reason when it is absent."""
    if not (SHARED_DATA / "acac" / "train_300K.xyz").exists():
        pytest.skip(f"shared benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request):
    """Run a test in both precisions."""
    return request.param
