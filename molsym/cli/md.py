"""``molsym md``: molecular dynamics with a molsym model, a log, a trace plot and a watchdog."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Dict

import numpy as np


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "md", help="run molecular dynamics with a molsym model",
        description="Run NVE, NVT (Nosé–Hoover or Berendsen) or Langevin dynamics with a molsym "
                    "model through ASE. Writes the trajectory (extxyz), a text log of energies and "
                    "temperature (for a committee also its largest per-atom force spread), and an "
                    "energy-and-temperature trace PNG. A watchdog stops the run "
                    "when a bond stretches or shrinks too much, atoms come too close, or (NVE) the "
                    "total energy drifts; NaN or inf in the energy or forces stops any run, watchdog or "
                    "not. The trajectory up to that step is kept; its frames hold the model's "
                    "results and the run's own labels (step, time, temperature), not the labels of "
                    "the start file.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, nargs="+",
                   help="model file(s) written by `molsym export` (or training checkpoints, .ckpt, EMA "
                        "weights), or a committee file (committee.json of `molsym train` with a committee: "
                        "section); several models form a committee: the mean prediction drives the run, the "
                        "log gets a column max_force_std_eV_A (the largest per-atom force spread across "
                        "members, eV/Å) and the trajectory the spreads energy_std and forces_std")
    p.add_argument("--atoms", required=True, help="starting structure (any file ASE reads; extxyz, xyz, ...)")
    p.add_argument("--index", type=int, default=0, help="frame of --atoms to start from")
    p.add_argument("--ensemble", choices=["nve", "nvt", "berendsen", "langevin"], default="nve",
                   help="nve: velocity Verlet; nvt: Nosé–Hoover chain; berendsen: Berendsen thermostat; "
                        "langevin: Langevin thermostat")
    p.add_argument("--temperature", type=float, default=300.0,
                   help="temperature in K, for the initial velocities and the thermostat")
    p.add_argument("--timestep", type=float, default=0.5, help="time step in fs")
    p.add_argument("--steps", type=int, default=20000, help="number of MD steps")
    p.add_argument("--out", default="traj.extxyz",
                   help="trajectory file (extxyz); the log goes to <out stem>.log and the plot to "
                        "<out stem>_trace.png beside it")
    p.add_argument("--friction", type=float, default=0.01, help="Langevin friction in 1/fs")
    p.add_argument("--tdamp", type=float, default=100.0,
                   help="thermostat time constant in fs (Nosé–Hoover, Berendsen)")
    p.add_argument("--log-every", type=int, default=10, help="log energies and temperature every N steps")
    p.add_argument("--traj-every", type=int, default=None,
                   help="write a trajectory frame every N steps (default: --log-every)")
    p.add_argument("--keep-velocities", action="store_true",
                   help="start from the velocities stored in --atoms instead of drawing new ones")
    p.add_argument("--seed", type=int, default=0, help="seed for the initial velocities and Langevin noise")
    p.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None,
                   help="precision of the model (default: as saved)")
    p.add_argument("--compile", choices=["script", "compile"], default=None,
                   help="script: TorchScript inference (default: eager); 'compile' (torch.compile) was "
                        "removed and stops with one line saying why")
    p.add_argument("--skin", type=float, default=0.5, help="Verlet skin of the neighbour list in Å")
    p.add_argument("--bond-threshold", type=float, default=0.5,
                   help="watchdog: largest allowed change of a starting bond length, Å")
    p.add_argument("--min-distance", type=float, default=0.5,
                   help="watchdog: smallest allowed distance between two atoms, Å")
    p.add_argument("--max-drift", type=float, default=0.01,
                   help="watchdog (NVE only): largest allowed total-energy drift, eV/atom")
    p.add_argument("--no-watchdog", action="store_true", help="run without the stability watchdog")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def check_arguments(args) -> None:
    """Refuse, in one line naming the flag, a value no MD run can use."""
    from molsym.cli.main import UserError
    from molsym.md import check_md_arguments

    try:
        check_md_arguments(lambda name: "--" + name.replace("_", "-"), temperature=args.temperature,
                           timestep=args.timestep, steps=args.steps, friction=args.friction, tdamp=args.tdamp,
                           log_every=args.log_every, traj_every=args.traj_every)
    except ValueError as err:
        raise UserError(str(err)) from None
    if not (math.isfinite(args.skin) and args.skin >= 0):
        raise UserError(f"--skin must be finite and >= 0 Å, got {args.skin}")


def cell_widths(atoms) -> Dict[int, float]:
    """Perpendicular width (Å) of the periodic cell along each periodic axis.

    The width along axis ``i`` is the distance between the lattice planes
    that the other periodic vectors span: ``sqrt(det G / det G_i)`` with
    ``G`` the Gram matrix of the periodic cell vectors and ``G_i`` that
    without vector ``i``; 0 for a degenerate cell.
    """
    axes = [i for i in range(3) if atoms.pbc[i]]
    vectors = atoms.cell.array[axes]  # [n_periodic, 3] Å
    full = np.linalg.det(vectors @ vectors.T) if axes else 1.0
    widths = {}
    for k, axis in enumerate(axes):
        rest = np.delete(vectors, k, axis=0)
        part = np.linalg.det(rest @ rest.T) if len(rest) else 1.0
        widths[axis] = float(np.sqrt(max(full, 0.0) / part)) if part > 0 else 0.0
    return widths


def _check_cell(atoms, cutoff: float, source: str) -> None:
    """Refuse a degenerate periodic cell; warn (one line) when it is narrower than twice the cutoff.

    The neighbour list (vesin) counts every periodic image within the cutoff,
    so a small cell gives the energies and forces of the periodic crystal
    exactly (the same as a large supercell of it, per cell); the warning is
    for the physics: an atom interacts with its own images, which move with it.
    """
    from molsym.cli.main import UserError

    widths = cell_widths(atoms)
    if not widths:
        return
    names = "abc"
    if min(widths.values()) < 1e-6:
        raise UserError(f"{source}: the cell is periodic along {''.join(names[i] for i in widths)} "
                        f"but its periodic vectors span no volume (cell {atoms.cell.array.tolist()})")
    narrow = {i: w for i, w in widths.items() if w < 2.0 * cutoff}
    if narrow:
        text = ", ".join(f"{names[i]} {w:.2f} Å" for i, w in narrow.items())
        print(f"molsym md: warning: {source}: the periodic cell is narrower than twice the model cutoff "
              f"(2 × {cutoff:g} Å = {2 * cutoff:g} Å), perpendicular width {text}; atoms see several "
              "periodic images of each other (all are counted exactly, but the images move in lockstep)",
              file=sys.stderr)


def run(args) -> int:
    import torch
    from ase.io import read

    from molsym.calculator import UnknownElementError
    from molsym.cli.main import UserError
    from molsym.cli.models import model_calculator
    from molsym.md import SPREAD_COLUMN, StabilityWatchdog, plot_trace, run_md

    check_arguments(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not Path(args.atoms).is_file():
        raise FileNotFoundError(f"structure file not found: {args.atoms}")
    try:
        atoms = read(args.atoms, index=args.index)
    except Exception as err:
        raise UserError(f"cannot read frame {args.index} of {args.atoms}: {err}") from err
    calc = model_calculator(args.model, device=args.device, dtype=args.dtype, skin=args.skin,
                            compile=args.compile)
    _check_cell(atoms, max(calc.cutoffs), f"{args.atoms} frame {args.index}")
    atoms.calc = calc
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log_path = out.with_name(out.stem + ".log")
    png = out.with_name(out.stem + "_trace.png")
    dog = None if args.no_watchdog else StabilityWatchdog(
        atoms, bond_threshold=args.bond_threshold, min_distance=args.min_distance,
        max_energy_drift=args.max_drift if args.ensemble == "nve" else None)
    try:
        result = run_md(atoms, args.ensemble, temperature=args.temperature, timestep=args.timestep,
                        steps=args.steps, out=str(out), log_path=str(log_path), log_every=args.log_every,
                        traj_every=args.traj_every, friction=args.friction, tdamp=args.tdamp,
                        watchdog=dog, velocities=not args.keep_velocities, seed=args.seed,
                        progress=not args.quiet)
    except UnknownElementError as err:
        raise UserError(f"{args.atoms} frame {args.index}: {err}") from err
    step = result.instability.step if result.instability else None
    plot_trace(result.log, png, len(atoms), title=f"{args.ensemble.upper()} {args.temperature:g} K, "
               f"{args.timestep:g} fs", instability_step=step)
    print(f"{result.steps} steps in {result.wall_s:.1f} s ({result.steps_per_s:.1f} steps/s, "
          f"{result.ns_per_day:.3f} ns/day); max |ΔE_tot| = {result.max_energy_drift * 1e3:.3f} meV/atom")
    spread = result.log.get(SPREAD_COLUMN)
    if spread is not None and np.isfinite(spread).any():
        k = int(np.argmax(np.where(np.isfinite(spread), spread, -np.inf)))
        print(f"committee of {len(calc.models)}: largest force spread {spread[k]:.4f} eV/Å at step "
              f"{int(result.log['step'][k])} (log column {SPREAD_COLUMN})")
    print(f"trajectory: {out}\nlog: {log_path}\nplot: {png}")
    if result.instability is not None:
        print(f"STOPPED by the watchdog: {result.instability}" if dog is not None
              else f"STOPPED: {result.instability}")
        return 3
    return 0
