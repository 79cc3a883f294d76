"""Labellers: the reference calculation that active learning asks for new labels.

A labeller is a :class:`molsym.data.generate.Method`: a registered name
(``gfn2-xtb``, tblite's GFN2-xTB, the default) or ``MODULE:CLASS``, any ASE
calculator class or factory importable and callable with no arguments (for
example ``ase.calculators.emt:EMT``; it cannot be told the charge or spin, so
use it for neutral closed-shell molecules). The same labeller makes the seed
MD, the isolated-atom energies (E0s) and every later label, so all labels
come from one Hamiltonian.

:func:`label_frames` labels frames one by one; a frame whose calculation
fails (an SCF that does not converge, atoms the method rejects) or whose
labels fail the data checks (non-finite values, atoms closer than 0.1 Å) is
reported and skipped, never fatal.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from molsym.calculator.external import calculator_factory
from molsym.data.errors import DataError
from molsym.data.frame import check_frame, make_frame
from molsym.data.generate import METHODS, Method, get_method

__all__ = ["labeller", "label_frames", "LabellerError"]


class LabellerError(ValueError):
    """A labeller spec that names no registered method and no importable calculator (one line)."""


def labeller(spec: str) -> Method:
    """The :class:`Method` named by ``spec``: a registered method or ``MODULE:CLASS``."""
    if spec.lower() in METHODS:
        return get_method(spec)
    if ":" not in spec:
        raise LabellerError(f"labeller {spec!r}: not a known method ({', '.join(sorted(METHODS))}) "
                            "and not MODULE:CLASS")
    try:
        factory = calculator_factory(spec)
    except ValueError as err:
        raise LabellerError(f"labeller {spec!r}: {err}") from None
    return Method(spec, f"ASE calculator {spec}", lambda charge, multiplicity: factory(), multiplicities=(1,))


def label_frames(frames: Sequence, method: Method, charge: int = 0, multiplicity: int = 1,
                 report: Optional[Callable[[str], None]] = None) -> Tuple[List, List[Tuple[int, str]]]:
    """Label ``frames`` (``ase.Atoms``) with ``method``: energy (eV) in ``info``, forces (eV/Å) in ``arrays``.

    Each frame gets a fresh calculator (an SCF code starts from a clean state,
    so a label does not depend on the frames labelled before it). Returns the
    labelled copies (calculator-free, the frames' ``info`` kept, with
    ``method``) and ``(index, reason)`` for each frame that failed, which
    ``report`` is told about as it happens.
    """
    from ase import Atoms

    done, failed = [], []
    for k, atoms in enumerate(frames):
        work = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        work.calc = method.calculator(int(charge), int(multiplicity))
        try:
            energy = float(work.get_potential_energy())
            forces = np.array(work.get_forces(), dtype=np.float64)
        except Exception as err:  # noqa: BLE001 - any failure of a foreign calculator skips the frame
            reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".strip()
            failed.append((k, reason))
            if report is not None:
                report(f"labelling frame {k} with {method.name} failed, skipped ({reason})")
            continue
        try:  # the checks every training file passes (finite values, no atoms on top of each other)
            check_frame(make_frame(atoms.numbers, atoms.positions, energy=energy, forces=forces), None, k)
        except DataError as err:
            failed.append((k, str(err)))
            if report is not None:
                report(f"labelled frame {k} fails the data checks, skipped ({err})")
            continue
        out = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        out.info.update({k2: v for k2, v in atoms.info.items() if np.ndim(v) == 0})
        out.info.update(energy=energy, method=method.name, charge=int(charge), multiplicity=int(multiplicity))
        out.arrays["forces"] = forces
        done.append(out)
    return done, failed
