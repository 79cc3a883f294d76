"""The run's CSV and TensorBoard loggers; a resumed run continues the earlier run's logs.

Lightning starts a new ``version_N`` folder for every ``fit``, so a run that
was killed and resumed would have its history split in two, and the
learning curve would show only the resumed part. :func:`build_loggers` with
``resume_step`` reuses the latest version instead: TensorBoard appends a new
event file beside the old ones, and :class:`ContinuedCSVLogger` writes the
earlier rows (those before the checkpoint's step; later ones are trained again)
back before the new ones, so ``metrics.csv`` stays one file.
"""
from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import List, Optional

from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment

__all__ = ["build_loggers", "ContinuedCSVLogger", "latest_version", "checkpoint_step"]


def latest_version(folder: Path) -> Optional[int]:
    """The highest ``N`` of the ``version_N`` folders in ``folder`` (None when there are none)."""
    numbers = [int(p.name.split("_", 1)[1]) for p in Path(folder).glob("version_*")
               if p.is_dir() and p.name.split("_", 1)[1].isdigit()]
    return max(numbers) if numbers else None


def checkpoint_step(path) -> Optional[int]:
    """The ``global_step`` stored in a Lightning checkpoint (None when it cannot be read safely)."""
    import torch

    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])
    except Exception:  # an unreadable step only means every earlier row is kept
        return None


class ContinuedCSVLogger(CSVLogger):
    """A :class:`CSVLogger` whose first write keeps the rows already in its ``metrics.csv``.

    Parameters
    ----------
    until_step : int, optional
        Keep only earlier rows with ``step < until_step``, the resumed
        checkpoint's ``global_step`` (Lightning logs optimizer step ``k``,
        counted from 0, as ``step=k``; the rest was trained again); None keeps all.
    """

    def __init__(self, *args, until_step: Optional[int] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.until_step = until_step

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._experiment is not None:
            return self._experiment
        earlier = _read_rows(Path(self.log_dir) / "metrics.csv", self.until_step)
        with warnings.catch_warnings():      # its "will be deleted" warning is not true of this logger
            warnings.filterwarnings("ignore", message="Experiment logs directory")
            writer = super().experiment      # Lightning's writer removes the old file here ...
        if earlier:
            writer.metrics.extend(earlier)   # ... and the rows are written straight back
            writer.save()
        return writer


def _read_rows(path: Path, until_step: Optional[int]) -> List[dict]:
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            values = {}
            for key, text in row.items():
                if key is None or text in ("", None):
                    continue
                try:
                    values[key] = int(float(text)) if key in ("step", "epoch") else float(text)
                except ValueError:
                    values[key] = float(text)
            if until_step is not None and values.get("step", 0) >= until_step:
                continue
            rows.append(values)
    return rows


def build_loggers(out: Path, resume_step: Optional[int] = None, resuming: bool = False):
    """CSV (``<out>/csv``) and TensorBoard (``<out>/tensorboard``) loggers.

    With ``resuming`` the latest existing version of each is continued
    (CSV rows after ``resume_step`` dropped); otherwise a new version starts.
    """
    out = Path(out)
    csv_version = latest_version(out / "csv") if resuming else None
    tb_version = latest_version(out / "tensorboard") if resuming else None
    csv_logger = ContinuedCSVLogger(out, name="csv", version=csv_version, until_step=resume_step) \
        if csv_version is not None else CSVLogger(out, name="csv")
    tb_logger = TensorBoardLogger(out, name="tensorboard", default_hp_metric=False, version=tb_version)
    return [csv_logger, tb_logger]
