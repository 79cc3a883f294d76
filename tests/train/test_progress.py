"""Progress piped to a file: plain lines (no bar redraws) with loss, speed and time left."""
import io
import re

import pytest

from molsym.train import train
from molsym.train.progress import LogProgress, format_duration

from train_tiny_data import tiny_config


def test_format_duration():
    assert format_duration(5) == "5s" and format_duration(245) == "4m05s" and format_duration(3720) == "1h02m"


def test_log_progress_prints_steps_and_validations(lj_data, tmp_path):
    stream = io.StringIO()
    train(tiny_config(lj_data, tmp_path / "run", max_epochs=3), extra_callbacks=[LogProgress(2, stream=stream)])
    lines = stream.getvalue().splitlines()
    steps = [line for line in lines if "steps/s" in line]
    vals = [line for line in lines if "validation:" in line]
    assert len(steps) >= 5 and len(vals) == 3  # 20 frames / batch 4 = 5 steps per epoch, 3 validations
    assert re.search(r"step 2 .*loss [0-9.e+-]+ .*steps/s .*left \d", steps[0])
    assert "\r" not in stream.getvalue()
    with pytest.raises(ValueError):
        LogProgress(0)


def test_piped_training_has_no_progress_bar(lj_data, tmp_path, capsys):
    cfg = tiny_config(lj_data, tmp_path / "run", max_epochs=2)
    del cfg["trainer"]["enable_progress_bar"]  # let molsym choose: stdout is captured, not a terminal
    result = train(cfg)
    assert not result["trainer"].progress_bar_callback
    out = capsys.readouterr().out
    assert "validation: loss" in out and "\r" not in out
