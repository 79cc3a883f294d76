"""Active learning against random frames: equal labelled frames, force errors on xTB test sets, hot MD.

    python scripts/bench_learn.py --molecules ethanol acac aspirin --budget-minutes 15 --md-ps 100 \\
        --threads 1 --out outputs/bench_learn

Per molecule: two independent GFN2-xTB test sets (Langevin MD at
``--temperature`` and at ``--hot``, other seeds than any training data);
``molsym learn`` with ``--budget-minutes`` (its N labelled frames and the wall
time of each stage); a "random" model with the same recipe
(molsym/resources/learn.yaml), trained for the same minutes as one AL member
got over all iterations, on N frames drawn at random from plain xTB MD at
``--temperature``; the force RMSE of the AL model (member 0), the AL
committee mean and the random model on both test sets; and a Langevin run
of ``--md-ps`` at ``--hot`` with the watchdog for the AL and the random model.
Writes ``results.json`` and ``results.md`` under ``--out``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

MOLECULES = {"ethanol": "CCO", "acac": "CC(=O)CC(C)=O", "aspirin": "CC(=O)Oc1ccccc1C(=O)O"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--molecules", nargs="+", default=list(MOLECULES), choices=list(MOLECULES))
    p.add_argument("--budget-minutes", type=float, default=15.0, help="molsym learn's wall-time budget")
    p.add_argument("--temperature", type=float, default=300.0, help="K: seed, pool and the first test set")
    p.add_argument("--hot", type=float, default=600.0, help="K: hot exploration, hot test set and hot MD")
    p.add_argument("--test-frames", type=int, default=100, help="frames per test set (10 fs apart)")
    p.add_argument("--md-ps", type=float, default=100.0, help="length of the hot stability run, ps")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--out", default="outputs/bench_learn")
    p.add_argument("--md-only", action="store_true",
                   help="only the hot stability runs, with the models an earlier run left in --out "
                        "(writes md_<ps>ps.json there)")
    return p.parse_args(argv)


def test_sets(smiles: str, folder: Path, args):
    """Two xTB MD test sets (seeds 101 and 102, after 500 fs of equilibration)."""
    from molsym.data.generate import generate_dataset

    sets = {}
    for name, temperature, seed in (("cold", args.temperature, 101), ("hot", args.hot, 102)):
        path = folder / f"test_{name}.xyz"
        if not path.is_file():
            generate_dataset(smiles, path, temperature=temperature, frames=args.test_frames, seed=seed,
                             progress=False)
        sets[name] = path
    return sets


def random_model(smiles: str, n: int, minutes: float, folder: Path, args) -> Path:
    """A model of the learn recipe on ``n`` frames drawn at random from plain xTB MD (seed 7)."""
    from ase.io import read, write

    from molsym.data.generate import generate_dataset, isolated_atoms_path
    from molsym.learn import DEFAULT_CONFIG
    from molsym.learn.members import quiet_lightning
    from molsym.train.config import load_config
    from molsym.train.export import export_checkpoint
    from molsym.train.run import train

    pool = folder / "pool.xyz"
    if not pool.is_file():
        generate_dataset(smiles, pool, temperature=args.temperature, frames=max(4 * n, 200), seed=7,
                         stride=20, equilibration_steps=400, progress=False)
    frames = read(pool, ":")
    pick = np.random.default_rng(0).choice(len(frames), size=n, replace=False)
    data = folder / "random.xyz"
    write(data, [frames[int(k)] for k in sorted(pick)], format="extxyz")
    cfg = load_config(DEFAULT_CONFIG, settings={
        "output_dir": str(folder / "random"), "data.init_args.train": [str(data), str(isolated_atoms_path(pool))],
        "trainer.max_time": {"seconds": int(round(60 * minutes))}, "trainer.max_epochs": 100000,
        "trainer.enable_progress_bar": False, "trainer.enable_model_summary": False})
    with quiet_lightning():
        result = train(cfg, force=True, final_eval_frames=0)
    return export_checkpoint(result["best"], folder / "random" / "model.pt")


def hot_md(model, start_file: Path, args) -> dict:
    from ase.io import read

    from molsym.calculator import MolSymCalculator
    from molsym.md import StabilityWatchdog, run_md

    atoms = read(start_file, 0)
    atoms.info.clear()
    atoms.calc = MolSymCalculator(model)
    steps = int(round(args.md_ps * 1000 / 0.5))
    result = run_md(atoms, ensemble="langevin", temperature=args.hot, timestep=0.5, steps=steps,
                    watchdog=StabilityWatchdog(atoms), log_every=100, seed=0, progress=False)
    return {"steps": result.steps, "asked": steps, "ps": result.steps * 0.5e-3, "stable": result.instability is None,
            "instability": None if result.instability is None else str(result.instability),
            "seconds": result.wall_s}


def bench_molecule(name: str, args) -> dict:
    from ase.io import read

    from molsym.learn import LearnSettings, learn
    from molsym.learn.loop import force_rmse, read_test_set

    smiles = MOLECULES[name]
    folder = Path(args.out) / name
    folder.mkdir(parents=True, exist_ok=True)
    tests = test_sets(smiles, folder, args)
    t0 = time.perf_counter()
    settings = LearnSettings(smiles=smiles, out=str(folder / "al"), temperature=args.temperature,
                             hot_temperature=args.hot, budget_minutes=args.budget_minutes)
    state = learn(settings, force=True, report=lambda line: print(f"[{name}] {line}", flush=True))
    al_wall = time.perf_counter() - t0
    n = len(read(folder / "al" / "data.xyz", ":"))
    its = state["iterations"]
    member_minutes = sum(r["train_s"] for r in its) / 60 / settings.committee
    rnd = random_model(smiles, n, member_minutes, folder, args)
    models = {"al": folder / "al" / "model.pt", "al_committee": folder / "al" / "committee.json", "random": rnd}
    frames = {t: read_test_set(path) for t, path in tests.items()}
    errors = {m: {t: force_rmse(p, frames[t]) for t in tests} for m, p in models.items()}
    md = {m: hot_md(models[m], tests["hot"], args) for m in ("al", "random")}
    stages = {"seed_s": state["seed"]["seconds"], "train_s": sum(r["train_s"] for r in its),
              "explore_s": sum(r["explore_s"] for r in its), "label_s": sum(r.get("label_s", 0.0) for r in its)}
    return {"smiles": smiles, "frames": n, "iterations": len(its), "stopped": state["stopped"],
            "al_wall_s": al_wall, "stages": stages, "member_train_minutes": member_minutes,
            "force_rmse": errors, "hot_md": md}


def table(results: dict, args) -> str:
    lines = [f"| molecule | frames | AL wall (seed / train / explore / label) | F RMSE {args.temperature:g} K: AL / "
             f"committee / random (meV/Å) | F RMSE {args.hot:g} K: AL / committee / random | "
             f"{args.md_ps:g} ps at {args.hot:g} K: AL / random |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        e, s = r["force_rmse"], r["stages"]
        md = " / ".join(f"{'stable' if r['hot_md'][m]['stable'] else 'broke at %.1f ps' % r['hot_md'][m]['ps']}"
                        for m in ("al", "random"))
        lines.append(
            f"| {name} | {r['frames']} | {r['al_wall_s'] / 60:.1f} min ({s['seed_s']:.0f} / {s['train_s']:.0f} / "
            f"{s['explore_s']:.0f} / {s['label_s']:.0f} s) | "
            + " / ".join(f"{1e3 * e[m]['cold']:.1f}" for m in ("al", "al_committee", "random")) + " | "
            + " / ".join(f"{1e3 * e[m]['hot']:.1f}" for m in ("al", "al_committee", "random")) + f" | {md} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.md_only:
        md = {}
        for name in args.molecules:
            folder = out / name
            md[name] = {m: hot_md(folder / m / "model.pt", folder / "test_hot.xyz", args) for m in ("al", "random")}
            print(f"{name}: {json.dumps(md[name])}", flush=True)
        (out / f"md_{args.md_ps:g}ps.json").write_text(json.dumps({"args": vars(args), "hot_md": md}, indent=1) + "\n")
        return 0
    results = {name: bench_molecule(name, args) for name in args.molecules}
    (out / "results.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1) + "\n")
    text = table(results, args)
    (out / "results.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
