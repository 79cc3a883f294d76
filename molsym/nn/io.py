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
import pickle
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

import molsym
from molsym.files import atomic_path
from molsym.nn.model import ForceField, build_model, parse_dtype, stored_config

__all__ = ["save_model", "load_model", "read_model_file", "read_torch_file", "check_model_payload",
           "model_from_payload", "ModelFileError", "FORMAT", "FORMAT_VERSION", "UNITS"]

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


def read_torch_file(path: PathLike, kind: str = "model file") -> Any:
    """``torch.load(path, weights_only=True)``; every failure is one :class:`ModelFileError`.

    Only tensors and plain Python types are unpickled: a file that holds any
    other object is refused, never run. The message names the file and says
    what is wrong with it (missing, empty, truncated, not written by
    ``torch.save``, or refused), in one line.

    Parameters
    ----------
    path : str or Path
    kind : str
        What the file should be ("model file", "training checkpoint"), for the message.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such {kind}" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        with warnings.catch_warnings():  # a plain pickle (not torch.save) draws a protocol warning first
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a file it cannot read; each becomes one line
        raise ModelFileError(f"{path}: cannot read this {kind}: {_why_unreadable(path, err)}") from err


def _why_unreadable(path: Path, err: Exception) -> str:
    """One line saying why ``torch.load`` failed on ``path``."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    first = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
    if isinstance(err, pickle.UnpicklingError) and "weights only" in str(err).lower():
        return ("it holds Python objects other than tensors and plain values, which molsym never "
                "unpickles (torch.load weights_only=True refused it)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as read_err:
        return f"{type(read_err).__name__}: {read_err}"
    if not head:
        return "the file is empty"
    if head == b"PK\x03\x04" or isinstance(err, EOFError):
        return f"the file is truncated or corrupt ({first})"
    return f"not a file written by torch.save ({first})"


def check_model_payload(payload: Any, path: PathLike) -> Dict[str, Any]:
    """Validate the dict read from a model file: format, version, keys and units."""
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


def read_model_file(path: PathLike) -> Dict[str, Any]:
    """Read and validate the dict in a model file (no model is built)."""
    return check_model_payload(read_torch_file(path, "model file"), path)


def model_from_payload(payload: Dict[str, Any], path: PathLike, device: Union[str, torch.device] = "cpu",
                       dtype: Union[None, str, torch.dtype] = None) -> ForceField:
    """Build the force field of a validated model-file dict (see :func:`check_model_payload`)."""
    try:
        model = build_model(stored_config(payload["config"]))
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"{path}: the stored architecture cannot be built ({type(err).__name__}: {err})") from err
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ModelFileError(f"{path}: weights do not match the stored architecture: "
                             f"{' '.join(str(err).split())}") from err
    if dtype is not None:
        model = model.to(parse_dtype(dtype))
    return model.to(device).eval()


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
    return model_from_payload(read_model_file(path), path, device, dtype)
