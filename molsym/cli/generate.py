"""``molsym generate``: sample 3D molecules from a trained generator (flow matching or EDM diffusion)."""
from __future__ import annotations

import argparse
import inspect
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
#: The generator used without --model: the CPU-trained flow model with bonds shipped with molsym.
DEFAULT_MODEL = RESOURCES / "qm9_flow.pt"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="generate 3D molecules with a trained generator",
        description="Sample molecules from a generator file (written by `molsym train` with a generator config) "
                    "and write them as SDF with their bonds and formal charges (generated bonds for the flow "
                    "model; bonds from distance tables for EDM), optionally extxyz, a PNG grid of 2D "
                    "depictions, and relaxed geometries. Prints the scores of both protocols.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="example: molsym generate --n 1000 --steps 50 --out mols.sdf --relax xtb")
    p.add_argument("--model", default=str(DEFAULT_MODEL),
                   help="generator file; the default is the QM9 flow model shipped with molsym")
    p.add_argument("--n", type=int, default=100, help="number of molecules to generate")
    p.add_argument("--steps", type=int, default=None,
                   help="integration steps (flow default 50; EDM default T, the full ancestral chain)")
    p.add_argument("--sampler", choices=["ancestral", "ddim"], default=None,
                   help="EDM only: ancestral posterior steps or DDIM steps")
    p.add_argument("--eta", type=float, default=None,
                   help="stochasticity: flow: re-masking rate of decided atom types/charges/bonds (>= 0, default 2); "
                        "EDM DDIM: eta in [0, 1]")
    p.add_argument("--temperature", type=float, default=None,
                   help="flow only: temperature of the atom-type/charge/bond draws (default 0.5; 1 samples the "
                        "model's probabilities as they are)")
    p.add_argument("--time-power", type=float, default=None, metavar="P",
                   help="flow only: step spacing t_k = 1 - (1 - k/steps)^P; P > 1 takes smaller steps near the "
                        "end, where the geometry is settled (default: the generator's DEFAULT_TIME_POWER)")
    p.add_argument("--condition", action="append", default=[], metavar="NAME=VALUE",
                   help="property value for a conditional model, in the units of its training data "
                        "(QM9 reader: alpha in Å³, gap in eV), e.g. alpha=11.9; repeatable")
    p.add_argument("--batch-size", type=int, default=100, help="molecules sampled together")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same molecules)")
    p.add_argument("--out", default="generated.sdf", help="output SDF")
    p.add_argument("--xyz", action="store_true", help="also write the molecules as extxyz (same stem)")
    p.add_argument("--png", type=int, default=16, help="molecules in the PNG grid of the same stem (0: none)")
    p.add_argument("--relax", default=None, metavar="xtb|mmff|MODEL.pt",
                   help="relax every molecule with GFN2-xTB (tblite), MMFF94 on the generated bonds (RDKit; fast, "
                        "keeps the graph as generated) or a molsym force-field file; writes "
                        "<stem>_relaxed.sdf and <stem>_relax.csv (RMSD, energy drop, bond changes) and scores "
                        "the relaxed molecules")
    p.add_argument("--relax-steps", type=int, default=200, help="most optimizer steps per molecule")
    p.add_argument("--relax-fmax", type=float, default=0.05, help="force convergence threshold, eV/Å")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.set_defaults(func=run)


def _parse_conditions(items, conditions):
    from molsym.cli.main import UserError

    values = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--condition must look like NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise UserError(f"--condition {name}: {value!r} is not a number") from None
    if set(values) != set(conditions):
        if not conditions:
            raise UserError(f"this generator is unconditional; drop --condition {sorted(values)}")
        raise UserError(f"this generator is conditioned on {list(conditions)}; pass --condition for exactly those")
    return [values[c] for c in conditions] if values else None


def _sampler_options(model, args) -> dict:
    """The sampling options the user set, refused when this generator's sampler has no such option."""
    from molsym.cli.main import UserError

    accepted = inspect.signature(model.sample_molecules).parameters
    options = {}
    for flag, key in (("sampler", "method"), ("eta", "eta"), ("temperature", "temperature"),
                      ("time_power", "time_power")):
        value = getattr(args, flag)
        if value is None:
            continue
        if key not in accepted:
            raise UserError(f"--{flag.replace('_', '-')} does not apply to this generator ({type(model).__name__})")
        options[key] = value
    cond = _parse_conditions(args.condition, getattr(model, "conditions", []))
    if cond is not None:
        options["condition"] = cond
    return options


