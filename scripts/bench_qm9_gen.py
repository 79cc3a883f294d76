#!/usr/bin/env python
"""Benchmark a diffusion generator with the standard QM9 metrics.

For every requested number of sampling steps: generate ``--n-samples``
molecules, time them (wall time per 100 molecules), and score atom / molecule
stability, RDKit validity, validity×uniqueness and novelty. Optionally scores
QM9's own test molecules as the sanity row of the metric (``--data-sanity N``).
Prints a markdown table (published rows beside) and writes JSON.

Examples
--------
    python scripts/bench_qm9_gen.py --model outputs/qm9_edm/gen.pt --n-samples 10000 --steps 1000 100 50 \
        --reference train --config configs/qm9_edm.yaml
    python scripts/bench_qm9_gen.py --n-samples 100 --steps 500 50 --reference train --data-sanity 3000

``--reference train`` takes the generator's training molecules from ``--config`` (the
``molsym train`` config it was trained with, plus ``--override`` values); files of format
version 1, such as the shipped demo model, record their data settings themselves.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from molsym.cli.eval_gen import PUBLISHED_DIST as PUBLISHED
from molsym.diffusion import sample
from molsym.diffusion.data import qm9_split
from molsym.diffusion.evaluation import evaluate_molecules, reference_smiles, smiles_of_geometries
from molsym.diffusion.export import split_samples
from molsym.diffusion.qm9 import load_molecule_frames, load_qm9_frames
from molsym.generate import load_generator

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "molsym" / "resources" / "qm9_edm_cpu.pt"


def training_reference(extra: dict, config: Optional[str] = None, overrides=()) -> set:
    """Canonical SMILES of the molecules the generator was trained on.

    From the ``data`` module of the ``molsym train`` config ``config`` when given, else
    from the data settings a format-version-1 file records in ``extra["config"]``.
    """
    if config is not None:
        from molsym.train.config import instantiate, load_config

        dm = instantiate(load_config(config, overrides)["data"])
        dm.setup("fit")
        records = dm.records["train"]
        return smiles_of_geometries([(r["atomic_numbers"], r["pos"]) for r in records], progress=True)
    if "config" not in extra:
        raise SystemExit("--reference train: this generator file does not record its training data; "
                         "pass --config <the molsym train config it was trained with>")
    data = extra["config"]["data"]
    frames = load_molecule_frames(data, ())
    split = qm9_split(len(frames), seed=int(data.get("split_seed", 0)))
    limit = (data.get("subset") or {}).get("train")
    idx = split["train"][:limit] if limit else split["train"]
    return smiles_of_geometries([(frames[i]["atomic_numbers"], frames[i]["pos"]) for i in idx], progress=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="generator file")
    p.add_argument("--n-samples", type=int, default=10000, help="molecules generated per setting")
    p.add_argument("--steps", type=int, nargs="+", default=[1000, 100, 50],
                   help="numbers of sampling steps (values above the model's T are clipped to T)")
    p.add_argument("--sampler", choices=["ancestral", "ddim"], default="ancestral", help="sampling method")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM stochasticity")
    p.add_argument("--batch-size", type=int, default=100, help="molecules sampled together")
    p.add_argument("--reference", default="qm9",
                   help="novelty reference: 'train' (the model's own training molecules), 'qm9', a file, or 'none'")
    p.add_argument("--config", default=None,
                   help="the molsym train config of the generator (for --reference train)")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="config override used in training, e.g. data.init_args.subset.train=8000 (repeatable)")
    p.add_argument("--data-sanity", type=int, default=0,
                   help="also score this many QM9 test-split molecules (the metric's sanity row)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument("--json", default=None, help="write all figures to this JSON file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    model, extra = load_generator(args.model, device=args.device)
    if args.reference == "none":
        ref = None
    elif args.reference == "train":
        ref = training_reference(extra, args.config, args.override)
    else:
        ref = reference_smiles(args.reference)
    rows = []
    if args.data_sanity:
        frames = load_qm9_frames()
        test = qm9_split(len(frames), seed=0)["test"][: args.data_sanity]
        m = evaluate_molecules([(frames[i]["atomic_numbers"], frames[i]["pos"]) for i in test], ref)
        rows.append({"name": f"QM9 test molecules (n={len(test)})", **{k: v for k, v in m.items() if k != "smiles"}})
    for steps in args.steps:
        steps = min(steps, model.T)
        gen = torch.Generator(device=args.device).manual_seed(args.seed)
        size_gen = torch.Generator().manual_seed(args.seed)
        molecules, start = [], time.perf_counter()
        while len(molecules) < args.n_samples:
            b = min(args.batch_size, args.n_samples - len(molecules))
            sizes = model.atom_counts.sample(b, generator=size_gen)
            cond = None
            out = sample(model, sizes, steps=steps, method=args.sampler, eta=args.eta, condition=cond,
                         generator=gen, device=args.device)
            molecules.extend(split_samples(out))
        wall = time.perf_counter() - start
        m = evaluate_molecules([(z, pos) for z, pos, _ in molecules], ref)
        rows.append({"name": f"molsym, {steps} steps ({args.sampler})", "steps": steps,
                     "wall_s_per_100": 100 * wall / len(molecules),
                     **{k: v for k, v in m.items() if k != "smiles"}})
        print(f"{steps} steps: {json.dumps({k: v for k, v in rows[-1].items() if k != 'name'})}", flush=True)

    head = "| model | atom stab. % | mol stab. % | valid % | valid×unique % | novelty % | s / 100 mol |"
    lines = [head, "|" + "---|" * 7]
    for r in rows:
        nov = r.get("novelty", float("nan"))
        lines.append(f"| {r['name']} | {100 * r['atom_stability']:.1f} | {100 * r['mol_stability']:.1f} | "
                     f"{100 * r['validity']:.1f} | {100 * r['valid_unique']:.1f} | "
                     f"{'–' if np.isnan(nov) else f'{100 * nov:.1f}'} | "
                     f"{r['wall_s_per_100']:.1f} |" if "wall_s_per_100" in r else
                     f"| {r['name']} | {100 * r['atom_stability']:.1f} | {100 * r['mol_stability']:.1f} | "
                     f"{100 * r['validity']:.1f} | {100 * r['valid_unique']:.1f} | – | – |")
    for name, (a, mo, v, vu) in PUBLISHED.items():
        lines.append(f"| {name} (published) | {a} | {mo} | {v} | {vu} | – | – |")
    print("\n".join(lines))
    if args.json:
        info = {"model": args.model, "model_extra": {k: v for k, v in extra.items() if k != "config"},
                "machine": platform.processor() or platform.machine(), "threads": args.threads,
                "n_samples": args.n_samples, "rows": rows}
        Path(args.json).write_text(json.dumps(info, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
