"""``molsym check``: audit the symmetry of a molsym model or of any ASE calculator."""
from __future__ import annotations

import argparse

import numpy as np

from molsym.cli.main import UserError

DESCRIPTION = """\
Apply random rotations (with and without reflection), translations and atom
permutations to a structure and report, per output, the largest deviation from
its transformation law: energy invariant, forces rotated and permuted, stress
rotated as R S R^T. Also says whether the model tells mirror images apart.
Each structure is evaluated from a clean state: a --calculator factory builds
a fresh calculator for every evaluation (an SCF code such as tblite would
otherwise start from the previous structure's wavefunction), and a --model
calculator is reset before each one.
Exit code 1 when an error exceeds the tolerance (sqrt(machine epsilon) of the
model's dtype, relative to the output's size) or an output holds NaN or inf,
0 otherwise."""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("check", help="audit the symmetry of a model or any ASE calculator",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="a molsym model file (from `molsym export`) or a training checkpoint "
                                      "(.ckpt, EMA weights)")
    src.add_argument("--calculator", metavar="MODULE:FACTORY",
                     help="any ASE calculator, as an importable factory, e.g. 'ase.calculators.emt:EMT' "
                          "or 'tblite.ase:TBLite'; called with no arguments, once per evaluation")
    p.add_argument("--atoms", required=True, help="structure file readable by ase.io (first frame unless --index)")
    p.add_argument("--index", type=int, default=0, help="frame of --atoms to audit (default 0)")
    p.add_argument("--trials", type=int, default=3, help="random group elements per transformation kind (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random group elements (default 0)")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None,
                   help="precision that sets the tolerance; default: the model's dtype, float64 for calculators")
    p.add_argument("--tolerance", type=float, default=None,
                   help="relative tolerance instead of sqrt(eps(dtype))")
    p.set_defaults(func=run)


def load_calculator(spec: str):
    """Import ``module:factory`` and return the factory, checked by building one calculator with it
    (:func:`molsym.calculator.external.calculator_factory`).

    The audit calls the factory again for every evaluation (a fresh calculator each time).
    """
    from molsym.calculator.external import calculator_factory

    if ":" not in spec:
        raise UserError(f"--calculator must look like MODULE:FACTORY, got {spec!r}")
    try:
        return calculator_factory(spec)
    except ValueError as err:
        raise UserError(f"cannot load calculator {spec!r}: {err}") from None


def run(args) -> int:
    import ase.io

    from molsym.calculator import UnknownElementError
    from molsym.symmetry.audit import audit, calculator_function

    try:
        atoms = ase.io.read(args.atoms, index=args.index)
    except (OSError, StopIteration, IndexError, ValueError) as err:
        raise UserError(f"{args.atoms}, frame {args.index}: cannot read structure ({err})") from None
    dtype = args.dtype
    if args.model:
        from molsym.cli.models import model_calculator
        calc = model_calculator([args.model], dtype=dtype)
        dtype = dtype or str(calc.dtype).replace("torch.", "")
        name = args.model
    else:
        calc = load_calculator(args.calculator)
        name = args.calculator
    np_dtype = np.float32 if dtype == "float32" else np.float64
    try:
        report = audit(calculator_function(calc), atoms, trials=args.trials, seed=args.seed,
                       dtype=np_dtype, rel_tol=args.tolerance)
    except UnknownElementError as err:
        raise UserError(f"{args.atoms}, frame {args.index}: {err}") from None
    print(f"symmetry audit of {name} on {args.atoms} (frame {args.index}, {len(atoms)} atoms), "
          f"dtype {dtype or 'float64'}, {args.trials} random elements per kind")
    print(report.table())
    return 0 if report.passed else 1
