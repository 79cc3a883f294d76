"""The ``molsym`` console command. Each subcommand lives in its own module
that defines ``add_parser(subparsers)``; its handler is stored as ``func``."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from molsym.data.errors import DataError

#: (module under molsym.cli, one-line help) in the order shown by --help.
SUBCOMMANDS = [
    ("data", "read, inspect, pack and generate molecular data"),
    ("train", "train a force field or a generator from a YAML config"),
    ("eval", "evaluate a force field on a data file"),
    ("export", "export a checkpoint to a self-describing model file"),
    ("md", "run molecular dynamics with a molsym model"),
    ("learn", "active learning: a force field for a molecule from its SMILES"),
    ("check", "audit the symmetry of a model or any ASE calculator"),
    ("generate", "generate 3D molecules with a trained generator"),
    ("eval_gen", "score generated molecules (stability, validity, ...)"),
]


class UserError(Exception):
    """An error caused by the user's input; printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="molsym", description="Symmetry-aware molecular machine learning.")
    parser.add_argument("--version", action="store_true", help="print the molsym version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, _help in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"molsym.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"molsym.cli.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # key=value overrides may also follow options (molsym train --config C --resume last a.b=1)
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides or []) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.version:
        from molsym import __version__
        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except (DataError, UserError, FileNotFoundError) as err:
        print(f"molsym {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"molsym {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # run through the importable module, so that its UserError is the one the subcommands raise
    from molsym.cli.main import main as _main

    sys.exit(_main())
