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
    that e3nn's code-generated modules are compiled too). The script module
    can be saved with :func:`save_compiled` and loaded without molsym.
``"compile"``
    :func:`torch.compile` (Inductor). Raises :class:`CompileError` when the
    model cannot be compiled (e3nn 0.6's code-generated modules fail).
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Dict, Optional

import torch

MODES = (None, "eager", "script", "compile")

Runner = Callable[..., Dict[str, torch.Tensor]]


class CompileError(RuntimeError):
    """The requested inference path does not work for this model."""


def _script(model: torch.nn.Module) -> torch.jit.ScriptModule:
    try:
        from e3nn.util.jit import script as e3nn_script
    except ImportError:  # pragma: no cover - e3nn is a dependency
        e3nn_script = torch.jit.script
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return e3nn_script(model)


class _Compiled(torch.nn.Module):
    """Wrapper holding a ``torch.compile``-d model with the model's signature."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self._fn = torch.compile(model, dynamic=True)

    def forward(self, batch: Dict[str, torch.Tensor], compute_forces: bool = True,
                compute_stress: bool = False) -> Dict[str, torch.Tensor]:
        try:
            return self._fn(batch, compute_forces=compute_forces, compute_stress=compute_stress)
        except Exception as err:  # compilation is lazy: name the cause, keep the traceback
            raise CompileError(_describe("compile", self.model, err)) from err


def _describe(mode: str, model: torch.nn.Module, err: Exception) -> str:
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    return f"compile mode {mode!r} failed for {type(model).__name__}: {type(err).__name__}: {first}"


def compile_model(model: torch.nn.Module, mode: Optional[str] = None,
                  example: Optional[Dict[str, torch.Tensor]] = None) -> Runner:
    """Return ``model`` on the inference path ``mode`` (see the module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        A ``ForceField`` in eval mode.
    mode : {None, "eager", "script", "compile"}
    example : dict, optional
        A graph to run once, so that failures surface here rather than at
        the first MD step (``"compile"`` compiles lazily).

    Raises
    ------
    CompileError
        When the model cannot take this path; the message names the mode
        and the reason.
    """
    if mode not in MODES:
        raise ValueError(f"unknown compile mode {mode!r}; choose one of {MODES}")
    if mode in (None, "eager"):
        return model
    try:
        runner = _script(model) if mode == "script" else _Compiled(model)
        if example is not None:
            runner(example, compute_forces=True, compute_stress=False)
    except CompileError:
        raise
    except Exception as err:  # re-raised with context, never swallowed
        raise CompileError(_describe(mode, model, err)) from err
    return runner


def save_compiled(runner: torch.jit.ScriptModule, path, extra_files: Optional[Dict[str, str]] = None) -> Path:
    """Write a TorchScript module atomically (temp file in the same folder, then rename)."""
    if not isinstance(runner, torch.jit.ScriptModule):
        raise TypeError("only TorchScript modules (mode='script') can be saved")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.jit.save(runner, tmp, _extra_files=extra_files or {})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
