"""Relax generated molecules with GFN2-xTB, MMFF94 or a molsym force field, and report what moved.

Each molecule is optimised (ASE BFGS) from its generated geometry with a fresh
calculator: GFN2-xTB through tblite (total charge = sum of formal charges),
MMFF94 through RDKit on the generated bond graph
(:class:`~molsym.generate.mmff.MMFFCalculator`: fast, but it keeps the graph
as it is) or a molsym force-field file. The result records how far the atoms moved (RMSD
after Kabsch superposition, no permutation), how much the energy fell, and
whether the connectivity perceived from the relaxed geometry with the
distance tables (:mod:`molsym.diffusion.evaluation.bonds`) still matches the
molecule's bonds. A calculation that fails (SCF not converged, NaN, any
exception from the calculator) is recorded with its reason, never raised.

Example
-------
>>> results = relax_molecules(molecules, "xtb")             # doctest: +SKIP
>>> summarize(results)["median_rmsd"]                       # doctest: +SKIP
>>> write_relaxed("relaxed.sdf", results)                   # doctest: +SKIP
"""
from __future__ import annotations

import csv
import io
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.optimize import BFGS
from tqdm import tqdm

from molsym.diffusion.evaluation.bonds import bond_order_matrix
from molsym.files import atomic_write_text

from .molecules import GeneratedMolecule

__all__ = ["RelaxResult", "relax_molecule", "relax_molecules", "calculator_for", "summarize", "kabsch_rmsd",
           "write_relaxed", "write_report_csv"]

CalculatorFactory = Callable[[GeneratedMolecule], Calculator]
_XTB_NAMES = ("xtb", "gfn2-xtb")


