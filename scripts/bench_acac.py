"""Acetylacetone benchmark: molsym (and optionally mace-torch) on the same data and wall clock.

Trains configs/acac.yaml on ../shared/data/acac/train_300K.xyz (450 train /
50 validation) for a wall-clock budget, then reports energy RMSE (meV, whole
molecule) and force RMSE (meV/Å, per component) on test_MD_300K and
test_MD_600K, plots the energy along test_H_transfer and test_dihedral against
DFT, and the training throughput (configurations per second).

With ``--mace`` the same split is trained with mace-torch from the peer
virtual environment ``.venv-mace`` (``bash scripts/setup_peer_env.sh``) for
the same budget (32 channels, max_L 1, correlation 3, 2 interactions,
r_max 5 Å, float64, EMA), and the ratio of force RMSEs molsym/MACE is printed.

    python scripts/bench_acac.py --minutes 30 --mace [--append-docs] [key=value ...]

Figures go to outputs/bench_acac/ (results.json, profiles.png); with
``--append-docs`` a dated section is appended to docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TESTS = ("test_MD_300K", "test_MD_600K")
PROFILES = ("test_H_transfer", "test_dihedral")
#: Published (MACE paper, Batatia et al. 2022): energy meV / force meV/Å.
PUBLISHED = {"MACE": {"test_MD_300K": (0.9, 5.1), "test_MD_600K": (4.6, 22.4)},
             "NequIP": {"test_MD_300K": (0.81, 5.90), "test_MD_600K": (6.04, 27.8)}}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="training wall-clock budget per code, minutes")
    p.add_argument("--config", default="configs/acac.yaml", help="molsym config (default configs/acac.yaml)")
    p.add_argument("--data", default="../shared/data/acac", help="folder of the acac extxyz files")
    p.add_argument("--out", default="outputs/bench_acac", help="output folder")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for each code (default 2)")
    p.add_argument("--mace", action="store_true", help="also train mace-torch from the peer venv, same budget")
    p.add_argument("--mace-venv", default=".venv-mace", help="mace-torch virtual environment (default .venv-mace)")
    p.add_argument("--mace-seed", type=int, default=0,
                   help="mace-torch's --seed (default 0, the seed of every earlier comparison); the train/validation "
                        "split is molsym's and does not change with it")
    p.add_argument("--skip-molsym", action="store_true", help="only run mace-torch")
    p.add_argument("--force", action="store_true",
                   help="retrain molsym even though <out>/molsym/checkpoints holds an earlier benchmark's "
                        "checkpoints (they are deleted); without it the benchmark stops before training anything")
    p.add_argument("--concurrent", action="store_true",
                   help="train molsym and mace-torch at the same time (each with --threads threads) instead of "
                        "one after the other: half the wall time, and both see the same machine load")
    p.add_argument("--cosine", action="store_true",
                   help="molsym: decay the learning rate by a cosine over the wall-clock budget "
                        "(molsym.train.schedules.WallClockCosineLR, to lr/100) instead of the config's "
                        "plateau schedule, which never triggers within 30 minutes")
    p.add_argument("--limit-train", type=int, default=None, metavar="N",
                   help="smoke runs only: train on N of the 450 frames (MACE: the first N of the split; "
                        "molsym: N/batch_size batches per epoch)")
    p.add_argument("--eval-dtype", default="float64", choices=["float32", "float64"],
                   help="precision of the test-set evaluation (default float64: a float32-trained model is "
                        "converted exactly, so total energies of ~10 keV are not rounded to float32's ~1 meV)")
    p.add_argument("--append-docs", action="store_true", help="append the measured figures to docs/benchmarks.md")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="molsym config overrides")
    return p.parse_args(argv)


def _budget(seconds: int) -> str:
    return f"00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _rmse(pred, ref) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(ref)) ** 2)))


# ---------------------------------------------------------------- molsym
def run_molsym(args, data: Path, out: Path) -> dict:
    import torch

    from molsym.data.readers import read_frames
    from molsym.train.config import load_config
    from molsym.train.evaluate import predict
    from molsym.train.export import export_checkpoint, load_checkpoint_model
    from molsym.train.run import train

    torch.set_num_threads(args.threads)
    budget = int(args.minutes * 60)
    extra = []
    base = load_config(args.config, args.overrides)  # batch size and lr as the run will see them
    if args.limit_train:
        batch = base["data"]["init_args"]["batch_size"]
        extra.append(f"trainer.limit_train_batches={max(1, args.limit_train // batch)}")
    if args.cosine:
        lr = float(base["optimizer"]["init_args"]["lr"])
        extra.append("scheduler={class_path: molsym.train.schedules.WallClockCosineLR, "
                     f"init_args: {{budget_seconds: {budget}, eta_min: {lr / 100}}}, interval: step}}")
    cfg = load_config(args.config, [f"output_dir={out / 'molsym'}", f"trainer.max_time={_budget(budget)}",
                                    *extra, *args.overrides])
    result = train(cfg, force=args.force)
    seconds = result["fit_seconds"]  # Trainer.fit wall time: training and validation
    model, hp = load_checkpoint_model(result["best"])
    model = model.to(getattr(torch, args.eval_dtype))
    export_checkpoint(result["best"], out / "molsym" / "model.pt")
    trainer = result["trainer"]
    batch = cfg["data"]["init_args"]["batch_size"]
    res = {"train_seconds": seconds, "epochs": trainer.current_epoch, "steps": trainer.global_step,
           "best_epoch": hp["epoch"], "configs_per_second": trainer.global_step * batch / seconds,
           "split": {k: v.tolist() for k, v in result["datamodule"].split.items()}, "tests": {}, "profiles": {},
           "model": cfg["model"]["representation"], "dtype": cfg["dtype"],
           "eval_dtype": args.eval_dtype}
    for name in TESTS + PROFILES:
        frames = read_frames(data / f"{name}.xyz")
        pred = predict(model, frames, batch_size=25, progress=False)
        if name in TESTS:
            res["tests"][name] = {"energy_rmse": pred["metrics"]["energy_rmse"],
                                  "forces_rmse": pred["metrics"]["forces_rmse"]}
        else:
            res["profiles"][name] = {"dft": pred["energy_ref"].tolist(), "pred": pred["energy_pred"].tolist()}
    return res


def _split(args, out: Path) -> dict:
    """The train/val/test indices the molsym config draws, as lists."""
    from molsym.train.config import load_config
    from molsym.train.run import build_datamodule

    cfg = load_config(args.config, [f"output_dir={out / 'molsym'}", *args.overrides])
    return {k: v.tolist() for k, v in build_datamodule(cfg).split.items()}


# ---------------------------------------------------------------- mace-torch
def _write_mace_split(data: Path, split: dict, folder: Path) -> dict:
    """Write the molsym train/validation split with REF_energy/REF_forces keys (MACE's convention)."""
    from ase.io import read, write

    images = read(data / "train_300K.xyz", ":")
    iso = read(data / "isolated_atoms.xyz", ":")
    e0s = {int(a.numbers[0]): float(a.get_potential_energy()) for a in iso}
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for part, key in (("train", "train"), ("valid", "val")):
        out = []
        for i in split[key]:
            a = images[i]
            b = a.copy()
            b.info = {"REF_energy": float(a.get_potential_energy())}
            b.arrays["REF_forces"] = a.get_forces()
            out.append(b)
        paths[part] = folder / f"{part}.xyz"
        write(paths[part], out, format="extxyz")
    return {"paths": paths, "e0s": e0s}


def run_mace(args, data: Path, out: Path, split: dict) -> dict:
    venv = Path(args.mace_venv)
    train_exe, eval_exe = venv / "bin" / "mace_run_train", venv / "bin" / "mace_eval_configs"
    if not train_exe.exists():
        msg = f"mace-torch peer environment not found ({train_exe} missing): run bash scripts/setup_peer_env.sh"
        print(msg)
        return {"error": msg}
    work = out / "mace"
    if args.limit_train:
        split = dict(split, train=split["train"][: args.limit_train])
    prepared = _write_mace_split(data, split, work / "data")
    e0s = "{" + ", ".join(f"{z}: {e!r}" for z, e in sorted(prepared["e0s"].items())) + "}"
    common = [
        "--name", "mace_acac", "--seed", str(args.mace_seed), "--work_dir", str(work), "--device", "cpu",
        "--train_file", str(prepared["paths"]["train"]), "--valid_file", str(prepared["paths"]["valid"]),
        "--energy_key", "REF_energy", "--forces_key", "REF_forces", "--E0s", e0s,
        "--model", "MACE", "--num_channels", "32", "--max_L", "1", "--correlation", "3",
        "--num_interactions", "2", "--r_max", "5.0", "--default_dtype", "float64",
        "--batch_size", "5", "--valid_batch_size", "25", "--lr", "0.01", "--amsgrad",
        "--ema", "--ema_decay", "0.99", "--energy_weight", "1.0", "--forces_weight", "100.0",
        "--eval_interval", "1", "--error_table", "TotalRMSE",
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    log = work / "mace_train.log"
    budget = int(args.minutes * 60)
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        try:
            subprocess.run([str(train_exe), *common, "--max_num_epochs", "100000"], env=env, stdout=fh,
                           stderr=subprocess.STDOUT, timeout=budget, check=False)
        except subprocess.TimeoutExpired:
            pass  # the budget is spent: use the best (EMA) checkpoint so far
    seconds = time.perf_counter() - t0
    ckpts = sorted(work.rglob(f"mace_acac_run-{args.mace_seed}_epoch-*.pt"),
                   key=lambda p: int(re.search(r"epoch-(\d+)", p.name).group(1)))
    epochs_seen = len(re.findall(r"Epoch (\d+):", log.read_text()))
    if not ckpts:
        return {"error": f"no MACE checkpoint within {args.minutes:g} min (see {log})", "train_seconds": seconds}
    best_epoch = int(re.search(r"epoch-(\d+)", ckpts[-1].name).group(1))
    # reload the best checkpoint and let mace write its model file (zero further epochs)
    with open(work / "mace_export.log", "w") as fh:
        subprocess.run([str(train_exe), *common, "--restart_latest", "--max_num_epochs", str(best_epoch)],
                       env=env, stdout=fh, stderr=subprocess.STDOUT, check=True, timeout=1800)
    model_file = next(iter(sorted(work.rglob("mace_acac.model"))), None)
    if model_file is None:
        return {"error": f"mace did not write mace_acac.model (see {work / 'mace_export.log'})"}
    res = {"seed": args.mace_seed, "train_seconds": seconds, "epochs": epochs_seen, "best_epoch": best_epoch,
           "configs_per_second": epochs_seen * len(split["train"]) / seconds, "tests": {}, "profiles": {}}
    from ase.io import read

    for name in TESTS + PROFILES:
        pred_file = work / f"pred_{name}.xyz"
        subprocess.run([str(eval_exe), "--configs", str(data / f"{name}.xyz"), "--model", str(model_file),
                        "--output", str(pred_file), "--default_dtype", "float64", "--device", "cpu",
                        "--batch_size", "25"], env=env, check=True, stdout=subprocess.DEVNULL, timeout=1800)
        ref, pred = read(data / f"{name}.xyz", ":"), read(pred_file, ":")
        e_ref = np.array([a.get_potential_energy() for a in ref])
        e_pred = np.array([a.info["MACE_energy"] for a in pred])
        if name in TESTS:
            f_ref = np.concatenate([a.get_forces() for a in ref])
            f_pred = np.concatenate([a.arrays["MACE_forces"] for a in pred])
            res["tests"][name] = {"energy_rmse": 1000 * _rmse(e_pred, e_ref),
                                  "forces_rmse": 1000 * _rmse(f_pred, f_ref)}
        else:
            res["profiles"][name] = {"dft": e_ref.tolist(), "pred": e_pred.tolist()}
    return res


# ---------------------------------------------------------------- report
def plot_profiles(results: dict, png: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from molsym.train.plots import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, name in zip(axes, PROFILES):
        drawn = False
        for code, style in (("molsym", "o-"), ("mace", "s--")):
            prof = results.get(code, {}).get("profiles", {}).get(name)
            if not prof:
                continue
            if not drawn:
                dft = np.array(prof["dft"])
                ax.plot(1000 * (dft - dft.min()), "k-", lw=2, label="DFT")
                drawn = True
            pred = np.array(prof["pred"])
            ax.plot(1000 * (pred - pred.min()), style, ms=3, label=code)
        ax.set_title(name)
        ax.set_xlabel("image" if "H_transfer" in name else "scan point")
        ax.set_ylabel("relative energy (meV)")
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, png)


def barriers(results: dict) -> str:
    """Energy span (max − min, meV) along each profile: DFT and every code's prediction."""
    lines = []
    for code in ("molsym", "mace"):
        for name, prof in results.get(code, {}).get("profiles", {}).items():
            span = {k: 1000 * (max(v) - min(v)) for k, v in prof.items()}
            lines.append(f"{code:<10} {name:<16} barrier {span['pred']:8.1f} meV (DFT {span['dft']:.1f})")
    return "\n".join(lines)


def table(results: dict) -> str:
    lines = [f"{'code':<10} {'test':<14} {'E RMSE (meV)':>13} {'F RMSE (meV/Å)':>15}"]
    for code in ("molsym", "mace"):
        for name, m in results.get(code, {}).get("tests", {}).items():
            lines.append(f"{code:<10} {name:<14} {m['energy_rmse']:13.2f} {m['forces_rmse']:15.2f}")
    return "\n".join(lines)


def append_docs(results: dict, args, command: str) -> None:
    today = datetime.date.today().isoformat()
    cpu = platform.processor() or platform.machine()
    ms, mc = results.get("molsym", {}), results.get("mace", {})
    lines = [f"\n## acac (acetylacetone), molsym vs mace-torch — {today}\n",
             f"Machine: {os.cpu_count()}-core CPU ({cpu}), {args.threads} threads per code, float64. "
             f"Budget: {args.minutes:g} min of training wall clock per code"
             + (", both codes training at the same time.\n" if args.concurrent else ", one code after the other.\n"),
             f"Command: `{command}`\n",
             "| code | model | epochs | configs/s | E RMSE 300K (meV) | F RMSE 300K (meV/Å) "
             "| E RMSE 600K (meV) | F RMSE 600K (meV/Å) |", "|---|---|---|---|---|---|---|---|"]
    for code, res, model in (("molsym", ms, json.dumps(ms.get("model"))),
                             ("mace-torch", mc, "MACE 32ch, max_L 1, corr 3, 2 int, r 5 Å")):
        t = res.get("tests", {})
        if len(t) == 2:
            a, b = t["test_MD_300K"], t["test_MD_600K"]
            lines.append(f"| {code} | {model} | {res['epochs']} | {res['configs_per_second']:.1f} | "
                         f"{a['energy_rmse']:.2f} | {a['forces_rmse']:.2f} | {b['energy_rmse']:.2f} | "
                         f"{b['forces_rmse']:.2f} |")
    if "ratio_forces_rmse" in results:
        lines.append("\nForce-RMSE ratio molsym/MACE: " + ", ".join(
            f"{k}: {v:.2f}" for k, v in results["ratio_forces_rmse"].items()) + "\n")
    with open(REPO / "docs" / "benchmarks.md", "a") as fh:  # append only: others add sections too
        fh.write("\n".join(lines) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python scripts/bench_acac.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    os.chdir(REPO)
    data, out = Path(args.data), Path(args.out)
    if not (data / "train_300K.xyz").is_file():
        print(f"acac data not found in {data}", file=sys.stderr)
        return 2
    earlier = out / "molsym" / "checkpoints"
    if not args.skip_molsym and not args.force and any((earlier / n).is_file() for n in ("last.ckpt", "best.ckpt")):
        # checked before mace-torch starts (with --concurrent it would otherwise be left running)
        print(f"bench_acac: error: {earlier} holds an earlier benchmark's checkpoints; "
              "choose another --out or pass --force to retrain over them", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    results = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "minutes": args.minutes,
               "threads": args.threads, "command": command}
    split = None
    if args.concurrent and args.mace and not args.skip_molsym:
        import threading

        split = _split(args, out)  # the split molsym's training will draw (same config, same seed)
        peer = threading.Thread(target=lambda: results.__setitem__("mace", run_mace(args, data, out, split)))
        peer.start()  # mace-torch runs in its own process; this thread only waits on it
        results["molsym"] = run_molsym(args, data, out)
        peer.join()
        if results["molsym"]["split"] != split:
            raise RuntimeError("molsym trained on a different split than the one given to mace-torch")
    else:
        if not args.skip_molsym:
            results["molsym"] = run_molsym(args, data, out)
            split = results["molsym"]["split"]
        if args.mace:
            results["mace"] = run_mace(args, data, out, split if split is not None else _split(args, out))
    if "tests" in results.get("molsym", {}) and results.get("mace", {}).get("tests"):
        results["ratio_forces_rmse"] = {t: results["molsym"]["tests"][t]["forces_rmse"]
                                        / results["mace"]["tests"][t]["forces_rmse"] for t in TESTS}
    for code in ("molsym", "mace"):
        results.get(code, {}).pop("split", None)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    png = plot_profiles(results, out / "profiles.png")
    print(table(results))
    print(barriers(results))
    for code in ("molsym", "mace"):
        r = results.get(code)
        if r and "train_seconds" in r:
            print(f"{code}: {r.get('epochs')} epochs in {r['train_seconds'] / 60:.1f} min, "
                  f"{r.get('configs_per_second', float('nan')):.1f} configs/s" + (f"  ({r['error']})" if "error" in r else ""))
        elif r:
            print(f"{code}: {r.get('error')}")
    if "ratio_forces_rmse" in results:
        print("force RMSE ratio molsym/MACE: " + ", ".join(f"{k} {v:.2f}" for k, v in results["ratio_forces_rmse"].items()))
    print(f"published (MACE paper): {PUBLISHED}")
    print(f"results: {out / 'results.json'}, profiles: {png}")
    if args.append_docs and args.limit_train:
        print("not appending to docs/benchmarks.md: --limit-train is for smoke runs")
    elif args.append_docs:
        append_docs(results, args, command)
        print("appended a section to docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
