#!/usr/bin/env python
"""What does symmetry buy? Learning curves of equivariant vs non-equivariant force fields.

Trains, with the same optimiser, loss and step budget:

  (a) ace        the equivariant flagship
  (b) raw        a non-equivariant message-passing network on raw edge vectors
  (c) augmented  (b) trained with random O(3) + translation augmentation
  (d) pca        (b) in a PCA frame, axes oriented by skewness (pca_avg: eight-fold
                 sign averaging instead, exact everywhere but 8x the cost)
  (e) learned    (b) in a learned frame (Kaba et al. 2023)

(b)-(e) come with two non-equivariant networks: a message-passing MLP on edge
vectors (raw, augmented, pca, learned) and a stronger one, Cartesian density
projections and their products (raw_dir, augmented_dir, pca_dir, learned_dir).

at several training-set sizes, and reports the force RMSE on a test set as
given and under random rotations/reflections of the test set (an invariant
model's error must not change). Writes results.json, a markdown table and a
log-log learning-curve PNG, and the data-efficiency factor: how many times
more configurations (b)-(e) need to reach the error of (a) at --reference-size.

Example (the full study, hours on a 2-core CPU):
    python scripts/sample_efficiency.py --sizes 25 50 100 250 450 --steps 3000
A quick look:
    python scripts/sample_efficiency.py --sizes 25 100 --steps 200 --test-frames 100
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "acac"

#: model name -> (representation config, uses augmentation)
MODELS = {
    "ace": ({"name": "ace", "channels": 32, "max_l": 2, "correlation": 3, "num_interactions": 2}, False),
    "painn": ({"name": "painn"}, False),
    "raw": ({"name": "raw", "hidden": 64, "num_layers": 2}, False),
    "augmented": ({"name": "raw", "hidden": 64, "num_layers": 2}, True),
    "pca": ({"name": "canonical", "frame": "pca", "signs": "skew", "hidden": 64, "num_layers": 2}, False),
    "pca_avg": ({"name": "canonical", "frame": "pca", "signs": "average", "hidden": 64, "num_layers": 2}, False),
    "learned": ({"name": "canonical", "frame": "learned", "hidden": 64, "num_layers": 2}, False),
}
#: (b)-(e) with the stronger non-equivariant network (Cartesian density projections
#: and their products, molsym.symmetry.baselines.DirectionalMPNN): names end in _dir
DIRECTIONAL = {"name": "directional", "hidden": 48, "num_layers": 2}
MODELS.update({
    "raw_dir": (DIRECTIONAL, False),
    "augmented_dir": (DIRECTIONAL, True),
    "pca_dir": ({"name": "canonical", "frame": "pca", "signs": "skew", "network": "directional", "hidden": 48}, False),
    "learned_dir": ({"name": "canonical", "frame": "learned", "network": "directional", "hidden": 48}, False),
})


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", default=str(SHARED / "train_300K.xyz"), help="training pool (extxyz, eV/Å)")
    p.add_argument("--isolated", default=str(SHARED / "isolated_atoms.xyz"),
                   help="isolated-atom frames giving E0s ('' to fit E0s by least squares)")
    p.add_argument("--test", default=str(SHARED / "test_MD_300K.xyz"), help="test set")
    p.add_argument("--config", default=str(ROOT / "configs" / "acac.yaml"),
                   help="base training config (optimiser, loss, EMA); data and model are overridden")
    p.add_argument("--models", nargs="+", default=["ace", "raw", "augmented", "pca", "learned"], choices=list(MODELS),
                   help="models to train (painn: a second equivariant reference; pca_avg: see above)")
    p.add_argument("--sizes", nargs="+", type=int, default=[25, 50, 100, 250, 450], help="training-set sizes")
    p.add_argument("--val", type=int, default=50, help="validation frames taken from the pool")
    p.add_argument("--steps", type=int, default=1000, help="optimiser steps per run (the equal budget)")
    p.add_argument("--schedule", default="cosine", choices=["cosine", "plateau"],
                   help="cosine: learning rate annealed over --steps optimiser steps (lr -> lr/100), the same "
                        "at every training-set size; plateau: the config's ReduceLROnPlateau with patience 5 "
                        "epochs, which decays more often at small sizes (short epochs) than at large ones")
    p.add_argument("--batch-size", type=int, default=5, help="training batch size")
    p.add_argument("--test-frames", type=int, default=200, help="test frames used (first N)")
    p.add_argument("--rotations", type=int, default=1, help="randomly rotated copies of the test set")
    p.add_argument("--reference-size", type=int, default=100, help="size at which (a)'s error is the target")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"], help="training precision")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--seed", type=int, default=0, help="seed of splits, weights and rotations")
    p.add_argument("--out", default=str(ROOT / "outputs" / "sample_efficiency"), help="output folder")
    p.add_argument("--label", default="acac", help="data set name for the plot title")
    p.add_argument("--eval-dtype", default="float64", choices=["float32", "float64"],
                   help="precision of the test evaluation (float64: a rotated test set then shows a model's "
                        "symmetry, not float32 round-off, which an ill-conditioned learned frame amplifies)")
    p.add_argument("--reevaluate", action="store_true",
                   help="recompute the test errors of finished runs from their last.ckpt (EMA weights)")
    return p.parse_args(argv)


def run_config(base, args, model_name, size, pool_size, out_dir):
    """The base config with data, model, budget and augmentation set for one run."""
    rep, augment = MODELS[model_name]
    cfg = copy.deepcopy(base)
    files = [args.train] + ([args.isolated] if args.isolated else [])
    init = cfg["data"]["init_args"]
    init.update(train=files, split={"val": args.val, "test": pool_size - args.val - size, "seed": args.seed},
                batch_size=args.batch_size, e0s="isolated" if args.isolated else "lstsq", dtype=args.dtype,
                cache_dir=str(out_dir / "cache"))
    cfg["model"]["representation"] = dict(rep)
    cfg["model"]["zbl"] = False   # architectures compared without priors, whatever the base config says
    cfg["dtype"] = args.dtype
    cfg["seed"] = args.seed
    cfg["output_dir"] = str(out_dir)
    cfg["trainer"].update(max_steps=args.steps, max_epochs=-1, enable_progress_bar=False,
                          check_val_every_n_epoch=1, log_every_n_steps=10)
    cfg["checkpoint"] = {"monitor": "val/loss", "every_n_train_steps": None}
    if args.schedule == "cosine":  # the same learning-rate trajectory at every training-set size
        lr = cfg["optimizer"]["init_args"]["lr"]
        cfg["scheduler"] = {"class_path": "torch.optim.lr_scheduler.CosineAnnealingLR",
                            "init_args": {"T_max": args.steps, "eta_min": lr / 100}, "interval": "step"}
    else:
        sched = cfg.get("scheduler") or {}
        if "ReduceLROnPlateau" in sched.get("class_path", ""):
            sched["init_args"]["patience"] = 5
    cfg["callbacks"] = [{"class_path": "molsym.symmetry.augment.AugmentationCallback",
                         "init_args": {"seed": args.seed}}] if augment else []
    return cfg


def rotated_frames(frames, rng):
    """Each frame under its own random O(3) element (reflections half the time)."""
    from molsym.symmetry.group import random_rotation
    out = []
    for f in frames:
        R = random_rotation(rng, reflection=bool(rng.random() < 0.5))
        g = dict(f)
        g["pos"] = f["pos"] @ R.T
        g["forces"] = f["forces"] @ R.T
        out.append(g)
    return out


def force_rmse(model, frames):
    from molsym.train.evaluate import predict
    res = predict(model, frames, progress=False)
    return 1000.0 * float(np.sqrt(np.mean((res["forces_pred"] - res["forces_ref"]) ** 2)))


def efficiency_factor(sizes, errors, target):
    """Training size at which a curve reaches ``target`` (log-log interpolation), or None."""
    ls, le = np.log(np.asarray(sizes, float)), np.log(np.asarray(errors, float))
    for k in range(len(ls)):
        if le[k] <= np.log(target):
            if k == 0:
                return float(sizes[0])
            t = (np.log(target) - le[k - 1]) / (le[k] - le[k - 1])
            return float(np.exp(ls[k - 1] + t * (ls[k] - ls[k - 1])))
    return None


def extrapolated_size(sizes, errors, target, last: int = 3):
    """Training size where a power law fitted to the last ``last`` points reaches ``target``.

    None when the fitted slope is not negative (a flat or rising curve never gets there).
    """
    ls, le = np.log(np.asarray(sizes[-last:], float)), np.log(np.asarray(errors[-last:], float))
    if len(ls) < 2:
        return None
    slope, icpt = np.polyfit(ls, le, 1)
    if slope >= 0:
        return None
    return float(np.exp((np.log(target) - icpt) / slope))


def plot(results, path, label="acac"):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, runs in results.items():
        sizes = sorted(int(s) for s in runs)
        line, = ax.loglog(sizes, [runs[str(s)]["rmse"] for s in sizes], "o-", label=name)
        ax.loglog(sizes, [runs[str(s)]["rmse_rotated"] for s in sizes], "x--", color=line.get_color(), alpha=0.6)
    from matplotlib.ticker import NullFormatter, ScalarFormatter
    all_sizes = sorted({int(s) for runs in results.values() for s in runs})
    ax.set_xticks(all_sizes)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    errs = [r[k] for runs in results.values() for r in runs.values() for k in ("rmse", "rmse_rotated")]
    ax.set_yticks([v for v in (5, 10, 20, 30, 50, 100, 150, 200, 300, 500, 1000, 2000, 5000)
                   if min(errs) / 1.5 <= v <= max(errs) * 1.5])
    ax.set_xlabel("training configurations")
    ax.set_ylabel("force RMSE (meV/Å)")
    ax.set_title(f"{label} learning curves (dashed: rotated test set)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    import molsym.symmetry  # noqa: F401  (registers raw / canonical)
    from molsym.data.readers import read_frames
    from molsym.train.config import load_config
    from molsym.train.export import load_checkpoint_model
    from molsym.train.run import train

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pool_size = len(read_frames(args.train))
    if max(args.sizes) + args.val > pool_size:
        sys.exit(f"largest size {max(args.sizes)} + {args.val} validation frames exceeds the pool ({pool_size})")
    test = read_frames(args.test)[: args.test_frames]
    rng = np.random.default_rng(args.seed)
    test_rot = [f for _ in range(args.rotations) for f in rotated_frames(test, rng)]
    base = load_config(args.config)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in args.models:
        for size in args.sizes:
            run_dir = out / f"{name}_{size}"
            done = results.get(name, {}).get(str(size))
            if done and not args.reevaluate:
                continue  # resume a partial study
            if done:
                model, _ = load_checkpoint_model(run_dir / "checkpoints" / "last.ckpt")
                entry = dict(done)
            else:
                t0 = time.time()
                # no results entry: the run never finished (killed), so the study starts it over
                res = train(run_config(base, args, name, size, pool_size, run_dir), force=True)
                model = res["module"].averaged_model
                entry = {"train_seconds": time.time() - t0, "schedule": args.schedule,
                         "parameters": sum(p.numel() for p in model.parameters())}
            model = copy.deepcopy(model).to(getattr(torch, args.eval_dtype)).eval()
            entry.update(rmse=force_rmse(model, test), rmse_rotated=force_rmse(model, test_rot),
                         eval_dtype=args.eval_dtype)
            results.setdefault(name, {})[str(size)] = entry
            print(f"{name:>10} n={size:<4} force RMSE {entry['rmse']:.1f} meV/Å "
                  f"(rotated {entry['rmse_rotated']:.1f}), {entry['train_seconds']:.0f} s", flush=True)
            tmp = results_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(results, indent=1))
            tmp.replace(results_path)
    plot(results, out / "learning_curves.png", args.label)
    lines = ["| model | params | " + " | ".join(f"n={s}" for s in args.sizes) + " | rotated test, largest n |",
             "|---" * (len(args.sizes) + 3) + "|"]
    for name, runs in results.items():
        cells = [f"{runs[str(s)]['rmse']:.1f}" if str(s) in runs else "–" for s in args.sizes]
        last = runs[str(max(int(s) for s in runs))]
        lines.append(f"| {name} | {last['parameters']} | " + " | ".join(cells) + f" | {last['rmse_rotated']:.1f} |")
    ref = results.get("ace", {}).get(str(args.reference_size))
    if ref:
        lines.append("")
        lines.append(f"Data-efficiency factor: configurations needed to reach ace's {ref['rmse']:.1f} meV/Å "
                     f"at n={args.reference_size}, divided by {args.reference_size}:")
        for name, runs in results.items():
            if name == "ace":
                continue
            sizes = sorted(int(s) for s in runs)
            for key in ("rmse", "rmse_rotated"):
                errs = [runs[str(s)][key] for s in sizes]
                n = efficiency_factor(sizes, errs, ref["rmse"])
                if n:
                    txt = f"{n / args.reference_size:.1f}x"
                else:
                    txt = f"> {max(sizes) / args.reference_size:.1f}x (not reached)"
                    est = extrapolated_size(sizes, errs, ref["rmse"])
                    if est is None:
                        txt += "; the curve is flat or rising over the last three sizes: no extrapolation"
                    elif est / args.reference_size > 1000:
                        txt += "; power law through the last three sizes: > 1000x (nearly flat)"
                    else:
                        txt += f"; power law through the last three sizes: ~{est / args.reference_size:.0f}x"
                lines.append(f"- {name} ({'rotated test' if key != 'rmse' else 'test'}): {txt}")
    table = "\n".join(lines)
    (out / "table.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
