"""Save and load a trained generator as one self-describing file.

The file holds the model config (plain types), the weights (EMA), the
atom-count histograms and free ``extra`` metadata (training data, metrics).
It is written atomically and read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import torch

from molsym.data.errors import DataError
from molsym.files import atomic_path

from .diffusion import EquivariantDiffusion
from .nodes import AtomCountDistribution

__all__ = ["FORMAT", "FORMAT_VERSION", "save_generator", "load_generator"]

FORMAT = "molsym-generator"
FORMAT_VERSION = 1


def save_generator(model: EquivariantDiffusion, path, extra: Optional[dict] = None) -> Path:
    """Write ``model`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.to_config(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_generator(path, device: str = "cpu", dtype: torch.dtype = torch.float32) -> Tuple[EquivariantDiffusion, dict]:
    """Load a generator file; returns ``(model in eval mode, extra)``.

    Raises :class:`DataError` naming the file if it is not a molsym generator
    of a supported format version.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"generator file not found: {path}")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not our file"
        raise DataError(str(path), None, f"cannot read a generator file: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataError(str(path), None, "not a molsym generator file (did you pass a force-field model?)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise DataError(str(path), None, f"generator format version {payload.get('format_version')} "
                        f"is not supported (this molsym reads version {FORMAT_VERSION})")
    state = payload["state_dict"]
    counts = AtomCountDistribution(state["atom_counts.counts"], state["atom_counts.edges"],
                                   state["atom_counts.joint"])
    model = EquivariantDiffusion(atom_counts=counts, **payload["config"])
    model.load_state_dict(state)
    model.to(device=device, dtype=dtype).eval()
    return model, payload.get("extra", {})
