"""What a training config needs from the data's labels, checked before anything is built.

Each loss term needs its key (``energy``, ``forces``, ``stress``) in every
split; ``model.scale: auto`` needs the training forces (it is their RMS) and
``model.shift: auto`` the training energies. Which labels the data lacks is
``MolDataModule.missing_labels``. A label that is missing is one
:class:`~molsym.data.errors.DataError` line naming the file, the label and
what to change. To train on energies only, declare only an energy term and
give the scale as a number::

    loss: [{key: energy, fn: mse, weight: 1.0, per_atom: true}]
    model: {..., scale: 1.0}

Files that disagree (some with forces, some without) keep only the labels
they all carry (a batch cannot mix labelled and unlabelled graphs): they
train like energy-only data, and a forces term is refused naming the file
without forces. Within one file the readers refuse such a mix, naming the
first frame without the label.
"""
from __future__ import annotations

from typing import Any, Dict, List

from molsym.data.errors import DataError

__all__ = ["check_labels"]

SPLIT_NAMES = {"train": "training", "val": "validation", "test": "test"}


def check_labels(cfg: Dict[str, Any], dm) -> None:
    """Refuse a config that needs labels the data lacks, before anything is built.

    Each loss term needs its key in every split (``train``, ``val``,
    ``test``); ``model.scale: auto`` needs the training forces and
    ``model.shift: auto`` the training energies. Which labels are missing
    is ``dm.missing_labels`` (:class:`~molsym.data.datamodule.MolDataModule`);
    a data module without it is not checked.

    Raises
    ------
    DataError
        One line naming the file, the label, what needs it and what to
        change (e.g. ``ch4.db: no forces labels in the training data, but
        loss term 'forces' needs them: to train without them, drop the
        forces term (loss: [{key: energy, ...}])``).
    """
    missing = getattr(dm, "missing_labels", None)
    if not missing or "class_path" in (cfg.get("model") or {}):  # generators declare no labels
        return
    terms = [str(t.get("key")) for t in cfg.get("loss") or [] if isinstance(t, dict)]
    model = cfg.get("model") or {}
    for split in ("train", "val", "test"):
        lacking = missing.get(split) or {}
        dataset = getattr(dm, f"{split}_dataset", None)
        if not lacking or (split != "train" and (dataset is None or len(dataset) == 0)):
            continue
        for label, (source, why) in lacking.items():
            users: List[str] = [f"loss term {label!r}"] if label in terms else []
            fixes: List[str] = []
            if users:
                kept = [k for k in terms if k not in lacking]
                fixes.append(f"drop the {label} term (loss: [{{key: {kept[0]}, ...}}])" if kept
                             else f"label the data with {label}")
            auto = {"forces": "scale", "energy": "shift"}.get(label)
            if split == "train" and auto and model.get(auto) == "auto":
                users.append(f"model.{auto}: auto")
                fixes.append(f"set model.{auto} to a number (e.g. model.{auto}={1.0 if auto == 'scale' else 0.0})")
            if not users:
                continue
            raise DataError(source, None, f"{why} in the {SPLIT_NAMES[split]} data, but {' and '.join(users)} "
                                          f"need{'s' if len(users) == 1 else ''} them: to train without them, "
                                          f"{' and '.join(fixes)}")
