"""One loader for every file that holds a molsym force field.

:func:`load_force_field` reads an exported model file (``molsym export``),
a TorchScript export (``molsym export --compile script``) or a training
checkpoint (``molsym train``, EMA weights), telling them apart by their
content rather than their name. ``MolSymCalculator`` and every command load
models through it, so a file that cannot be loaded fails the same way
everywhere: one :class:`~molsym.nn.io.ModelFileError` whose one-line message
names the file and what is wrong with it.

Only tensors and plain Python values are unpickled
(``torch.load(weights_only=True)``); a file holding anything else is refused.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import torch

from molsym.calculator.compile import is_compiled_file, load_compiled
from molsym.calculator.committee import is_committee_file, read_committee
from molsym.nn.io import FORMAT, ModelFileError, check_model_payload, model_from_payload, read_torch_file
from molsym.nn.model import parse_dtype

__all__ = ["load_force_field"]


def load_force_field(path: Union[str, os.PathLike], device: Union[str, torch.device] = "cpu",
                     dtype: Optional[Union[str, torch.dtype]] = None) -> torch.nn.Module:
    """Load the force field in ``path``, whatever molsym file it is.

    Parameters
    ----------
    path : str or Path
        A model file, a TorchScript model file or a ``.ckpt`` training
        checkpoint (its EMA weights, as ``molsym export`` would write them).
    device : str or torch.device
    dtype : "float32" | "float64" | torch.dtype, optional
        Convert after loading; default keeps the stored precision.

    Returns
    -------
    torch.nn.Module
        In eval mode, with ``cutoff`` and ``species`` attributes.

    Raises
    ------
    ModelFileError
        For every file that cannot be loaded (missing, empty, truncated,
        not a torch file, holding objects that are not plain values, not a
        molsym model or checkpoint, weights that do not fit, a committee
        file); the message is one line that starts with the file's name.

    Examples
    --------
    >>> model = load_force_field("model.pt")  # doctest: +SKIP
    >>> model = load_force_field("run/checkpoints/best.ckpt", dtype="float32")  # doctest: +SKIP
    """
    path = Path(path)
    if is_committee_file(path):
        members = read_committee(path)
        raise ModelFileError(f"{path}: a committee of {len(members)} models, not one force field; "
                             "MolSymCalculator and molsym md take it (mean and spread), other uses need "
                             f"one member ({members[0]})")
    if is_compiled_file(path):
        model = _load_script(path, device)
    else:
        payload = read_torch_file(path, "model file or checkpoint")
        if isinstance(payload, dict) and payload.get("format") == FORMAT:
            model = model_from_payload(check_model_payload(payload, path), path)
        elif isinstance(payload, dict) and "hyper_parameters" in payload:
            from molsym.train.export import checkpoint_model
            model, _ = checkpoint_model(payload, path)
        else:
            raise ModelFileError(f"{path}: neither a molsym model file (molsym export) nor a molsym "
                                 f"training checkpoint (it holds a {type(payload).__name__}"
                                 + (f" with keys {sorted(map(str, payload))[:6]}" if isinstance(payload, dict)
                                    else "") + ")")
    if dtype is not None:
        model = model.to(parse_dtype(dtype))
    return model.to(device).eval()


def _load_script(path: Path, device: Union[str, torch.device]) -> torch.nn.Module:
    """A TorchScript export; its load errors become one-line :class:`ModelFileError`."""
    try:
        model, _ = load_compiled(path, device=str(device))
    except (RuntimeError, ValueError, OSError) as err:  # torch.jit.load and the JSON metadata
        first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
        raise ModelFileError(f"{path}: cannot load this TorchScript model file "
                             f"({type(err).__name__}: {first})") from err
    return model
