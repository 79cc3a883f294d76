#!/usr/bin/env python
"""Latency of one energy+forces call through the ACE representation and a linear head.

Builds acac (frame 0 of the given extxyz) and copies of it placed on a grid
``--spacing`` Å apart, turns each into a graph with molsym's own atoms→graph
path, and times ``E = head(ACE(graph)).sum(); F = -dE/dpos`` (autograd, no
``create_graph``), reporting the median over ``--calls`` calls after a
warm-up. Wall-clock and process CPU time are both printed: on a shared
machine the CPU time is the steadier figure.

Example
-------
    python scripts/bench_ace_latency.py --copies 1 8 --dtype float32 float64 --threads 2
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

DEFAULT_DATA = "/work/shared/data/acac/train_300K.xyz"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA, help="extxyz file holding the molecule")
    p.add_argument("--frame", type=int, default=0, help="frame of --data to use")
    p.add_argument("--copies", type=int, nargs="+", default=[1, 8],
                   help="system sizes to time, as numbers of molecule copies (1 = 15 atoms for acac)")
    p.add_argument("--spacing", type=float, default=8.0, help="distance between copies on the grid (Å)")
    p.add_argument("--dtype", nargs="+", default=["float32", "float64"], choices=["float32", "float64"],
                   help="floating-point precisions to time")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--calls", type=int, default=200, help="timed calls per configuration (median reported)")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls before timing")
    p.add_argument("--cutoff", type=float, default=5.0, help="radial cutoff (Å)")
    p.add_argument("--channels", type=int, default=32, help="ACE channels")
    p.add_argument("--max-l", type=int, default=2, help="highest l of spherical harmonics / atomic basis")
    p.add_argument("--hidden-l", type=int, default=1, help="highest l of the node features passed between interactions")
    p.add_argument("--correlation", type=int, default=3, help="product-basis degree")
    p.add_argument("--num-interactions", type=int, default=2, help="number of interactions")
    p.add_argument("--script", action="store_true", help="also time the TorchScript-compiled representation")
    p.add_argument("--profile", action="store_true", help="print a torch profiler table for each configuration")
    return p.parse_args(argv)


def build_atoms(path: str, frame: int, copies: int, spacing: float):
    """``copies`` copies of one frame on a cubic grid ``spacing`` Å apart."""
    import ase.io
    mol = ase.io.read(path, index=frame)
    mol.center()
    side = int(np.ceil(copies ** (1 / 3)))
    out = mol.copy()
    out.calc = None
    del out[list(range(len(out)))]
    for n in range(copies):
        shift = spacing * np.array([n % side, (n // side) % side, n // side ** 2])
        c = mol.copy()
        c.positions += shift
        out += c
    return out


def make_call(rep, head, species, ei, batch, pos0):
    """One energy+forces evaluation: ``E = head(rep(graph)).sum()``, ``F = -dE/dpos``."""
    def call():
        pos = pos0.clone().requires_grad_(True)
        vec = pos[ei[1]] - pos[ei[0]]                               # no cell: molecules
        energy = head(rep(species, ei, vec, vec.norm(dim=-1), batch)).sum()
        forces = -torch.autograd.grad(energy, pos)[0]
        return energy.detach(), forces
    return call


def time_calls(call, warmup: int, calls: int):
    """Wall-clock and process-CPU seconds of ``calls`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    wall, cpu = [], []
    for _ in range(calls):
        t0, c0 = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from molsym.data.graph import atoms_to_graph
    from molsym.nn.representations.ace import ACE

    for copies in args.copies:
        atoms = build_atoms(args.data, args.frame, copies, args.spacing)
        zs = sorted(set(atoms.numbers.tolist()))
        for dtype_name in args.dtype:
            dtype = getattr(torch, dtype_name)
            torch.manual_seed(0)
            rep = ACE(num_species=len(zs), cutoff=args.cutoff, avg_num_neighbors=10.0,
                      channels=args.channels, max_l=args.max_l, hidden_l=args.hidden_l,
                      correlation=args.correlation, num_interactions=args.num_interactions)
            head = torch.nn.Linear(rep.out_features, 1)
            rep, head = rep.to(dtype), head.to(dtype)
            g = atoms_to_graph(atoms, args.cutoff, dtype)
            z_to_s = torch.full((max(zs) + 1,), -1, dtype=torch.long)
            z_to_s[torch.tensor(zs)] = torch.arange(len(zs))
            species = z_to_s[g["atomic_numbers"]]
            ei, batch = g["edge_index"], g["batch"]
            pos0 = g["pos"]

            variants = [("eager", rep)]
            if args.script:
                variants.append(("script", torch.jit.script(rep)))
            for label, module in variants:
                call = make_call(module, head, species, ei, batch, pos0)
                wall, cpu = time_calls(call, args.warmup, args.calls)
                print(f"atoms={len(atoms):5d} edges={ei.shape[1]:6d} {dtype_name} {label}: "
                      f"median {1e3 * statistics.median(wall):8.2f} ms wall, "
                      f"{1e3 * statistics.median(cpu):8.2f} ms CPU "
                      f"(min wall {1e3 * min(wall):.2f} ms; {args.threads} threads, {args.calls} calls)",
                      flush=True)
            if args.profile:
                from torch.profiler import profile
                with profile() as prof:
                    for _ in range(10):
                        make_call(rep, head, species, ei, batch, pos0)()
                print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    n_params = sum(p.numel() for p in rep.parameters())
    print(f"ACE parameters: {n_params}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
