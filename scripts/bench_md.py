#!/usr/bin/env python
"""Inference speed of molsym force fields vs mace-torch, through ASE, on CPU (or ``--device cuda``).

Measures, for each model and precision, in a fresh subprocess per case:

* single-point energy+forces latency (median of ``--calls`` calls, positions
  jittered by 1e-3 Å between calls so every call computes) at 15 atoms
  (acac, test_MD_300K frame 0), 120 and 960 atoms (8 and 64 copies of it on a
  cubic grid, 8 Å between molecule centres);
* MD throughput (atom-steps/s) with ASE's VelocityVerlet, 0.5 fs, 300 K;
* peak RSS of a process that does one 960-atom single point;
* the floor: the same ASE loop with a calculator that returns zeros.

molsym runs in this interpreter's environment, mace-torch in the peer
environment made by ``scripts/setup_peer_env.sh`` (``.venv-mace``), both
from this one script run. Weights are random (latency does not depend on
training). MACE: 32 channels, hidden irreps 32x0e+32x1o (max_L = 1),
max_ell 3, correlation 3, 2 interactions, r_max 5 Å.

``--stability MODEL`` additionally runs the MD stability protocol of issue 4
with a trained molsym model (NVE 10k steps at 0.5 fs from 300 K, and
Langevin 500 K for 100 ps with the watchdog); ``--stability-peer FILE`` does
the same for a trained MACE model file. With ``--state PREFIX`` each of
those runs saves its state every ``--save-every`` steps to
``PREFIX.molsym.json`` / ``PREFIX.mace.json`` and, started again with the same
prefix after an interruption, continues from it (same trajectory: positions,
momenta and the Langevin random stream are restored), so the 100 ps run can
span several sessions.

Usage::

    bash scripts/setup_peer_env.sh          # once
    .venv/bin/python scripts/bench_md.py --threads 2 --markdown docs/benchmarks.md
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "acac" / "test_MD_300K.xyz"
SIZES = {15: 1, 120: 8, 960: 64}  # atoms -> copies of acac
SPACING = 8.0  # Å between molecule centres


# ----------------------------------------------------------------- systems
def make_system(n_atoms: int, path: Path = DATA):
    from ase.io import read
    mol = read(path, index=0)
    mol.positions -= mol.get_center_of_mass()
    mol.info.clear()
    mol.arrays = {k: v for k, v in mol.arrays.items() if k in ("numbers", "positions")}
    copies = SIZES[n_atoms]
    side = round(copies ** (1 / 3))
    atoms = mol.copy()
    atoms.calc = None
    del atoms[:]
    for ix in range(side):
        for iy in range(side):
            for iz in range(side):
                m = mol.copy()
                m.positions += SPACING * np.array([ix, iy, iz])
                atoms += m
    atoms.pbc = False
    atoms.cell = np.zeros((3, 3))
    assert len(atoms) == n_atoms, (len(atoms), n_atoms)
    return atoms


# ---------------------------------------------------------- calculators
def make_calc(impl: str, dtype: str, threads: int, compile_mode=None, device: str = "cpu"):
    import torch
    torch.set_num_threads(threads)
    if impl == "floor":
        from ase.calculators.calculator import Calculator

        class Zero(Calculator):
            implemented_properties = ["energy", "forces"]

            def calculate(self, atoms=None, properties=("energy",), system_changes=()):
                super().calculate(atoms, properties, system_changes)
                self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}
        return Zero()
    if impl == "mace":
        return _mace_calc(dtype, device)
    from molsym.calculator import MolSymCalculator
    from molsym.nn import build_model
    torch.manual_seed(0)
    extra = {}
    if impl == "ace-acac":  # the architecture of configs/acac.yaml, the accurate one users train
        import yaml
        section = yaml.safe_load((ROOT / "configs" / "acac.yaml").read_text())["model"]
        rep = section["representation"]
        extra = {k: section[k] for k in ("zbl", "zbl_factor", "core_radius", "bond_switch", "head_hidden")
                 if k in section}
    else:
        rep = {"ace": {"name": "ace", "channels": 32, "hidden_l": 1},
               "painn": {"name": "painn", "hidden": 64, "num_layers": 3}}[impl]
    model = build_model({"representation": rep, "species": [1, 6, 8], "cutoff": 5.0,
                         "e0s": {1: -13.6, 6: -1029.0, 8: -2041.0}, "dtype": dtype, **extra})
    return MolSymCalculator(model, device=device, dtype=dtype, compile=compile_mode)


def _mace_calc(dtype: str, device: str = "cpu"):
    import torch
    from mace.calculators import MACECalculator  # first: mace sets up e3nn 0.4's constants loading
    from mace.modules import RealAgnosticInteractionBlock, RealAgnosticResidualInteractionBlock, ScaleShiftMACE
    from e3nn import o3
    torch.manual_seed(0)
    model = ScaleShiftMACE(
        r_max=5.0, num_bessel=8, num_polynomial_cutoff=5, max_ell=3,
        interaction_cls=RealAgnosticResidualInteractionBlock,
        interaction_cls_first=RealAgnosticInteractionBlock, num_interactions=2, num_elements=3,
        hidden_irreps=o3.Irreps("32x0e + 32x1o"), MLP_irreps=o3.Irreps("16x0e"),
        atomic_energies=np.array([-13.6, -1029.0, -2041.0]), avg_num_neighbors=10.0,
        atomic_numbers=[1, 6, 8], correlation=3, gate=torch.nn.functional.silu,
        atomic_inter_scale=1.0, atomic_inter_shift=0.0)
    model = model.to(device=device, dtype=getattr(torch, dtype))
    return MACECalculator(models=model, device=device, default_dtype=dtype)


# ------------------------------------------------------------ measurements
def single_points(atoms, calc, calls: int, warmup: int = 5):
    """Median and quartiles of energy+forces wall time, ms."""
    atoms.calc = calc
    base = atoms.positions.copy()
    rng = np.random.default_rng(0)
    times = []
    for k in range(warmup + calls):
        atoms.positions = base + rng.normal(scale=1e-3, size=base.shape)
        t0 = time.perf_counter()
        atoms.get_forces()
        atoms.get_potential_energy()
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    atoms.positions = base
    q = np.percentile(np.array(times) * 1e3, [25, 50, 75])
    return {"median_ms": q[1], "q25_ms": q[0], "q75_ms": q[2], "calls": calls}


def md_throughput(atoms, calc, steps: int):
    """NVE VelocityVerlet at 0.5 fs from 300 K: ms/step and atom-steps/s."""
    from ase import units
    from ase.md.verlet import VelocityVerlet
    atoms.calc = calc
    rng = np.random.default_rng(1)
    # 300 K Maxwell–Boltzmann momenta (drawn here: works with any ase version)
    masses = atoms.get_masses()[:, None]
    atoms.set_momenta(rng.normal(size=(len(atoms), 3)) * np.sqrt(masses * units.kB * 300.0))
    dyn = VelocityVerlet(atoms, 0.5 * units.fs)
    dyn.run(3)  # warm up
    t0 = time.perf_counter()
    dyn.run(steps)
    wall = time.perf_counter() - t0
    return {"ms_per_step": wall / steps * 1e3, "atom_steps_per_s": len(atoms) * steps / wall, "steps": steps}


def vm_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(args) -> dict:
    import torch
    torch.set_num_threads(args.threads)
    calc = make_calc(args.worker, args.dtype, args.threads, args.compile, args.device)
    if args.rss:
        atoms = make_system(960)
        before = vm_rss_mb()
        atoms.calc = calc
        atoms.get_forces()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out = {"rss_before_mb": before, "peak_rss_mb": peak}
        if args.device.startswith("cuda"):
            out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
        return out
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": args.device}
    if args.device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name()
    n_calls = {15: args.calls, 120: max(5, args.calls // 10), 960: max(3, args.calls // 50)}
    n_steps = {15: max(20, args.calls // 2), 120: max(5, args.calls // 20), 960: max(2, args.calls // 100)}
    for n in SIZES:
        atoms = make_system(n)
        out[f"sp_{n}"] = single_points(atoms, calc, n_calls[n])
        out[f"md_{n}"] = md_throughput(make_system(n), calc, n_steps[n])
    return out


# --------------------------------------------------------------- stability
def _exchanged(atoms, a: int, b: int, ref: float, bi, bj) -> bool:
    """Bond a–b broke but an equivalent new bond replaced it (a proton moved to the other
    oxygen of acac): the rule of :class:`molsym.md.StabilityWatchdog`, here without molsym
    so that the peer environment runs it too."""
    z = atoms.numbers
    start = set(zip(bi.tolist(), bj.tolist())) | set(zip(bj.tolist(), bi.tolist()))
    for x, partner in ((a, b), (b, a)):
        for o in np.nonzero(z == z[partner])[0]:
            if o != x and (x, int(o)) not in start and abs(atoms.get_distance(x, int(o)) - ref) <= 0.5:
                return True
    return False


def _save_state(path: Path, state: dict) -> None:
    """Write the resume file atomically (temp file + rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def stability(calc, label: str, nve_steps: int, nvt_steps: int, threads: int, state_file=None,
              save_every: int = 10_000) -> dict:
    """NVE drift and Langevin 500 K watchdog time for one calculator (ASE only).

    With ``state_file`` the run saves its state every ``save_every`` steps and, when the file exists,
    continues from it (same positions, momenta, step count and Langevin random stream), so a
    100 ps run can be split over several sessions; finished ensembles are kept in the file."""
    import torch
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.verlet import VelocityVerlet
    from ase.neighborlist import natural_cutoffs, neighbor_list
    torch.set_num_threads(threads)
    state_file = Path(state_file) if state_file else None
    state = json.loads(state_file.read_text()) if state_file and state_file.exists() else {}
    done, current = state.get("done", {}), state.get("current") or {}
    for ensemble, steps, temp in (("nve", nve_steps, 300.0), ("langevin", nvt_steps, 500.0)):
        if ensemble in done:
            continue
        atoms = make_system(15)
        atoms.calc = calc
        rng = np.random.default_rng(0)
        masses = atoms.get_masses()[:, None]
        atoms.set_momenta(rng.normal(size=(15, 3)) * np.sqrt(masses * units.kB * 300.0))
        i, j, d0 = neighbor_list("ijd", atoms, natural_cutoffs(atoms, mult=1.2))
        keep = i < j
        i, j, d0 = i[keep], j[keep], d0[keep]
        dyn = (VelocityVerlet(atoms, 0.5 * units.fs) if ensemble == "nve" else
               Langevin(atoms, 0.5 * units.fs, temperature_K=temp, friction=0.01 / units.fs,
                        fixcm=False, rng=np.random.default_rng(1)))
        e0, drift, fired, wall0 = None, 0.0, None, 0.0
        if current.get("ensemble") == ensemble:
            atoms.positions = np.array(current["positions"])
            atoms.set_momenta(np.array(current["momenta"]))
            dyn.nsteps, e0, drift, wall0 = current["nsteps"], current["e0"], current["drift"], current["wall_s"]
            if current["rng"] is not None:
                dyn.rng.bit_generator.state = current["rng"]
            print(f"resuming {ensemble} at step {dyn.nsteps}", file=sys.stderr, flush=True)
        t0 = time.perf_counter() - wall0
        for _ in dyn.irun(steps - dyn.nsteps):
            etot = atoms.get_potential_energy() + atoms.get_kinetic_energy()
            e0 = etot if e0 is None else e0
            drift = max(drift, abs(etot - e0) / 15)
            d = np.linalg.norm(atoms.positions[j] - atoms.positions[i], axis=1)
            broken = np.abs(d - d0) > 0.5
            if any(not _exchanged(atoms, a, b, r, i, j) for a, b, r in zip(i[broken], j[broken], d0[broken])):
                fired = dyn.nsteps
                break
            if dyn.nsteps % save_every == 0 and dyn.nsteps:  # long runs: progress on stderr
                wall = time.perf_counter() - t0
                print(json.dumps({"label": label, "ensemble": ensemble, "steps": dyn.nsteps,
                                  "ps": dyn.nsteps * 0.5e-3, "wall_s": round(wall, 1),
                                  "max_drift_meV_per_atom": drift * 1e3, "watchdog_step": None}),
                      file=sys.stderr, flush=True)
                if state_file:
                    _save_state(state_file, {"done": done, "current": {
                        "ensemble": ensemble, "nsteps": dyn.nsteps, "positions": atoms.positions.tolist(),
                        "momenta": atoms.get_momenta().tolist(), "e0": e0, "drift": drift, "wall_s": wall,
                        "rng": dyn.rng.bit_generator.state if hasattr(dyn, "rng") else None}})
        done[ensemble] = {"steps": dyn.nsteps, "wall_s": time.perf_counter() - t0,
                          "max_drift_meV_per_atom": drift * 1e3, "watchdog_step": fired,
                          "time_to_instability_ps": None if fired is None else fired * 0.5e-3}
        if state_file:
            _save_state(state_file, {"done": done, "current": None})
    return {"label": label, **done}


def stability_worker(args) -> dict:
    if args.worker == "mace":
        from mace.calculators import MACECalculator
        calc = MACECalculator(model_paths=args.model_file, device="cpu", default_dtype=args.dtype)
    else:
        from molsym.calculator import MolSymCalculator
        calc = MolSymCalculator(args.model_file, dtype=args.dtype)
    return stability(calc, f"{args.worker} {Path(args.model_file).name}", args.nve_steps, args.nvt_steps,
                     args.threads, args.state, args.save_every)


# -------------------------------------------------------------------- main
def _gpu_name() -> str:
    import torch
    return torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA"


def run_worker(python: str, argv: list, threads: int, timeout: float) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONWARNINGS="ignore")
    cmd = [python, str(Path(__file__).resolve())] + argv
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(results: dict, dtypes, impls) -> str:
    lines = ["| model | dtype | 15 at. single point, ms (median) | 120 at. single point, ms | "
             "960 at. single point, ms | MD 15 at., ms/step | MD 120 at., atom-steps/s | "
             "MD 960 at., atom-steps/s | peak RSS 960 at., MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for impl in impls:
        for dt in dtypes:
            r = results.get((impl, dt), {})
            if "error" in r or not r:
                lines.append(f"| {impl} | {dt} | failed: {r.get('error', 'not run')} |||||||")
                continue
            rss = results.get((impl, dt, "rss"), {})
            rss_text = f"{rss['peak_rss_mb']:.0f}" if "peak_rss_mb" in rss else "–"
            if "peak_gpu_mb" in rss:
                rss_text += f" (GPU {rss['peak_gpu_mb']:.0f})"
            lines.append(
                f"| {impl} | {dt} | {r['sp_15']['median_ms']:.2f} | {r['sp_120']['median_ms']:.1f} | "
                f"{r['sp_960']['median_ms']:.0f} | {r['md_15']['ms_per_step']:.2f} | "
                f"{r['md_120']['atom_steps_per_s']:.0f} | {r['md_960']['atom_steps_per_s']:.0f} | "
                f"{rss_text} |")
    return "\n".join(lines)


def ratios(results: dict, dtypes, impls) -> str:
    lines = []
    for dt in dtypes:
        mace = results.get(("mace", dt), {})
        floor = results.get(("floor", dt), {})
        for impl in impls:
            r = results.get((impl, dt), {})
            if impl in ("mace", "floor") or "sp_15" not in r:
                continue
            parts = []
            if "sp_15" in mace:
                parts += [f"latency 15 at. {r['sp_15']['median_ms'] / mace['sp_15']['median_ms']:.2f}x MACE",
                          f"120 at. {r['sp_120']['median_ms'] / mace['sp_120']['median_ms']:.2f}x",
                          f"960 at. {r['sp_960']['median_ms'] / mace['sp_960']['median_ms']:.2f}x",
                          f"MD 15 at. {r['md_15']['ms_per_step'] / mace['md_15']['ms_per_step']:.2f}x"]
            if "md_15" in floor:
                parts.append(f"MD 15 at. {r['md_15']['ms_per_step'] / floor['md_15']['ms_per_step']:.0f}x "
                             f"the floor ({floor['md_15']['ms_per_step']:.3f} ms/step)")
            lines.append(f"- {impl} {dt}: " + "; ".join(parts))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="torch/OpenMP threads in every worker")
    p.add_argument("--calls", type=int, default=200,
                   help="single points at 15 atoms (120 atoms: /10, 960 atoms: /50); MD steps: /2, /20, /100")
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"], help="precisions to run")
    p.add_argument("--models", nargs="+", default=["ace", "ace-acac", "painn"],
                   help="molsym models to run: ace (channels 32, hidden_l 1), ace-acac (configs/acac.yaml's "
                        "architecture: hidden_l 2, 5 Bessel functions, ZBL), painn (64 features, 3 layers)")
    p.add_argument("--compile", default=None, help="molsym compile mode (see molsym.calculator.compile)")
    p.add_argument("--device", default="cpu",
                   help="torch device of both codes' calculators: cpu (default) or cuda[:N] (the GPU table; "
                        "peak RSS is then joined by the peak GPU memory, torch.cuda.max_memory_allocated)")
    p.add_argument("--peer-python", default=str(ROOT / ".venv-mace" / "bin" / "python"),
                   help="python of the mace-torch environment (scripts/setup_peer_env.sh)")
    p.add_argument("--no-peer", action="store_true", help="skip mace-torch")
    p.add_argument("--json", default=None, help="write all raw results to this JSON file")
    p.add_argument("--markdown", default=None, help="append a results section to this markdown file")
    p.add_argument("--note", default="", help="a line added to the markdown section (e.g. machine load)")
    p.add_argument("--stability", default=None, metavar="MODEL", help="trained molsym model: run the MD "
                   "stability protocol (NVE 10k steps at 0.5 fs; Langevin 500 K for 100 ps)")
    p.add_argument("--stability-peer", default=None, metavar="FILE", help="trained MACE model for the same")
    p.add_argument("--nve-steps", type=int, default=10_000, help="NVE steps of the stability protocol")
    p.add_argument("--nvt-steps", type=int, default=200_000, help="Langevin steps of the stability protocol")
    p.add_argument("--state", default=None, metavar="PREFIX",
                   help="stability runs: resume files PREFIX.molsym.json / PREFIX.mace.json, saved every "
                        "--save-every steps; a run started again with the same prefix continues where "
                        "it stopped")
    p.add_argument("--save-every", type=int, default=10_000, help="steps between progress lines and saves")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per worker")
    # internal: one measurement in a fresh process
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--dtype", default="float64", help=argparse.SUPPRESS)
    p.add_argument("--rss", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model-file", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        fn = stability_worker if args.model_file else worker
        print(json.dumps(fn(args)))
        return 0

    if args.device != "cpu":
        import torch
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            p.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA device on this machine")
    impls = ["floor"] + list(args.models) + ([] if args.no_peer else ["mace"])
    results = {}
    for dt in args.dtypes:
        for impl in impls:
            python = args.peer_python if impl == "mace" else sys.executable
            common = ["--worker", impl, "--dtype", dt, "--threads", str(args.threads), "--calls", str(args.calls),
                      "--device", args.device if impl != "floor" else "cpu"]
            if args.compile and impl not in ("mace", "floor"):
                common += ["--compile", args.compile]
            t0 = time.perf_counter()
            results[(impl, dt)] = run_worker(python, common, args.threads, args.timeout)
            if impl != "floor":
                results[(impl, dt, "rss")] = run_worker(python, common + ["--rss"], args.threads, args.timeout)
            print(f"[{time.perf_counter() - t0:6.1f} s] {impl} {dt}: "
                  f"{json.dumps(results[(impl, dt)])[:300]}", flush=True)
    stab = []
    for impl, model_file, python in (("molsym", args.stability, sys.executable),
                                     ("mace", args.stability_peer, args.peer_python)):
        if model_file:
            resume = ["--state", f"{args.state}.{impl}.json", "--save-every", str(args.save_every)] if args.state else []
            stab.append(run_worker(python, ["--worker", impl, "--model-file", str(model_file), "--dtype", "float64",
                                            "--threads", str(args.threads), "--nve-steps", str(args.nve_steps),
                                            "--nvt-steps", str(args.nvt_steps)] + resume, args.threads,
                                   10 * args.timeout))
            print(json.dumps(stab[-1]), flush=True)

    text = table(results, args.dtypes, impls)
    summary = ratios(results, args.dtypes, impls)
    print("\n" + text + "\n\n" + summary)
    if args.json:
        Path(args.json).write_text(json.dumps({" ".join(k): v for k, v in results.items()} | {"stability": stab},
                                              indent=1))
    if args.markdown:
        shown, skip = [], False  # the command, less output paths and the note
        for a in sys.argv[1:]:
            if not skip and a not in ("--json", "--markdown", "--note"):
                shown.append(a)
            skip = a in ("--json", "--markdown", "--note")
        cmd = "python scripts/bench_md.py " + " ".join(shown)
        cpu = platform.processor() or platform.machine()
        where = "" if args.device == "cpu" else f", device {args.device} ({_gpu_name()})"
        section = [f"\n## MD inference speed: molsym vs mace-torch ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
                   "", f"Machine: {os.cpu_count()}-core CPU ({cpu}){where}, {args.threads} threads per run, "
                   f"each case in a fresh process. Command: `{cmd}`. Random weights (latency does not "
                   "depend on training). Systems: acac (test_MD_300K frame 0, 15 atoms) and 8 / 64 copies "
                   f"on a cubic grid {SPACING:g} Å apart (120 / 960 atoms). MACE: ScaleShiftMACE, 32x0e+32x1o, "
                   "max_ell 3, correlation 3, 2 interactions (mace-torch in .venv-mace, same run). molsym ace: "
                   "channels 32, hidden_l 1, defaults otherwise; ace-acac: configs/acac.yaml's model (channels 32, "
                   "max_l 2, hidden_l 2, correlation 3, 5 Bessel functions, ZBL); painn: 64 features, 3 layers.",
                   ""]
        if args.note:
            section += [args.note, ""]
        section += [text, "", summary, ""]
        for s in stab:
            section.append(f"- stability {json.dumps(s)}")
        with open(args.markdown, "a") as fh:
            fh.write("\n".join(section) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
