#!/usr/bin/env python
"""Benchmark the data layer: read + graph building, and store random access.

For each data set (default: acac and 3bpa ``train_300K.xyz`` from ../shared/data)
it measures, in the same run:

* **molsym**: ``read_frames`` (fast extxyz reader) + vesin neighbour lists +
  ``frame_to_graph`` for every frame, via :class:`molsym.data.dataset.GraphDataset`;
* **naive**: ``ase.io.read`` + ``ase.neighborlist.neighbor_list`` per frame +
  the same tensors built by hand (on the first ``--naive-frames`` frames);
  also with the dummy 50 Å box of these non-periodic files removed first,
  since ASE's binning over that box dominates its time;
* **store**: ``molsym data pack`` into a temporary store, then single-graph
  random access (``store[i]`` for random ``i``) and shuffled batches through
  a DataLoader.

Each timing is the best of ``--repeats`` runs (the machine is shared); rates
are given by wall clock and, in brackets, by CPU time of the process. Prints
a table; ``--append-docs`` appends it with date, machine and command to
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_SETS = ["acac/train_300K.xyz", "3bpa/train_300K.xyz"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA,
                   help="folder holding the data sets (default: ../shared/data beside the repository)")
    p.add_argument("--sets", nargs="+", default=DEFAULT_SETS,
                   help="extxyz files relative to --data-dir (default: %(default)s)")
    p.add_argument("--cutoff", type=float, default=5.0, help="neighbour cutoff in Å (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="runs per timing; the best is kept (default: %(default)s)")
    p.add_argument("--access", type=int, default=50000,
                   help="random single-graph reads from the store per run (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32,
                   help="batch size of the shuffled DataLoader pass over the store (default: %(default)s)")
    p.add_argument("--naive-frames", type=int, default=100,
                   help="frames timed on the (slow) naive paths; rates are per frame (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    p.add_argument("--append-docs", action="store_true",
                   help="append the table with date, machine and command to docs/benchmarks.md")
    return p.parse_args(argv)


class Timing:
    """Best wall-clock and best CPU time (s) of several runs."""

    def __init__(self):
        self.wall = self.cpu = float("inf")

    def rate(self, n) -> str:
        """``n`` per second, wall clock (CPU time in brackets)."""
        return f"{n / self.wall:,.0f} ({n / self.cpu:,.0f})"


def best_of(fn, repeats):
    """:class:`Timing` of ``repeats`` calls of ``fn``, and the last result.

    CPU time (``time.process_time``) is reported beside wall time because the
    machine is shared: wall time there includes waiting for a core.
    """
    timing, out = Timing(), None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        timing.wall = min(timing.wall, time.perf_counter() - t)
        timing.cpu = min(timing.cpu, time.process_time() - c)
    return timing, out


def ours(path, cutoff):
    from molsym.data.dataset import GraphDataset
    from molsym.data.readers import read_frames
    ds = GraphDataset(read_frames(path), cutoff)
    return [ds[i] for i in range(len(ds))]


def naive(path, cutoff, frames, drop_cell=False):
    """ase.io.read + ase.neighborlist per frame; ``drop_cell`` removes the cell of
    non-periodic frames first (ASE bins the whole dummy box otherwise)."""
    import ase.io
    from ase.neighborlist import neighbor_list
    graphs = []
    for atoms in ase.io.read(path, index=f":{frames}"):
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        if drop_cell and not atoms.pbc.any():
            atoms.calc = None
            atoms.cell = None
        i, j, s = neighbor_list("ijS", atoms, cutoff)
        graphs.append({
            "pos": torch.tensor(atoms.positions, dtype=torch.float64),
            "atomic_numbers": torch.tensor(atoms.numbers, dtype=torch.long),
            "edge_index": torch.tensor(np.stack([i, j]), dtype=torch.long),
            "edge_shift": torch.tensor(s, dtype=torch.float64),
            "cell": torch.tensor(atoms.cell.array, dtype=torch.float64).reshape(1, 3, 3),
            "pbc": torch.tensor(atoms.pbc).reshape(1, 3),
            "energy": torch.tensor([energy], dtype=torch.float64),
            "forces": torch.tensor(forces, dtype=torch.float64),
        })
    return graphs


def bench_set(path: Path, args) -> dict:
    row = {"set": f"{path.parent.name}/{path.name}"}
    ours(path, args.cutoff), naive(path, args.cutoff, 2)  # warm-up: imports, caches
    t_ours, g_ours = best_of(lambda: ours(path, args.cutoff), args.repeats)
    t_naive, g_naive = best_of(lambda: naive(path, args.cutoff, args.naive_frames), args.repeats)
    t_nocell, g_nocell = best_of(lambda: naive(path, args.cutoff, args.naive_frames, True), args.repeats)
    n, m = len(g_ours), len(g_naive)
    for g in (g_naive, g_nocell):  # same edges as ours, frame by frame
        assert [x["edge_index"].shape[1] for x in g] == [x["edge_index"].shape[1] for x in g_ours[:m]]
    row.update(frames=n, naive_frames=m, ours=t_ours.rate(n), naive=t_naive.rate(m), nocell=t_nocell.rate(m))
    for name, t in (("speedup", t_naive), ("speedup_nocell", t_nocell)):
        row[name] = f"{(t.wall / m) / (t_ours.wall / n):.1f}× ({(t.cpu / m) / (t_ours.cpu / n):.1f}×)"

    from molsym.data.collate import collate
    from molsym.data.store import GraphStore, pack
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.h5"
        t_pack, _ = best_of(lambda: pack([path], out, args.cutoff, progress=False), 1)
        row["pack"] = t_pack.rate(n)
        store = GraphStore(out)
        rng = np.random.default_rng(0)

        def access():
            for i in rng.integers(0, len(store), args.access):
                store[i]
        t_acc, _ = best_of(access, args.repeats)
        row["access"] = t_acc.rate(args.access)
        loader = torch.utils.data.DataLoader(store, batch_size=args.batch_size, shuffle=True, collate_fn=collate)

        def batches():
            return sum(int(b["num_atoms"].numel()) for b in loader)
        t_load, seen = best_of(batches, args.repeats)
        row["loader"] = t_load.rate(seen)
        del store
    return row


HEADER = ("| data set | frames | molsym read+graph (frames/s) | naive ase (frames/s) | speed-up "
          "| naive ase, dummy cell dropped (frames/s) | speed-up | pack (frames/s) "
          "| store random access (graphs/s) | store DataLoader bs={bs} (graphs/s) |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def table(rows, batch_size) -> str:
    lines = [HEADER.format(bs=batch_size)]
    for r in rows:
        lines.append(f"| {r['set']} | {r['frames']} (naive: first {r['naive_frames']}) | {r['ours']} "
                     f"| {r['naive']} | {r['speedup']} | {r['nocell']} | {r['speedup_nocell']} "
                     f"| {r['pack']} | {r['access']} | {r['loader']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = [args.data_dir / s for s in args.sets]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"bench_data: missing data: {', '.join(missing)} (see --data-dir)", file=sys.stderr)
        return 2
    rows = []
    for p in paths:
        print(f"benchmarking {p} ...", file=sys.stderr)
        rows.append(bench_set(p, args))
    text = table(rows, args.batch_size)
    print(text)
    if args.append_docs:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        command = "python scripts/bench_data.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        section = (f"\n## Data layer: reading, graph building, store access ({datetime.date.today().isoformat()})\n\n"
                   f"- machine: {platform.platform()}, {os.cpu_count()}-core CPU (shared; load average {load}), "
                   f"torch {torch.__version__}, {args.threads} torch thread(s)\n"
                   f"- command: `{command.strip()}`\n"
                   f"- cutoff {args.cutoff} Å; best of {args.repeats} runs; rates by wall clock (by CPU time); peer = ase.io.read + "
                   f"ase.neighborlist.neighbor_list per frame, same run\n"
                   f"- targets: read+graph ≥ 5× the naive path; store random access ≥ 10,000 graphs/s\n\n"
                   f"{text}\n")
        with open(ROOT / "docs" / "benchmarks.md", "a") as f:
            f.write(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