def _outputs(args):
    from molsym.cli.main import UserError

    out = Path(args.out)
    if out.suffix.lower() != ".sdf":
        raise UserError(f"--out must end in .sdf, got {out}")
    paths = [out]
    if args.xyz:
        paths.append(out.with_suffix(".xyz"))
    if args.png:
        paths.append(out.with_suffix(".png"))
    if args.relax:
        paths += [out.with_name(out.stem + "_relaxed.sdf"), out.with_name(out.stem + "_relax.csv")]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not args.force:
        raise UserError(f"{existing[0]} exists; choose another --out or pass --force to overwrite")
    return out


def _summary(metrics: dict, label: str) -> str:
    parts = []
    if "mol_stable" in metrics:
        parts.append(f"generated bonds: atom stable {100 * metrics['atom_stable']:.1f} %, molecule stable "
                     f"{100 * metrics['mol_stable']:.1f} %, valid {100 * metrics['validity']:.1f} %, "
                     f"unique {100 * metrics['uniqueness']:.1f} %")
    parts.append(f"distance protocol (EDM): atom stable {100 * metrics['atom_stable_dist']:.1f} %, molecule stable "
                 f"{100 * metrics['mol_stable_dist']:.1f} %, valid {100 * metrics['validity_dist']:.1f} %")
    return f"{label}: " + "\n  ".join(parts)


def run(args) -> int:
    import time

    import torch

    from molsym.cli.main import UserError
    from molsym.generate import generation_metrics, load_generator
    from molsym.generate.export import draw_grid, write_sdf, write_xyz

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.n < 1 or args.batch_size < 1:
        raise UserError("--n and --batch-size must be positive")
    if args.steps is not None and args.steps < 1:
        raise UserError("--steps must be positive")
    if args.temperature is not None and args.temperature <= 0:
        raise UserError("--temperature must be positive")
    if args.time_power is not None and not args.time_power > 0:
        raise UserError("--time-power must be positive")
    if args.relax_steps < 1 or args.relax_fmax <= 0:
        raise UserError("--relax-steps and --relax-fmax must be positive")
    out = _outputs(args)
    model, _ = load_generator(args.model, device=args.device)
    options = _sampler_options(model, args)
    if args.steps is not None:
        options["steps"] = args.steps
    gen = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    try:
        molecules = model.sample_molecules(args.n, generator=gen, batch_size=args.batch_size, **options)
    except ValueError as err:  # a sampler option out of range (e.g. steps > T for EDM)
        raise UserError(str(err)) from err
    seconds = time.perf_counter() - start
    write_sdf(out, molecules)
    print(f"wrote {len(molecules)} molecules to {out} ({seconds:.1f} s, {len(molecules) / seconds:.1f} molecules/s)")
    if args.xyz:
        print(f"wrote {write_xyz(out.with_suffix('.xyz'), molecules)}")
    if args.png:
        print(f"wrote 2D depictions to {draw_grid(out.with_suffix('.png'), molecules, max_mols=args.png)}")
    print(_summary(generation_metrics(molecules), "scores"))
    if args.relax:
        _relax(args, out, molecules)
    return 0


def _relax(args, out: Path, molecules) -> None:
    from molsym.cli.main import UserError
    from molsym.generate import generation_metrics
    from molsym.generate.relax import relax_molecules, summarize, write_relaxed, write_report_csv

    try:
        results = relax_molecules(molecules, args.relax, fmax=args.relax_fmax, steps=args.relax_steps, progress=True)
    except (ValueError, FileNotFoundError) as err:
        raise UserError(f"--relax {args.relax}: {err}") from err
    sdf = write_relaxed(out.with_name(out.stem + "_relaxed.sdf"), results, overwrite=True)
    csv = write_report_csv(out.with_name(out.stem + "_relax.csv"), results, overwrite=True)
    s = summarize(results)
    print(f"relaxed with {args.relax}: {sdf} and {csv}")
    print(f"  {s['converged']} of {s['molecules']} converged, {s['failed']} failed, bonds changed in "
          f"{s['bonds_changed']}; RMSD mean {s['mean_rmsd']:.3f} Å (median {s['median_rmsd']:.3f}), energy drop "
          f"mean {s['mean_energy_drop']:.3f} eV (median {s['median_energy_drop']:.3f})")
    relaxed = [r.relaxed for r in results if r.error is None]
    if relaxed:
        m = generation_metrics(relaxed)
        print(_summary(m, f"scores after relaxation (the {len(relaxed)} of {len(results)} molecules that relaxed)"))
        if len(relaxed) < len(results):  # the failed ones counted as unstable: the whole set's figure
            share = len(relaxed) / len(results)
            whole = f"{100 * share * m['mol_stable']:.1f} % (generated bonds), " if "mol_stable" in m else ""
            print(f"  of all {len(results)} (failed counted as unstable): molecule stable {whole}"
                  f"{100 * share * m['mol_stable_dist']:.1f} % (distance protocol)")
