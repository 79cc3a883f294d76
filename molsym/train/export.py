"""Checkpoint → model: rebuild the force field and load its EMA weights.

Lightning checkpoints written by :mod:`molsym.train.run` hold only plain
types, so they load with ``torch.load(weights_only=True)``. The model config
(species, E0s, cutoff, dtype, ...) is the module's ``hyper_parameters["model"]``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

__all__ = ["load_checkpoint_model", "checkpoint_model", "export_checkpoint", "load_any_model", "UNITS"]

#: Units of every model molsym writes (inside molsym: eV and Å).
UNITS = {"energy": "eV", "length": "Å", "forces": "eV/Å", "stress": "eV/Å^3"}


def load_checkpoint_model(path, ema: bool = True, device: str = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Rebuild the force field stored in a training checkpoint.

    Parameters
    ----------
    path : path
        A ``.ckpt`` written by ``molsym train``.
    ema : bool
        Load the EMA weights (the default, and what is exported); else the raw
        trained weights.

    Returns
    -------
    (ForceField, dict)
        The model in eval mode, and the checkpoint's hyper-parameters plus
        ``epoch`` and ``global_step``.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    molsym.nn.io.ModelFileError
        When it cannot be read (truncated, not a torch file, holding objects
        other than plain values) or is not a molsym training checkpoint; the
        one-line message names the file.
    """
    from molsym.nn.io import read_torch_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such training checkpoint")
    model, hp = checkpoint_model(read_torch_file(path, "training checkpoint"), path, ema=ema)
    return model.to(device), hp


def checkpoint_model(ckpt: Any, path, ema: bool = True) -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """The force field of a checkpoint dict already read (``torch.load(weights_only=True)``).

    Raises :class:`molsym.nn.io.ModelFileError` (a ``ValueError``) naming
    ``path`` when the dict is not a molsym training checkpoint or its
    weights do not fit its architecture.
    """
    from molsym.nn import build_model
    from molsym.nn.io import FORMAT, ModelFileError
    from molsym.nn.model import stored_config

    if isinstance(ckpt, dict) and ckpt.get("format") == FORMAT:
        raise ModelFileError(f"{path}: this is an exported molsym model file, not a training checkpoint")
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hp, dict) or not isinstance(hp.get("model"), dict) or not isinstance(
            ckpt.get("state_dict"), dict):
        raise ModelFileError(f"{path}: not a molsym training checkpoint (no model hyper-parameters "
                             "or no state_dict)")
    hp = dict(hp)
    try:
        model = build_model(stored_config(hp["model"]))
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"{path}: the checkpoint's model config cannot be built "
                             f"({type(err).__name__}: {err})") from err
    state = ckpt["state_dict"]
    prefix = "ema.module." if ema and any(k.startswith("ema.module.") for k in state) else "model."
    try:
        model.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    except RuntimeError as err:
        raise ModelFileError(f"{path}: the checkpoint's weights do not match its model config: "
                             f"{' '.join(str(err).split())}") from err
    model.eval()
    hp.update(epoch=int(ckpt.get("epoch", -1)), global_step=int(ckpt.get("global_step", -1)),
              weights="ema" if prefix.startswith("ema") else "raw")
    return model, hp


def export_checkpoint(checkpoint, out, ema: bool = True, compile: Optional[str] = None) -> Path:
    """Write the checkpoint's (EMA) model as one self-describing file.

    The file (via :func:`molsym.nn.io.save_model`) carries the architecture
    config (with E0s, cutoff, species, dtype), the weights, the units, the
    loss it was trained with and where it came from. With
    ``compile="script"`` the file is instead a TorchScript module
    (:mod:`molsym.calculator.compile`) with the same metadata as a JSON
    entry; it runs without molsym and loads in ``MolSymCalculator``.
    """
    import molsym
    from molsym.nn.io import save_model

    from molsym.calculator.compile import check_mode

    check_mode(compile)  # "compile" (torch.compile) was removed: one line saying why

    model, hp = load_checkpoint_model(checkpoint, ema=ema)
    extra = {"units": dict(UNITS), "loss": hp.get("loss"), "source_checkpoint": str(checkpoint),
             "epoch": hp["epoch"], "global_step": hp["global_step"], "weights": hp["weights"]}
    if compile == "script":
        import json

        from molsym.calculator.compile import METADATA, compile_model, save_compiled
        runner = compile_model(model.requires_grad_(False), "script")
        meta = dict(extra, config=model.to_config(), molsym_version=molsym.__version__, compiled="script")
        save_compiled(runner, out, extra_files={METADATA: json.dumps(meta, default=str)})
    else:
        save_model(model, out, extra=extra)
    return Path(out)


def load_any_model(path, dtype: Optional[str] = None) -> torch.nn.Module:
    """Load a model from an exported file, a TorchScript export or a training checkpoint (EMA weights).

    The same loader as ``MolSymCalculator`` and every command
    (:func:`molsym.calculator.loading.load_force_field`); a file that
    cannot be loaded raises :class:`molsym.nn.io.ModelFileError` naming it.
    """
    from molsym.calculator.loading import load_force_field

    return load_force_field(path, device="cpu", dtype=dtype)
