"""``molsym generate``: sample 3D molecules from a trained diffusion generator."""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "resources" / "qm9_edm_cpu.pt"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="generate 3D molecules with the diffusion model",
        description="Sample molecules from an equivariant diffusion generator and write them as SDF "
                    "(bonds from distance tables), extxyz (same stem) and a PNG grid of 2D depictions.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=str(DEFAULT_MODEL),
                   help="generator file written by `python -m molsym.diffusion.train`; "
                        "the default is the small CPU demo model shipped with molsym")
    p.add_argument("--n", type=int, default=100, help="number of molecules to generate")
    p.add_argument("--steps", type=int, default=None,
                   help="network evaluations; default T (full ancestral chain). Fewer steps skip timesteps")
    p.add_argument("--sampler", choices=["ancestral", "ddim"], default="ancestral",
                   help="ancestral: posterior q(z_s|z_t) steps; ddim: DDIM steps (deterministic for eta=0)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM stochasticity in [0, 1] (only with --sampler ddim)")
    p.add_argument("--condition", action="append", default=[], metavar="NAME=VALUE",
                   help="property value for a conditional model, in the units of its training data "
                        "(QM9 reader: alpha in Å³, gap in eV), e.g. alpha=11.9; repeatable")
    p.add_argument("--batch-size", type=int, default=100, help="molecules sampled together")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same molecules)")
    p.add_argument("--out", default="generated.sdf", help="output SDF; extxyz and PNG use the same stem")
    p.add_argument("--png", type=int, default=16, help="molecules in the PNG grid (0: no PNG)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.set_defaults(func=run)


def _parse_conditions(items, model):
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
    if set(values) != set(model.conditions):
        if not model.conditions:
            raise UserError(f"this generator is unconditional; drop --condition {sorted(values)}")
        raise UserError(f"this generator is conditioned on {model.conditions}; pass --condition for exactly those")
    return [values[c] for c in model.conditions] if values else None


def run(args) -> int:
    import torch
    from tqdm.auto import tqdm

    from molsym.cli.main import UserError
    from molsym.diffusion import sample
    from molsym.diffusion.export import draw_grid, split_samples, write_extxyz, write_sdf
    from molsym.diffusion.io import load_generator

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.n < 1 or args.batch_size < 1:
        raise UserError("--n and --batch-size must be positive")
    model, _ = load_generator(args.model, device=args.device)
    if args.steps is not None and not 1 <= args.steps <= model.T:
        raise UserError(f"--steps must be in 1..{model.T} for this generator")
    if not 0.0 <= args.eta <= 1.0:
        raise UserError("--eta must be in [0, 1]")
    cond = _parse_conditions(args.condition, model)
    gen = torch.Generator(device=args.device).manual_seed(args.seed)
    molecules = []
    with tqdm(total=args.n, desc="molecules", unit="mol") as bar:
        while len(molecules) < args.n:
            b = min(args.batch_size, args.n - len(molecules))
            cvals = None if cond is None else torch.tensor([cond] * b, dtype=torch.float64)
            sizes = model.atom_counts.sample(b, None if cvals is None else cvals[:, 0], generator=torch.Generator().manual_seed(args.seed + len(molecules)))
            out = sample(model, sizes, steps=args.steps, method=args.sampler, eta=args.eta, condition=cvals,
                         generator=gen, device=args.device)
            molecules.extend(split_samples(out))
            bar.update(b)
    out = Path(args.out)
    if out.suffix.lower() != ".sdf":
        raise UserError(f"--out must end in .sdf, got {out}")
    write_sdf(out, molecules)
    write_extxyz(out.with_suffix(".xyz"), molecules)
    print(f"wrote {len(molecules)} molecules to {out} and {out.with_suffix('.xyz')}")
    if args.png:
        png = draw_grid(out.with_suffix(".png"), molecules, max_mols=args.png)
        print(f"wrote 2D depictions to {png}")
    return 0
