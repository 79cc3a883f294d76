"""Compiled inference paths for molsym force fields, kept out of ``forward``.

:func:`compile_model` returns a callable with the model's own signature,
``runner(batch, compute_forces=True, compute_stress=False) -> dict``, so the
calculator and ``molsym export`` treat every path alike.

Modes
-----
``None`` / ``"eager"``
    The model itself.
``"script"``
    TorchScript (:func:`torch.jit.script`, via e3nn's scripting helper so
    that e3nn's code-generated modules are compiled too) of
    :class:`InferenceForceField`, which runs the model's own energy core
    (``ForceField.species_energy``) and gradient code
    (:mod:`molsym.nn.grad`). The script module can be saved with
    :func:`save_compiled` and loaded without molsym (``molsym export
    --compile script``).

``"compile"`` (:func:`torch.compile`) was removed: see :data:`TORCH_COMPILE_REMOVED`
for the measurement behind it. Asking for it raises :class:`CompileError`
with that line.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, Dict, Optional

import torch

from molsym.data import keys as K
from molsym.files import atomic_path
from molsym.nn.grad import attach_gradients, differentiable_edges

MODES = (None, "eager", "script")

#: why ``compile="compile"`` is refused (issue 23, measured 2026-12-03, ACE of configs/acac.yaml at
#: 8 channels, float64, a 15-atom molecule, 1 thread on a shared 2-core CPU VM, torch 2.13)
TORCH_COMPILE_REMOVED = (
    "compile mode 'compile' (torch.compile) was removed: on a small ACE model its first call took 100 s "
    "and warm calls were no faster than eager (8.9 ms against 8.7 ms eager and 5.6 ms TorchScript, "
    "15 atoms, 2-core CPU); use compile='script' (TorchScript, `--compile script`) instead")

Runner = Callable[..., Dict[str, torch.Tensor]]


class CompileError(RuntimeError):
    """The requested inference path does not work for this model."""


class InferenceForceField(torch.nn.Module):
    """A ``ForceField`` on the inference path: atomic numbers in, energy/forces/stress out.

    Holds the model and its E0 table in the model's dtype (fixed at
    wrapping time) and runs :func:`molsym.nn.grad.differentiable_edges` →
    ``ForceField.species_energy`` → :func:`molsym.nn.grad.attach_gradients`,
    the same code as the eager ``ForceField.forward``, in a form TorchScript
    compiles. An unknown element raises ``ValueError`` naming its atomic number.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.cutoff = float(model.cutoff)          # what the calculator reads from any model
        self.species = [int(z) for z in model.species]
        self.register_buffer("e0", model.e0_table(model.species_offset.detach()))

    def forward(self, batch: Dict[str, torch.Tensor], compute_forces: bool = True,
                compute_stress: bool = False) -> Dict[str, torch.Tensor]:
        numbers = batch[K.ATOMIC_NUMBERS]
        species, bad = self.model.lookup_species(numbers)
        if bool(bad.any()):
            z = int(numbers[bad][0])
            raise ValueError("atomic number " + str(z) + " is not among the model's species " + str(self.species))
        if (compute_forces or compute_stress) and not torch.is_grad_enabled():
            # TorchScript cannot switch grad mode on (torch.enable_grad is Python-only)
            raise RuntimeError("forces and stress need autograd: do not call under torch.no_grad()")
        edge_vec, inputs = differentiable_edges(batch, compute_forces, compute_stress)
        out = self.model.species_energy(batch, edge_vec, species, self.e0)
        return attach_gradients(out, batch, inputs, compute_forces, compute_stress, False)


def _script(model: torch.nn.Module) -> torch.jit.ScriptModule:
    try:
        from e3nn.util.jit import script as e3nn_script
    except ImportError:  # pragma: no cover - e3nn is a dependency
        e3nn_script = torch.jit.script
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return e3nn_script(InferenceForceField(model))


def _describe(mode: str, model: torch.nn.Module, err: Exception) -> str:
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    return f"compile mode {mode!r} failed for {type(model).__name__}: {type(err).__name__}: {first}"


def check_mode(mode: Optional[str]) -> None:
    """Refuse a ``mode`` that :func:`compile_model` does not offer, before any model is loaded.

    Raises
    ------
    CompileError
        For ``"compile"`` (torch.compile), with :data:`TORCH_COMPILE_REMOVED`.
    ValueError
        For any other unknown mode.
    """
    if mode == "compile":
        raise CompileError(TORCH_COMPILE_REMOVED)
    if mode not in MODES:
        raise ValueError(f"unknown compile mode {mode!r}; choose one of {MODES}")


def compile_model(model: torch.nn.Module, mode: Optional[str] = None,
                  example: Optional[Dict[str, torch.Tensor]] = None) -> Runner:
    """Return ``model`` on the inference path ``mode`` (see the module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        A ``ForceField`` in eval mode, or a TorchScript module (returned as it is).
    mode : {None, "eager", "script"}
    example : dict, optional
        A graph to run once (forces on, autograd on), so that a failure
        surfaces here rather than at the first MD step.

    Raises
    ------
    CompileError
        When the model cannot take this path, or ``mode`` is the removed
        ``"compile"``; the message names the mode and the reason.
    """
    check_mode(mode)
    if mode in (None, "eager") or isinstance(model, torch.jit.ScriptModule):
        return model  # a ScriptModule is a file from `molsym export --compile script`
    try:
        runner = _script(model)
        if example is not None:
            with torch.enable_grad():  # forces need autograd, also under a caller's no_grad
                runner(example, compute_forces=True, compute_stress=False)
    except Exception as err:  # re-raised with context, never swallowed
        raise CompileError(_describe(mode, model, err)) from err
    return runner


#: name of the metadata entry in a saved TorchScript model (``torch.jit.load(_extra_files=...)``)
METADATA = "molsym.json"


def is_compiled_file(path) -> bool:
    """Whether ``path`` is a TorchScript model written by :func:`save_compiled`."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any("/code/" in n for n in names) and any(n.endswith("extra/" + METADATA) for n in names)


def load_compiled(path, device: str = "cpu"):
    """Load a TorchScript model written by ``molsym export --compile script``.

    Returns ``(module, metadata)``; the module has the model's signature and
    ``cutoff`` / ``species`` attributes, and needs neither molsym nor e3nn.
    """
    import json
    extra = {METADATA: ""}
    module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    return module.eval(), json.loads(extra[METADATA] or "{}")


def save_compiled(runner: torch.jit.ScriptModule, path, extra_files: Optional[Dict[str, str]] = None) -> Path:
    """Write a TorchScript module atomically (temp file in the same folder, then rename)."""
    if not isinstance(runner, torch.jit.ScriptModule):
        raise TypeError("only TorchScript modules (mode='script') can be saved")
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.jit.save(runner, str(tmp), _extra_files=extra_files or {})
    return path
