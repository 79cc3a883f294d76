"""Audit the symmetry of any function of a molecule: a molsym model, any ASE
calculator, or a plain Python function ``atoms -> {name: array}``.

For each kind of transformation (proper rotation, reflection, translation,
atom permutation, and all combined) the audit applies random group elements
to the input and reports, per output, the largest deviation from the output's
transformation law (:mod:`molsym.symmetry.laws`). An output with a NaN or an
infinity in any evaluation fails the audit with its own message.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional

import numpy as np

from molsym.symmetry.group import random_permutation, random_rotation, random_translation
from molsym.symmetry.laws import CALCULATOR_LAWS, Law, Transform

AtomsFunction = Callable[["ase.Atoms"], Mapping[str, np.ndarray]]  # noqa: F821

#: The transformation kinds, in report order.
KINDS = ("rotation", "reflection", "translation", "permutation", "combined")


def sample_transform(kind: str, n_atoms: int, rng: np.random.Generator) -> Transform:
    """A random transformation of the given kind (see :data:`KINDS`)."""
    eye, zero, ident = np.eye(3), np.zeros(3), np.arange(n_atoms)
    if kind == "rotation":
        return Transform(random_rotation(rng), zero, ident)
    if kind == "reflection":
        return Transform(random_rotation(rng, reflection=True), zero, ident)
    if kind == "translation":
        return Transform(eye, random_translation(rng), ident)
    if kind == "permutation":
        return Transform(eye, zero, random_permutation(rng, n_atoms))
    if kind == "combined":
        return Transform(random_rotation(rng, reflection=True), random_translation(rng),
                         random_permutation(rng, n_atoms))
    raise ValueError(f"unknown transformation kind {kind!r}; known: {KINDS}")


def transform_atoms(atoms, g: Transform):
    """A transformed copy of ``atoms`` (positions, numbers, cell; calculator detached)."""
    out = atoms[g.perm]
    out.positions = g.positions(atoms.positions)
    out.cell = g.cell(atoms.cell.array)
    out.calc = None
    return out


#: How the evaluation of the structure as given (no transformation) is named in messages.
AS_GIVEN = "the structure as given"


@dataclass
class AuditReport:
    """Largest error per transformation kind and output, with the tolerances used.

    ``non_finite`` maps an output that held NaN or inf in some evaluation to
    its one-line message; such an output fails the audit (its errors are NaN).
    """

    errors: Dict[str, Dict[str, float]]
    tolerances: Dict[str, float]
    rel_tol: float
    extra: Dict[str, str] = field(default_factory=dict)
    non_finite: Dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        # written as `err <= tol` so that a NaN error fails too
        return not self.non_finite and all(err <= self.tolerances[name] for per in self.errors.values()
                                           for name, err in per.items())

    @property
    def distinguishes_mirror_images(self) -> Optional[bool]:
        """True when the energy changes under reflection but not under rotation (a chiral model)."""
        rot = self.errors.get("rotation", {}).get("energy")
        ref = self.errors.get("reflection", {}).get("energy")
        if rot is None or ref is None or "energy" in self.non_finite:
            return None
        tol = self.tolerances["energy"]
        return bool(ref > tol and rot <= tol)

    def table(self) -> str:
        names = sorted({n for per in self.errors.values() for n in per})
        head = f"{'transformation':<14}" + "".join(f"{n:>16}" for n in names)
        lines = [head, "-" * len(head)]
        for kind, per in self.errors.items():
            cells = []
            for n in names:
                if n in per:
                    mark = " " if per[n] <= self.tolerances[n] else "!"
                    cells.append(f"{per[n]:>15.3e}{mark}")
                else:
                    cells.append(f"{'-':>16}")
            lines.append(f"{kind:<14}" + "".join(cells))
        lines.append(f"{'tolerance':<14}" + "".join(f"{self.tolerances[n]:>15.3e} " for n in names))
        chiral = self.distinguishes_mirror_images
        if chiral is not None:
            lines.append(f"distinguishes mirror images (chiral): {'yes' if chiral else 'no'}")
        for k, v in self.extra.items():
            lines.append(f"{k}: {v}")
        lines.extend(self.non_finite.values())
        if self.passed:
            lines.append("result: PASS")
        else:
            reasons = [f"non-finite {name}" for name in self.non_finite]
            if any(err > self.tolerances[name] for per in self.errors.values() for name, err in per.items()):
                reasons.insert(0, "! marks errors above tolerance")
            lines.append(f"result: FAIL ({'; '.join(reasons)})")
        return "\n".join(lines)


def _non_finite_kinds(values: np.ndarray) -> List[str]:
    """``["NaN"]``, ``["inf"]``, both or none: what is not finite in ``values``."""
    return [label for label, test in (("NaN", np.isnan), ("inf", np.isinf)) if test(values).any()]


def _non_finite_message(name: str, kinds: List[str], where: List[str]) -> str:
    shown = where if len(where) <= 3 else where[:3] + [f"{len(where) - 3} more"]
    return (f"{name}: non-finite values ({', '.join(kinds)}) in the model's output "
            f"(for {', '.join(shown)})")


def audit(fn: AtomsFunction, atoms, laws: Optional[Mapping[str, Law]] = None, trials: int = 3,
          seed: int = 0, dtype=np.float64, rel_tol: Optional[float] = None,
          kinds=KINDS) -> AuditReport:
    """Apply random symmetry transformations to ``atoms`` and compare ``fn``'s outputs.

    Parameters
    ----------
    fn : callable ``atoms -> {output name: array}``
    atoms : ase.Atoms
    laws : the law of each output; defaults to :data:`CALCULATOR_LAWS`. Outputs
        without a law are ignored.
    trials : random elements per transformation kind
    dtype : the precision of the model; sets the tolerance
    rel_tol : relative tolerance; defaults to ``sqrt(eps(dtype))``. The absolute
        tolerance of an output is ``rel_tol * max(1, max|output|)``.

    An output with NaN or inf in any evaluation (as given or transformed)
    fails: its errors are NaN and ``report.non_finite[name]`` says which
    values and where, e.g. ``forces: non-finite values (NaN) in the model's
    output (for the structure as given, rotation)``.
    """
    laws = dict(CALCULATOR_LAWS if laws is None else laws)
    rng = np.random.default_rng(seed)
    rel_tol = float(np.sqrt(np.finfo(dtype).eps)) if rel_tol is None else float(rel_tol)
    reference = {k: np.asarray(v, dtype=np.float64) for k, v in fn(atoms).items() if k in laws}
    if not reference:
        raise ValueError(f"the function returned none of the outputs with a law: {sorted(laws)}")
    bad_kinds: Dict[str, List[str]] = {}   # output -> ["NaN", "inf"] seen in it
    bad_where: Dict[str, List[str]] = {}   # output -> the evaluations that gave them

    def note_non_finite(name: str, values: np.ndarray, where: str) -> None:
        kinds_seen = _non_finite_kinds(values)
        if kinds_seen:
            seen = bad_kinds.setdefault(name, [])
            seen.extend(k for k in kinds_seen if k not in seen)
            if where not in bad_where.setdefault(name, []):
                bad_where[name].append(where)

    tolerances = {}
    for name, y0 in reference.items():
        note_non_finite(name, y0, AS_GIVEN)
        finite = np.abs(y0[np.isfinite(y0)])
        tolerances[name] = rel_tol * max(1.0, float(finite.max()) if finite.size else 1.0)
    errors: Dict[str, Dict[str, float]] = {}
    for kind in kinds:
        per: Dict[str, float] = {}
        for _ in range(trials):
            g = sample_transform(kind, len(atoms), rng)
            out = fn(transform_atoms(atoms, g))
            for name, y0 in reference.items():
                expected = laws[name](y0, g)
                got = np.asarray(out[name], dtype=np.float64)
                note_non_finite(name, got, kind)
                err = float(np.max(np.abs(got - expected))) if expected.size else 0.0
                per[name] = float(np.maximum(per.get(name, 0.0), err))  # np.maximum keeps a NaN
        errors[kind] = per
    non_finite = {name: _non_finite_message(name, bad_kinds[name], bad_where[name]) for name in bad_kinds}
    return AuditReport(errors, tolerances, rel_tol, non_finite=non_finite)


def _is_factory(calc) -> bool:
    """A calculator class or a no-argument callable that builds one (not a calculator instance)."""
    return inspect.isclass(calc) or (callable(calc) and not hasattr(calc, "calculate"))


def calculator_function(calc) -> AtomsFunction:
    """Wrap an ASE calculator as ``atoms -> {energy, forces[, stress][, energies]}``.

    Every evaluation starts from a clean state, so that the audit measures
    the calculator's symmetry and not its memory of the previous structure
    (tblite, for one, starts each SCF from the last call's wavefunction, and
    reusing one instance changes its forces by ~1e-4 eV/Å).

    Parameters
    ----------
    calc : ase calculator, or a calculator class / no-argument factory
        A class or factory (e.g. ``TBLite`` or ``lambda: TBLite(method="GFN2-xTB")``)
        builds a fresh calculator for every evaluation: nothing carries over.
        An instance is reused with ``calc.reset()`` before every evaluation,
        which is as clean as the calculator's ``reset`` makes it (ASE's clears
        the cached results; tblite's also drops its wavefunction).
    """
    factory = calc if _is_factory(calc) else None

    def fn(atoms):
        current = factory() if factory is not None else calc
        if factory is None and hasattr(current, "reset"):
            current.reset()
        a = atoms.copy()
        a.calc = current
        out = {"energy": a.get_potential_energy(), "forces": a.get_forces()}
        if a.pbc.any() and "stress" in getattr(current, "implemented_properties", ()):
            out["stress"] = a.get_stress(voigt=False)
        if "energies" in getattr(current, "implemented_properties", ()):
            out["energies"] = a.get_potential_energies()
        return out
    return fn


def assert_symmetric(fn: AtomsFunction, atoms, laws: Optional[Mapping[str, Law]] = None,
                     trials: int = 2, seed: int = 0, dtype=np.float64,
                     rel_tol: Optional[float] = None) -> AuditReport:
    """Pytest helper: raise ``AssertionError`` with the audit table if any law is broken.

    >>> from ase.build import molecule
    >>> from ase.calculators.emt import EMT
    >>> _ = assert_symmetric(calculator_function(EMT()), molecule("H2O"))
    """
    report = audit(fn, atoms, laws, trials=trials, seed=seed, dtype=dtype, rel_tol=rel_tol)
    if not report.passed:
        raise AssertionError("symmetry audit failed\n" + report.table())
    return report