@dataclass
class RelaxResult:
    """Outcome of relaxing one molecule.

    ``relaxed`` (None when failed) has the relaxed positions and the input's
    atoms, charges and bonds; ``rmsd`` Å; ``energy_initial``, ``energy_final``
    and ``energy_drop = energy_initial - energy_final`` in eV (NaN when
    failed); ``steps`` optimiser steps; ``converged`` max force below
    ``fmax``; ``bonds_changed`` connectivity differs (see module docstring);
    ``error`` None or a one-line reason.
    """

    relaxed: Optional[GeneratedMolecule]
    rmsd: float
    energy_initial: float
    energy_final: float
    energy_drop: float
    steps: int
    converged: bool
    bonds_changed: bool
    error: Optional[str] = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def kabsch_rmsd(a: np.ndarray, b: np.ndarray) -> float:
    """RMSD (Å) of ``a [n, 3]`` and ``b [n, 3]`` after the optimal rotation and translation (no reflection)."""
    a = np.asarray(a, dtype=np.float64) - np.mean(a, axis=0)
    b = np.asarray(b, dtype=np.float64) - np.mean(b, axis=0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    rot = u @ np.diag([1.0, 1.0, d]) @ vt  # a @ rot ≈ b
    return float(np.sqrt(np.mean(np.sum((a @ rot - b) ** 2, axis=1))))


def _connectivity(mol: GeneratedMolecule, pos: np.ndarray) -> np.ndarray:
    return bond_order_matrix(mol.atomic_numbers, pos) > 0


class _NonFinite(RuntimeError):
    """The calculator returned NaN or infinite energy or forces."""


def _check_finite(atoms: Atoms, where: str) -> float:
    energy = float(atoms.get_potential_energy())
    if not (math.isfinite(energy) and np.isfinite(atoms.get_forces()).all()):
        raise _NonFinite(f"non-finite energy or forces {where}")
    return energy


def _failed(error: BaseException) -> RelaxResult:
    text = f"{type(error).__name__}: {error}".strip().splitlines()
    nan = float("nan")
    return RelaxResult(None, nan, nan, nan, nan, 0, False, False, text[0] if text else type(error).__name__)


def relax_molecule(mol: GeneratedMolecule, calculator_factory: CalculatorFactory,
                   fmax: float = 0.05, steps: int = 200) -> RelaxResult:
    """Relax one molecule with BFGS.

    Parameters
    ----------
    mol : GeneratedMolecule
    calculator_factory : callable
        ``factory(mol)`` returns a fresh ASE calculator (eV, Å) for ``mol``.
    fmax : float
        Convergence threshold on the largest atomic force, eV/Å.
    steps : int
        Most optimiser steps.

    Returns
    -------
    RelaxResult; a failed calculation gives ``error`` set and NaN energies.
    """
    atoms = Atoms(numbers=np.asarray(mol.atomic_numbers, dtype=np.int64),
                  positions=np.asarray(mol.pos, dtype=np.float64))
    try:  # any calculator failure becomes a recorded error, not an exception
        atoms.calc = calculator_factory(mol)
        e0 = _check_finite(atoms, "at the initial geometry")
        opt = BFGS(atoms, logfile=None)
        opt.attach(lambda: _check_finite(atoms, f"at step {opt.nsteps}"))
        converged = bool(opt.run(fmax=fmax, steps=steps))
        e1 = _check_finite(atoms, "at the final geometry")
    except Exception as err:  # noqa: BLE001 - calculators raise many kinds
        return _failed(err)
    pos = atoms.get_positions()
    if not np.isfinite(pos).all():
        return _failed(_NonFinite("non-finite positions after relaxation"))
    before = np.asarray(mol.bonds) > 0 if mol.bonds is not None else _connectivity(mol, mol.pos)
    relaxed = GeneratedMolecule(np.array(mol.atomic_numbers), pos, np.array(mol.charges),
                                None if mol.bonds is None else np.array(mol.bonds))
    return RelaxResult(relaxed, kabsch_rmsd(mol.pos, pos), e0, e1, e0 - e1, int(opt.nsteps), converged,
                       bool((_connectivity(mol, pos) != before).any()))


def _xtb_factory(mol: GeneratedMolecule) -> Calculator:
    from tblite.ase import TBLite

    charge = int(np.sum(mol.charges))
    electrons = int(np.sum(mol.atomic_numbers)) - charge
    # an odd electron count (a radical a generator made) is a doublet, not a fractional closed shell
    return TBLite(method="GFN2-xTB", charge=charge, multiplicity=2 if electrons % 2 else 1, verbosity=0)


def _mmff_factory(mol: GeneratedMolecule) -> Calculator:
    from .mmff import MMFFCalculator

    return MMFFCalculator(mol)


def calculator_for(method: Union[str, os.PathLike, CalculatorFactory], device: str = "cpu") -> CalculatorFactory:
    """``factory(mol)`` for ``method``: ``"xtb"`` (GFN2-xTB), ``"mmff"`` (MMFF94 on the generated bonds),
    a molsym force-field file (a model file, TorchScript or a ``.ckpt``) or a factory.

    Raises ValueError for an unknown method and FileNotFoundError for a missing
    model file; the model is loaded once (a bad file raises
    :class:`molsym.nn.io.ModelFileError` naming it).
    """
    if callable(method):
        return method
    text = os.fspath(method)
    if text.lower() in _XTB_NAMES:
        return _xtb_factory
    if text.lower() in ("mmff", "mmff94"):
        return _mmff_factory
    path = Path(text)
    if not path.is_file():
        if path.suffix == ".pt" or isinstance(method, os.PathLike):
            raise FileNotFoundError(f"{path}: no such molsym model file")
        raise ValueError(f"method must be 'xtb', 'mmff' or a molsym model file (.pt), got {text!r}")
    from molsym.calculator.calculator import MolSymCalculator
    from molsym.calculator.loading import load_force_field

    model = load_force_field(path, device=device)  # a model file, a TorchScript file or a .ckpt
    return lambda mol: MolSymCalculator(model, device=device)


def relax_molecules(molecules: Sequence[GeneratedMolecule], method: Union[str, os.PathLike, CalculatorFactory],
                    fmax: float = 0.05, steps: int = 200, progress: bool = False,
                    device: str = "cpu") -> List[RelaxResult]:
    """Relax every molecule with ``method`` (see :func:`calculator_for`); fmax eV/Å."""
    factory = calculator_for(method, device)
    # piped to a file: an update every 30 s, not a redraw several times a second
    interval = 0.1 if sys.stderr.isatty() else 30.0
    return [relax_molecule(m, factory, fmax, steps)
            for m in tqdm(molecules, desc="relaxing", disable=not progress, mininterval=interval)]


def summarize(results: Sequence[RelaxResult]) -> Dict[str, float]:
    """Counts (molecules, failed, converged, bonds_changed) and mean/median RMSD (Å) and energy drop (eV)."""
    ok = [r for r in results if not r.failed]
    rmsd = np.array([r.rmsd for r in ok])
    drop = np.array([r.energy_drop for r in ok])
    stat = (lambda f, x: float(f(x)) if x.size else float("nan"))
    return {"molecules": len(results), "failed": len(results) - len(ok),
            "converged": sum(r.converged for r in ok), "bonds_changed": sum(r.bonds_changed for r in ok),
            "mean_rmsd": stat(np.mean, rmsd), "median_rmsd": stat(np.median, rmsd),
            "mean_energy_drop": stat(np.mean, drop), "median_energy_drop": stat(np.median, drop)}


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")


_COLUMNS = ("index", "rmsd_A", "energy_initial_eV", "energy_final_eV", "energy_drop_eV", "steps",
            "converged", "bonds_changed", "error")


def _row(i: int, r: RelaxResult) -> Dict[str, object]:
    return {"index": i, "rmsd_A": r.rmsd, "energy_initial_eV": r.energy_initial,
            "energy_final_eV": r.energy_final, "energy_drop_eV": r.energy_drop, "steps": r.steps,
            "converged": int(r.converged), "bonds_changed": int(r.bonds_changed), "error": r.error or ""}


def write_relaxed(path_sdf, results: Sequence[RelaxResult], overwrite: bool = False) -> Path:
    """SDF of the relaxed molecules (failed ones are left out; ``index`` is the position in ``results``).

    Bonds and charges as :func:`molsym.generate.export.write_sdf` (generated
    when present, else perceived from the relaxed distances), with the SD
    properties ``index``, ``rmsd_A``, ``energy_drop_eV``, ``bonds_changed``
    and ``converged``. Refuses an existing file unless ``overwrite``.
    """
    from .export import write_sdf

    path = Path(path_sdf)
    _refuse_existing(path, overwrite)
    keep = ("index", "rmsd_A", "energy_drop_eV", "bonds_changed", "converged")
    pairs = [(r.relaxed, {k: v for k, v in _row(i, r).items() if k in keep})
             for i, r in enumerate(results) if not r.failed]
    return write_sdf(path, [m for m, _ in pairs], [p for _, p in pairs])


def write_report_csv(path, results: Sequence[RelaxResult], overwrite: bool = False) -> Path:
    """CSV, one row per molecule (failed ones included, with ``error``); energies eV, RMSD Å."""
    path = Path(path)
    _refuse_existing(path, overwrite)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_row(i, r) for i, r in enumerate(results))
    atomic_write_text(path, buffer.getvalue())
    return path
