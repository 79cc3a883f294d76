"""``molsym export``: a training checkpoint → one self-describing model file."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export", help="export a checkpoint to a self-describing model file",
        description="Write the EMA weights of a training checkpoint, with the architecture config, E0s, "
                    "cutoff, units, dtype and molsym version, as one file that loads with "
                    "torch.load(weights_only=True) (molsym.nn.io.load_model).")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .ckpt written by molsym train")
    p.add_argument("--out", required=True, metavar="FILE", help="the model file to write, e.g. model.pt")
    p.add_argument("--raw-weights", action="store_true",
                   help="export the raw trained weights instead of their exponential moving average")
    # no argparse choices: the removed 'compile' gets its own line from check_mode in run()
    p.add_argument("--compile", metavar="{eager,script}", default="eager",
                   help="eager (default): the weights + config file above; script: a TorchScript module "
                        "(same metadata inside) that runs without molsym, e.g. MolSymCalculator('model.pt') "
                        "or torch.jit.load (torch.compile was removed: docs/calculator.md)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from molsym.calculator.compile import CompileError, check_mode
    from molsym.cli.main import UserError
    from molsym.train.export import export_checkpoint

    try:
        check_mode(args.compile)  # before reading the checkpoint
        out = export_checkpoint(args.checkpoint, args.out, ema=not args.raw_weights,
                                compile=args.compile)
    except (ValueError, CompileError) as err:
        raise UserError(str(err)) from err
    print(f"wrote {out}")
    return 0
