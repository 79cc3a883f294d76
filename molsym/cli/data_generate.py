"""``molsym data generate``: labelled MD data from a SMILES string, made offline.

``molsym/cli/data.py`` calls :func:`add_generate_parser` on its sub-subparsers.
"""
from __future__ import annotations

import argparse

from molsym.cli.args import non_negative_int, positive_float, positive_int

DESCRIPTION = """\
Embed one conformer of a molecule with RDKit, run Langevin molecular dynamics
with ASE on a semi-empirical calculator (GFN2-xTB from tblite by default), and
write every STRIDE-th configuration after an equilibration as an extxyz file
with energies (key `energy`, eV) and forces (key `forces`, eV/Å). Beside it,
<stem>_isolated_atoms.xyz holds one config_type=isolated_atom frame per element
with the lone atom's energy under the same method (reference energies E0).
The same seed on the same machine and --threads gives an identical file.

example: molsym data generate --smiles CCO --method gfn2-xtb --temperature 500 \\
             --frames 1000 --out ethanol_xtb.xyz
"""


def add_generate_parser(data_subparsers) -> argparse.ArgumentParser:
    """Add ``generate`` to the ``molsym data`` sub-subcommands and return its parser."""
    from molsym.data.generate import (DEFAULT_EQUILIBRATION_FS, DEFAULT_FRAME_SPACING_FS,
                                      DEFAULT_FRICTION_PER_FS, METHODS, available_methods)

    p = data_subparsers.add_parser(
        "generate", help="make labelled MD data from a SMILES string (RDKit + ASE + xTB)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smiles", required=True,
                   help="the molecule as SMILES; hydrogens are added, formal charges and radicals "
                        "set the total charge and spin multiplicity")
    methods = "; ".join(f"{name}: {METHODS[name].description}" for name in available_methods())
    p.add_argument("--method", type=str.lower, default="gfn2-xtb", choices=available_methods(), metavar="METHOD",
                   help=f"labelling method ({methods}); default: %(default)s")
    p.add_argument("--temperature", type=positive_float, default=500.0,
                   help="Langevin thermostat temperature in K (default: %(default)s)")
    p.add_argument("--frames", type=positive_int, default=1000,
                   help="number of frames to keep (default: %(default)s)")
    p.add_argument("--out", required=True,
                   help="extxyz file to write (atomically); <stem>_isolated_atoms.xyz is written beside it")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed for the RDKit conformer, initial velocities and Langevin noise "
                        "(default: %(default)s)")
    p.add_argument("--timestep", type=positive_float, default=0.5,
                   help="MD time step in fs (default: %(default)s)")
    p.add_argument("--stride", type=positive_int, default=None,
                   help=f"MD steps between kept frames (default: {DEFAULT_FRAME_SPACING_FS:g} fs / "
                        f"timestep, i.e. 20 at 0.5 fs)")
    p.add_argument("--equilibration", type=non_negative_int, default=None, metavar="STEPS",
                   help=f"MD steps before the first kept frame (default: {DEFAULT_EQUILIBRATION_FS:g} fs / "
                        f"timestep, i.e. 1000 at 0.5 fs)")
    p.add_argument("--friction", type=positive_float, default=DEFAULT_FRICTION_PER_FS,
                   help="Langevin friction in 1/fs (default: %(default)s)")
    p.add_argument("--threads", type=non_negative_int, default=1,
                   help="OpenMP threads for the calculator; 0 leaves OMP_NUM_THREADS in charge. A small "
                        "molecule gains nothing from more than 1, and results depend on the thread count "
                        "(default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary line")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Generate the data set described by ``args``; returns the exit code."""
    from molsym.data.generate import generate_dataset

    result = generate_dataset(
        args.smiles, args.out, method=args.method, temperature=args.temperature, frames=args.frames,
        seed=args.seed, timestep_fs=args.timestep, stride=args.stride,
        equilibration_steps=args.equilibration, friction_per_fs=args.friction,
        threads=args.threads or None, progress=not args.quiet)
    if not args.quiet:
        e0s = ", ".join(f"Z={z}: {e:.4f} eV" for z, e in result.e0s.items())
        print(f"wrote {result.frames} frames to {result.path} and isolated-atom energies ({e0s}) "
              f"to {result.isolated_atoms_path} in {result.seconds:.1f} s")
    return 0


__all__ = ["add_generate_parser", "run"]
