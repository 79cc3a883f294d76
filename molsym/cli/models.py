"""How the commands load force fields: one loader, one error path.

Every command that reads a model (``eval``, ``md``, ``check``) goes through
these two functions, which load through
:func:`molsym.calculator.loading.load_force_field` (model files, TorchScript
exports and training checkpoints alike) and turn any failure into a
:class:`~molsym.cli.main.UserError`, printed as one line that names the file
and what is wrong with it, with exit code 2.
"""
from __future__ import annotations

from typing import Optional, Sequence

from molsym.cli.main import UserError


def load_model_file(path: str, dtype: Optional[str] = None, device: str = "cpu"):
    """The force field in ``path`` (model file or checkpoint) as a module in eval mode; a committee file
    gives the mean of its members (:class:`molsym.train.committee.CommitteeMean`)."""
    from molsym.calculator.committee import is_committee_file, read_committee
    from molsym.calculator.loading import load_force_field
    from molsym.nn.io import ModelFileError

    try:
        if is_committee_file(path):
            from molsym.train.committee import CommitteeMean

            members = [load_force_field(p, device=device, dtype=dtype) for p in read_committee(path)]
            try:
                return CommitteeMean(members).eval()
            except ValueError as err:  # members with different cutoffs
                raise UserError(f"{path}: {err}") from None
        return load_force_field(path, device=device, dtype=dtype)
    except ModelFileError as err:
        raise UserError(str(err)) from err


def model_calculator(paths: Sequence[str], dtype: Optional[str] = None, device: str = "cpu",
                     skin: float = 0.5, compile: Optional[str] = None):
    """A ``MolSymCalculator`` for one model file, or a committee of several."""
    from molsym.calculator import CompileError, MolSymCalculator
    from molsym.nn.io import ModelFileError

    paths = list(paths)
    try:
        return MolSymCalculator(paths if len(paths) > 1 else paths[0], device=device, dtype=dtype,
                                skin=skin, compile=compile)
    except (ModelFileError, CompileError) as err:
        raise UserError(str(err)) from err
