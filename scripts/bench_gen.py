"""Side-by-side generator benchmark: flow matching with bonds vs the EDM design, equal CPU minutes.

    python scripts/bench_gen.py --minutes 30 --every 5 --train 20000 --threads 1 --out outputs/bench_gen

Both generators train through ``molsym train`` on the same QM9 subset (the
first ``--train`` molecules of the standard split), concurrently, one process
each with ``--threads`` threads, so both see the same machine load. Every
``--every`` minutes of training each run exports its EMA generator. Afterwards
each snapshot samples ``--samples`` molecules (at ``--curve-steps`` steps) and
the last snapshot of each run is also sampled at 20 / 50 / 100 steps; every
sample set is scored by both protocols (generated bonds where the model makes
them; bonds from distances) and timed. Writes ``results.json``, a markdown
table (``results.md``) and the learning curve ``learning_curve.png``
(molecule stability against CPU minutes) under ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import lightning.pytorch as pl

ROOT = Path(__file__).resolve().parents[1]
#: name → (config, overrides that put it on the benchmark's subset)
RUNS = {
    # the flow model as first measured, without the distance loss (configs/qm9_flow.yaml now has it)
    "flow": ("configs/qm9_flow.yaml", ["data.init_args.subset.val=256", "generator.val_samples=0",
                                       "model.init_args.loss_weights.distance=0.0"]),
    "edm": ("configs/qm9_edm_cpu.yaml", ["data.init_args.subset.val=256"]),
    # the flow model with self-conditioning (a structural variant, measured against "flow")
    "flow-sc": ("configs/qm9_flow.yaml", ["data.init_args.subset.val=256", "generator.val_samples=0",
                                          "model.init_args.loss_weights.distance=0.0",
                                          "model.init_args.network.self_condition=true"]),
    # the flow model with a loss on the distances of close pairs (a structural variant, measured against "flow")
    "flow-dist": ("configs/qm9_flow.yaml", ["data.init_args.subset.val=256", "generator.val_samples=0",
                                            "model.init_args.loss_weights.distance=1.0"]),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="training minutes of each generator")
    p.add_argument("--every", type=float, default=5.0, help="minutes between exported snapshots")
    p.add_argument("--train", type=int, default=20000, help="QM9 training molecules (first of the standard split)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of each training process")
    p.add_argument("--samples", type=int, default=200, help="molecules sampled per snapshot and step count")
    p.add_argument("--curve-steps", type=int, default=50, help="integration steps of the learning-curve samples")
    p.add_argument("--steps", type=int, nargs="+", default=[20, 50, 100], help="step counts for the last snapshots")
    p.add_argument("--runs", nargs="+", default=["flow", "edm"], choices=list(RUNS), help="generators to compare")
    p.add_argument("--out", default="outputs/bench_gen", help="output folder (must not hold results.json)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: train one run
    return p.parse_args(argv)


class Snapshots(pl.Callback):
    """Export the EMA generator every ``every`` minutes of training, with the wall and CPU minutes spent."""

    def __init__(self, folder: Path, every: float):
        self.folder, self.every = folder, every
        self.next = every
        self.start = self.cpu0 = None

    def on_train_start(self, trainer, module):
        self.start, self.cpu0 = time.perf_counter(), time.process_time()
        self._save(module, trainer, 0.0)

    def on_train_batch_end(self, trainer, module, *args):
        minutes = (time.perf_counter() - self.start) / 60
        if minutes >= self.next:
            self._save(module, trainer, minutes)
            self.next += self.every

    def on_train_end(self, trainer, module):
        self._save(module, trainer, (time.perf_counter() - self.start) / 60)

    def _save(self, module, trainer, minutes):
        from molsym.generate import save_generator

        cpu = (time.process_time() - self.cpu0) / 60
        save_generator(module.averaged_model, self.folder / f"snap_{trainer.global_step:09d}.pt",
                       {"minutes": minutes, "cpu_minutes": cpu, "global_step": trainer.global_step})


def worker(args) -> None:
    """Train run ``args.worker`` for ``args.minutes`` (a subprocess of the benchmark)."""
    import torch

    from molsym.train.config import load_config
    from molsym.train.run import train

    torch.set_num_threads(args.threads)
    config, overrides = RUNS[args.worker]
    out = Path(args.out) / args.worker
    cfg = load_config(ROOT / config, overrides + [
        f"output_dir={out}", f"data.init_args.subset.train={args.train}",
        "trainer.max_epochs=100000", f"trainer.max_time={{minutes: {args.minutes}}}",
        "trainer.enable_progress_bar=false", "trainer.check_val_every_n_epoch=1000000",
        "checkpoint.every_n_train_steps=1000000"])
    # the benchmark's own folder: a crashed earlier attempt (no results.json) is started over
    train(cfg, extra_callbacks=[Snapshots(out / "snapshots", args.every)], force=True)


def score(path: Path, samples: int, steps: int) -> dict:
    """Sample ``samples`` molecules from a snapshot at ``steps`` steps; scores by both protocols and timing."""
    import torch

    from molsym.generate import generation_metrics, load_generator

    model, extra = load_generator(path)
    start = time.perf_counter()
    mols = model.sample_molecules(samples, steps=steps, generator=torch.Generator().manual_seed(0))
    seconds = time.perf_counter() - start
    m = generation_metrics(mols)
    out = {k: v for k, v in m.items() if k != "smiles"}
    out.update(extra, steps=steps, seconds_per_100=100 * seconds / samples, snapshot=str(path))
    return out


def _table(results: dict) -> str:
    lines = ["| run | CPU min | steps | mol. stable (bonds) | atom stable (bonds) | valid (bonds) | "
             "mol. stable (dist.) | atom stable (dist.) | valid (dist.) | s / 100 mol |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    pct = lambda r, k: f"{100 * r[k]:.1f}" if k in r else "n/a"  # noqa: E731
    for name, res in results.items():
        for r in res["curve"] + res["final"]:
            lines.append(f"| {name} | {r['cpu_minutes']:.1f} | {r['steps']} | {pct(r, 'mol_stable')} | "
                         f"{pct(r, 'atom_stable')} | {pct(r, 'validity')} | {pct(r, 'mol_stable_dist')} | "
                         f"{pct(r, 'atom_stable_dist')} | {pct(r, 'validity_dist')} | {r['seconds_per_100']:.1f} |")
    return "\n".join(lines)


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, res in results.items():
        cpu = [r["cpu_minutes"] for r in res["curve"]]
        ax.plot(cpu, [100 * r["mol_stable_dist"] for r in res["curve"]], "o-", label=f"{name}: distances (EDM)")
        if "mol_stable" in res["curve"][0]:
            ax.plot(cpu, [100 * r["mol_stable"] for r in res["curve"]], "s--", label=f"{name}: generated bonds")
    ax.set_xlabel("training CPU minutes")
    ax.set_ylabel("molecule stability (%)")
    ax.set_title("QM9 generators at equal CPU time")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    out = Path(args.out)
    if (out / "results.json").exists():
        print(f"bench_gen: error: {out / 'results.json'} exists; choose another --out", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    procs = {}
    for name in args.runs:
        cmd = [sys.executable, __file__, "--worker", name, "--minutes", str(args.minutes), "--every", str(args.every),
               "--train", str(args.train), "--threads", str(args.threads), "--out", str(out)]
        log = open(out / f"{name}.log", "w")
        procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT), log)
        print(f"training {name} for {args.minutes} min (log: {out / f'{name}.log'})", flush=True)
    for name, (proc, log) in procs.items():
        if proc.wait() != 0:
            print(f"bench_gen: error: the {name} run failed, see {out / f'{name}.log'}", file=sys.stderr)
            return 1
        log.close()
    import torch

    torch.set_num_threads(max(1, args.threads * len(args.runs)))
    results = {}
    for name in args.runs:
        snaps = sorted((out / name / "snapshots").glob("snap_*.pt"))
        curve = [score(s, args.samples, args.curve_steps) for s in snaps]
        final = [score(snaps[-1], args.samples, k) for k in args.steps if k != args.curve_steps]
        results[name] = {"curve": curve, "final": final}
        last = curve[-1]
        print(f"{name}: {last['cpu_minutes']:.1f} CPU min, molecule stability {100 * last['mol_stable_dist']:.1f} % "
              f"(distances)" + (f", {100 * last['mol_stable']:.1f} % (generated bonds)" if "mol_stable" in last
                               else ""), flush=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "command": " ".join(sys.argv), "args": vars(args)}
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    (out / "results.md").write_text(_table(results) + "\n")
    _plot(results, out / "learning_curve.png")
    print(_table(results))
    print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'learning_curve.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
