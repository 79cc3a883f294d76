"""Benchmark the readers: molsym's extxyz reader against ase.io.read, and QM9 loading.

Usage::

    .venv/bin/python scripts/bench_readers.py [--data-dir ../shared/data] [--repeat 7] [--qm9]

For each extxyz file, both readers run ``--repeat`` times, alternating, and
the best time of each is kept (the machine is shared; the ratio is the
figure that counts). Times are CPU seconds of this process
(``time.process_time``), which other jobs on the machine disturb less than
wall-clock time; wall-clock figures are printed too. ``--qm9`` also times the
first conversion of the installed qm9pack tables into a fresh cache and a
load from that cache. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _best(fn, repeat):
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return min(cpu), min(wall)


def bench_extxyz(path: Path, repeat: int):
    import ase.io

    from molsym.data.readers import read_frames

    n = len(read_frames(path))
    ours = ase_ = (float("inf"), float("inf"))
    for _ in range(repeat):  # alternate so that both see the same machine load
        ours = min(ours, _best(lambda: read_frames(path), 1))
        ase_ = min(ase_, _best(lambda: ase.io.read(path, ":"), 1))
    return n, ours, ase_


def bench_qm9():
    from molsym.data.readers.qm9 import load_qm9

    with tempfile.TemporaryDirectory() as cache:
        first = _best(lambda: load_qm9(cache_dir=cache, progress=False), 1)
        cached = _best(lambda: load_qm9(cache_dir=cache, progress=False), 3)
        n = len(load_qm9(cache_dir=cache, progress=False))
    return n, first, cached


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data",
                        help="folder holding acac/ and 3bpa/ (default: ../shared/data)")
    parser.add_argument("--repeat", type=int, default=7, help="runs per reader; the best counts")
    parser.add_argument("--qm9", action="store_true",
                        help="also time QM9 (qm9pack) conversion and cached loading")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"{date.today()} · {platform.machine()} · {platform.python_version()} · "
          f"command: .venv/bin/python scripts/bench_readers.py --repeat {args.repeat}"
          + (" --qm9" if args.qm9 else ""))
    print("\n| file | frames | molsym read_frames (CPU s / wall s) | ase.io.read (CPU s / wall s) "
          "| molsym frames/s (CPU) | speed-up (CPU) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in ("acac/train_300K.xyz", "3bpa/train_300K.xyz"):
        path = args.data_dir / name
        if not path.exists():
            print(f"| {name} | missing | | | | |")
            continue
        n, ours, ref = bench_extxyz(path, args.repeat)
        print(f"| {name} | {n} | {ours[0]:.3f} / {ours[1]:.3f} | {ref[0]:.3f} / {ref[1]:.3f} "
              f"| {n / ours[0]:,.0f} | {ref[0] / ours[0]:.1f}× |")
    if args.qm9:
        n, first, cached = bench_qm9()
        print(f"\n| QM9 (qm9pack) | molecules | first conversion (CPU s / wall s) | cached load "
              f"(CPU s / wall s) |\n| --- | --- | --- | --- |\n| load_qm9() | {n} | "
              f"{first[0]:.1f} / {first[1]:.1f} | {cached[0]:.1f} / {cached[1]:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
