"""``molsym eval``: errors of a force field on a labelled data file."""
from __future__ import annotations

import argparse
from pathlib import Path

#: ASE's name of the stress label; read when present, without requiring it.
DEFAULT_STRESS_KEY = "stress"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "eval", help="evaluate a force field on a data file",
        description="Predict energies and forces for every frame of a labelled file and report "
                    "energy MAE/RMSE (meV, total and per atom) and force MAE/RMSE (meV/Å); for files "
                    "with stress labels also the stress MAE/RMSE of the periodic frames (eV/Å³ and "
                    "GPa, over the 9 components). Writes <name>_errors.csv (per frame), "
                    "<name>_metrics.json and <name>_parity.png.")
    p.add_argument("--model", required=True, metavar="M",
                   help="an exported model file (molsym export, eager or TorchScript), a training "
                        "checkpoint (.ckpt, EMA weights) or a committee file (committee.json: the members' mean)")
    p.add_argument("--data", required=True, nargs="+", metavar="FILE",
                   help="labelled data file(s): extxyz, npz, ASE db, ... (isolated-atom frames are skipped)")
    p.add_argument("--energy-key", default="energy", help="name of the energy label in the file (eV)")
    p.add_argument("--forces-key", default="forces", help="name of the forces label in the file (eV/Å)")
    p.add_argument("--stress-key", default=DEFAULT_STRESS_KEY,
                   help="name of the stress label in the file (eV/Å³); the default 'stress' (ASE's) is "
                        "read where present, another name is required; 'none' skips stress")
    p.add_argument("--index", default=":", help="frames to use, ASE slice syntax (default all, e.g. ':100')")
    p.add_argument("--batch-size", type=int, default=16, help="frames per batch (default 16)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for the CSV/JSON/PNG outputs (default outputs/eval)")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None,
                   help="evaluate in this precision (default: the model's)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from molsym.cli.main import UserError
    from molsym.cli.models import load_model_file
    from molsym.data.readers import read_frames, split_isolated
    from molsym.train.evaluate import evaluate_frames, format_table

    model = load_model_file(args.model, dtype=args.dtype)
    out = Path(args.out or "outputs/eval")
    stress_key = None if args.stress_key.lower() == "none" else args.stress_key
    optional = ("stress",) if stress_key == DEFAULT_STRESS_KEY else ()
    table = {}
    for data in args.data:
        frames, _ = split_isolated(read_frames(data, energy_key=args.energy_key, forces_key=args.forces_key,
                                               stress_key=stress_key, index=args.index,
                                               optional_labels=optional))
        if not frames:
            raise UserError(f"{data}: no frames to evaluate")
        name = Path(data).stem
        result = evaluate_frames(model, frames, out, name=name, batch_size=args.batch_size)
        table[name] = result["metrics"]
        print(f"{name}: {len(frames)} frames → " + ", ".join(str(f) for f in result["files"].values()))
    print(format_table(table))
    return 0
