"""Save and load force fields as one self-describing file.

The file is a ``torch.save`` of a plain dict (loadable with
``torch.load(weights_only=True)``)::

    {"format": "molsym-force-field", "format_version": 2, "molsym_version": "0.1.0",
     "config": {...build_model config...}, "state_dict": {...},
     "units": {"energy": "eV", "length": "Å"}, "dtype": "float64",
     "cutoff": 5.0, "e0s": {Z: eV}, "extra": {...}}

Writes are atomic (:func:`molsym.files.atomic_path`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

import molsym
from molsym.files import atomic_path
from molsym.nn.model import ForceField, build_model, parse_dtype

__all__ = ["save_model", "load_model", "read_model_file", "ModelFileError", "FORMAT", "FORMAT_VERSION", "UNITS"]

FORMAT = "molsym-force-field"
FORMAT_VERSION = 2  # 2: learnable per-species offset, switched shift
UNITS = {"energy": "eV", "length": "Å"}
REQUIRED_KEYS = ("format", "format_version", "molsym_version", "config", "state_dict", "units", "dtype",
                 "cutoff", "e0s")

PathLike = Union[str, os.PathLike]


class ModelFileError(ValueError):
    """A model file that molsym cannot load; the message names the file."""


def save_model(model: ForceField, path: PathLike, extra: Optional[Dict[str, Any]] = None) -> Path:
    """Write ``model`` (architecture config + weights + metadata) to ``path`` atomically.

    Parameters
    ----------
    model : ForceField
        Built by :func:`molsym.nn.build_model` (it needs ``to_config``).
    path : str or Path
    extra : dict, optional
        Plain metadata (numbers, strings, lists, dicts) stored under ``"extra"``,
        e.g. training metrics.

    Returns
    -------
    Path of the written file.
    """
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "molsym_version": molsym.__version__,
        "config": model.to_config(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "units": dict(UNITS),
        "dtype": str(model.dtype).replace("torch.", ""),
        "cutoff": float(model.cutoff),
        "e0s": model.e0s,
        "extra": dict(extra or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_model_file(path: PathLike) -> Dict[str, Any]:
    """Read and validate the dict in a model file (no model is built)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a file that is not a checkpoint
        raise ModelFileError(f"{path}: not a molsym model file ({type(err).__name__}: {err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a molsym model file (format is not {FORMAT!r})")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model file format version {version!r} is not supported by molsym "
            f"{molsym.__version__} (reads version {FORMAT_VERSION}); written by molsym "
            f"{payload.get('molsym_version', 'unknown')}. Re-export it with a matching molsym.")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ModelFileError(f"{path}: model file is missing {missing}")
    if payload["units"] != UNITS:
        raise ModelFileError(f"{path}: model units {payload['units']} differ from molsym's {UNITS}")
    return payload


def load_model(path: PathLike, device: Union[str, torch.device] = "cpu",
               dtype: Union[None, str, torch.dtype] = None) -> ForceField:
    """Rebuild a force field from a file written by :func:`save_model`.

    Parameters
    ----------
    path : str or Path
    device : str or torch.device, default "cpu"
    dtype : "float32" | "float64" | torch.dtype, optional
        Convert after loading; default keeps the stored precision.

    Returns
    -------
    ForceField in eval mode.
    """
    payload = read_model_file(path)
    model = build_model(payload["config"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ModelFileError(f"{path}: weights do not match the stored architecture: {err}") from err
    if dtype is not None:
        model = model.to(parse_dtype(dtype))
    return model.to(device).eval()
