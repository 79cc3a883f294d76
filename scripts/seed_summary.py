"""Mean and range over several `scripts/bench_acac.py` runs (seeds), and the molsym/MACE ratio of the means.

One 30-minute run cannot resolve differences smaller than the seed spread
(~7 meV/Å at 600 K for configs/acac.yaml), so variants are compared on the
mean of a few seeds. Every run folder holds the ``results.json`` that
bench_acac.py wrote; the molsym entries of all folders are pooled, and so are
the mace-torch ones, so molsym-only seed runs and ``--skip-molsym --mace`` runs
combine freely.

    python scripts/seed_summary.py outputs/v_s0 outputs/v_s1 outputs/v_s2 [outputs/mace_s1 ...] [--markdown]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

TESTS = ("test_MD_300K", "test_MD_600K")  # as in bench_acac.py
#: (column label, function of one code's results entry)
COLUMNS = (
    ("epochs", lambda r: r["epochs"]),
    ("configs/s", lambda r: r["configs_per_second"]),
    ("F RMSE 300K (meV/Å)", lambda r: r["tests"]["test_MD_300K"]["forces_rmse"]),
    ("F RMSE 600K (meV/Å)", lambda r: r["tests"]["test_MD_600K"]["forces_rmse"]),
    ("E RMSE 300K (meV)", lambda r: r["tests"]["test_MD_300K"]["energy_rmse"]),
    ("E RMSE 600K (meV)", lambda r: r["tests"]["test_MD_600K"]["energy_rmse"]),
    ("H-transfer barrier (meV)", lambda r: _span(r["profiles"]["test_H_transfer"]["pred"])),
    ("dihedral barrier (meV)", lambda r: _span(r["profiles"]["test_dihedral"]["pred"])),
)


def _span(energies) -> float:
    return 1000.0 * (max(energies) - min(energies))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="bench_acac.py output folders (each with results.json)")
    p.add_argument("--markdown", action="store_true", help="print markdown table rows for docs/benchmarks.md")
    return p.parse_args(argv)


def collect(runs) -> dict:
    """``{"molsym": [entry, ...], "mace": [...]}`` from the runs' results.json, entries with test figures only.

    A folder without results.json, or with an unreadable one, is an error that names it.
    """
    pooled = {"molsym": [], "mace": []}
    for run in runs:
        path = Path(run) / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no results.json (is {run} a finished bench_acac.py run?)")
        try:
            results = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
        for code in pooled:
            entry = results.get(code)
            if entry and len(entry.get("tests", {})) == len(TESTS):
                pooled[code].append(dict(entry, run=str(run)))
    return pooled


def summarise(entries) -> dict:
    """Per column: ``n``, ``mean``, ``min``, ``max`` over the entries."""
    out = {}
    for label, get in COLUMNS:
        values = np.array([get(e) for e in entries], dtype=float)
        out[label] = {"n": len(values), "mean": float(values.mean()), "min": float(values.min()),
                      "max": float(values.max())}
    return out


def ratios(pooled: dict) -> dict:
    """Force-RMSE ratio of the means, molsym / mace-torch, per test set (empty if a code is missing)."""
    if not pooled["molsym"] or not pooled["mace"]:
        return {}
    return {t: float(np.mean([e["tests"][t]["forces_rmse"] for e in pooled["molsym"]])
                     / np.mean([e["tests"][t]["forces_rmse"] for e in pooled["mace"]])) for t in TESTS}


def _cell(s: dict) -> str:
    if s["n"] == 1:
        return f"{s['mean']:.2f}"
    return f"{s['mean']:.2f} ({s['min']:.2f}–{s['max']:.2f})"


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        pooled = collect(args.runs)
    except (FileNotFoundError, ValueError) as err:
        print(err, file=sys.stderr)
        return 2
    labels = [label for label, _ in COLUMNS]
    if args.markdown:
        print("| code | runs | " + " | ".join(labels) + " |")
        print("|---|---:|" + "---:|" * len(labels))
    for code, entries in pooled.items():
        if not entries:
            continue
        s = summarise(entries)
        if args.markdown:
            print(f"| {code} | {len(entries)} | " + " | ".join(_cell(s[k]) for k in labels) + " |")
        else:
            print(f"{code}: {len(entries)} run(s): " + ", ".join(e["run"] for e in entries))
            for k in labels:
                print(f"  {k:<26} mean {s[k]['mean']:9.2f}   range {s[k]['min']:9.2f} – {s[k]['max']:9.2f}")
    r = ratios(pooled)
    if r:
        print("force RMSE ratio of the means, molsym/MACE: " + ", ".join(f"{t} {v:.2f}" for t, v in r.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
