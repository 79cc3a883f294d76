"""Generator files: one self-describing format for every generator family.

A file holds the generator's class path, its constructor arguments
(``to_config()``, plain types), the (EMA) weights including the atom-count
histogram buffers, and free ``extra`` metadata (training data, step, CPU
time). It is written atomically and read with ``torch.load(weights_only=True)``,
so an untrusted file cannot run code; only classes under ``molsym.`` are
rebuilt. Files of format version 1 (the EDM generator before generators
joined ``molsym train``) still load.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import torch

from molsym.data.errors import DataError
from molsym.files import atomic_path

__all__ = ["FORMAT", "FORMAT_VERSION", "save_generator", "load_generator", "export_generator_checkpoint"]

FORMAT = "molsym-generator"
FORMAT_VERSION = 2
_EDM_CLASS = "molsym.diffusion.diffusion.EquivariantDiffusion"


def _class_path(model: torch.nn.Module) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def save_generator(model: torch.nn.Module, path, extra: Optional[dict] = None) -> Path:
    """Write ``model`` (a generator with ``to_config()``) to ``path`` atomically."""
    path = Path(path)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "class_path": _class_path(model),
               "config": model.to_config(),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "extra": dict(extra or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_generator(path, device: str = "cpu", dtype: torch.dtype = torch.float32) -> Tuple[torch.nn.Module, dict]:
    """Load a generator file; returns ``(model in eval mode, extra)``.

    Raises :class:`DataError` naming the file when it is not a molsym
    generator of a supported version.
    """
    from molsym.diffusion.nodes import AtomCountDistribution
    from molsym.train.config import import_object

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"generator file not found: {path}")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not a generator file"
        raise DataError(str(path), None, f"cannot read a generator file: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataError(str(path), None, "not a molsym generator file (did you pass a force-field model?)")
    version = payload.get("format_version")
    if version not in (1, FORMAT_VERSION):
        raise DataError(str(path), None, f"generator format version {version} is not supported "
                        f"(this molsym reads versions 1 and {FORMAT_VERSION})")
    class_path = payload.get("class_path", _EDM_CLASS)
    if not class_path.startswith("molsym."):
        raise DataError(str(path), None, f"generator class {class_path!r} is not a molsym class")
    state = payload["state_dict"]
    counts = AtomCountDistribution(state["atom_counts.counts"], state["atom_counts.edges"], state["atom_counts.joint"])
    model = import_object(class_path)(atom_counts=counts, **payload["config"]).to(dtype=dtype)
    model.load_state_dict(state)  # after the cast: float64 weights are not rounded through float32
    model.to(device=device).eval()
    return model, payload.get("extra", {})


def export_generator_checkpoint(checkpoint, out, ema: bool = True, extra: Optional[dict] = None) -> Path:
    """Write the (EMA) generator of a ``molsym train`` checkpoint as a generator file."""
    from molsym.train.generator_module import GeneratorModule

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    hp = ckpt.get("hyper_parameters") or {}
    if "model" not in hp or "optimizer" not in hp:
        raise DataError(str(checkpoint), None, "not a generator training checkpoint of molsym train")
    module = GeneratorModule(**hp)
    module.load_state_dict(ckpt["state_dict"])
    model = module.averaged_model if ema else module.model
    meta = {"source_checkpoint": str(checkpoint), "epoch": int(ckpt.get("epoch", -1)),
            "global_step": int(ckpt.get("global_step", -1)), "weights": "ema" if ema and module.ema else "raw"}
    meta.update(extra or {})
    return save_generator(model, out, meta)
