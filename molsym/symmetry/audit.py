"""Audit the symmetry of any function of a molecule: a molsym model, any ASE
calculator, or a plain Python function ``atoms -> {name: array}``.

For each kind of transformation (proper rotation, reflection, translation,
atom permutation, and all combined) the audit applies random group elements
to the input and reports, per output, the largest deviation from the output's
transformation law (:mod:`molsym.symmetry.laws`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Mapping, Optional

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


@dataclass
class AuditReport:
    """Largest error per transformation kind and output, with the tolerances used."""

    errors: Dict[str, Dict[str, float]]
    tolerances: Dict[str, float]
    rel_tol: float
    extra: Dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(err <= self.tolerances[name] for per in self.errors.values() for name, err in per.items())

    @property
    def distinguishes_mirror_images(self) -> Optional[bool]:
        """True when the energy changes under reflection but not under rotation (a chiral model)."""
        rot = self.errors.get("rotation", {}).get("energy")
        ref = self.errors.get("reflection", {}).get("energy")
        if rot is None or ref is None:
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
        lines.append("result: " + ("PASS" if self.passed else "FAIL (! marks errors above tolerance)"))
        return "\n".join(lines)


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
    """
    laws = dict(CALCULATOR_LAWS if laws is None else laws)
    rng = np.random.default_rng(seed)
    rel_tol = float(np.sqrt(np.finfo(dtype).eps)) if rel_tol is None else float(rel_tol)
    reference = {k: np.asarray(v, dtype=np.float64) for k, v in fn(atoms).items() if k in laws}
    if not reference:
        raise ValueError(f"the function returned none of the outputs with a law: {sorted(laws)}")
    tolerances = {k: rel_tol * max(1.0, float(np.max(np.abs(v))) if v.size else 1.0)
                  for k, v in reference.items()}
    errors: Dict[str, Dict[str, float]] = {}
    for kind in kinds:
        per: Dict[str, float] = {}
        for _ in range(trials):
            g = sample_transform(kind, len(atoms), rng)
            out = fn(transform_atoms(atoms, g))
            for name, y0 in reference.items():
                expected = laws[name](y0, g)
                got = np.asarray(out[name], dtype=np.float64)
                err = float(np.max(np.abs(got - expected))) if expected.size else 0.0
                per[name] = max(per.get(name, 0.0), err)
        errors[kind] = per
    return AuditReport(errors, tolerances, rel_tol)


def calculator_function(calc) -> AtomsFunction:
    """Wrap an ASE calculator as ``atoms -> {energy, forces[, stress][, energies]}``."""
    def fn(atoms):
        a = atoms.copy()
        a.calc = calc
        out = {"energy": a.get_potential_energy(), "forces": a.get_forces()}
        if a.pbc.any() and "stress" in getattr(calc, "implemented_properties", ()):
            out["stress"] = a.get_stress(voigt=False)
        if "energies" in getattr(calc, "implemented_properties", ()):
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
