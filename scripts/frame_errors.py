#!/usr/bin/env python
"""Per-frame force errors on a test file: RMSE over all frames, median frame, worst frames.

The whole-set force RMSE of a small test set can be set by one frame; this
prints what a reader needs to see that: the RMSE over all components, the
median of the per-frame RMSEs, the RMSE without the worst frame and the
worst frames with their errors (meV/Å). Works for a molsym model file
(``--model``, evaluated with :func:`molsym.train.evaluate.predict`) and for a
peer's predictions written as extxyz with a forces array (``--pred``, e.g.
mace-torch's ``pred_test_MD_300K.xyz`` with ``MACE_forces``), frame by frame
against the reference file.

Examples
--------
    python scripts/frame_errors.py --ref ../shared/data/acac/test_MD_300K.xyz --model outputs/bench_acac/molsym/model.pt --show 258
    python scripts/frame_errors.py --ref ../shared/data/acac/test_MD_300K.xyz \\
        --pred outputs/bench_acac/mace/pred_test_MD_300K.xyz --pred-key MACE_forces
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--ref", required=True, help="extxyz file with reference forces (eV/Å)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="a molsym model file (molsym export)")
    src.add_argument("--pred", help="an extxyz file of predictions, frame for frame with --ref")
    p.add_argument("--pred-key", default="MACE_forces", help="forces array name in --pred (eV/Å)")
    p.add_argument("--worst", type=int, default=5, help="how many worst frames to list")
    p.add_argument("--show", type=int, nargs="*", default=[], metavar="K",
                   help="also print these frames' errors (e.g. 258, acac's compressed O-H frame)")
    return p.parse_args(argv)


def per_frame_rmse(args) -> np.ndarray:
    """Force RMSE of every frame (meV/Å, over its components)."""
    if args.model:
        from molsym.data.readers import read_frames
        from molsym.nn.io import load_model
        from molsym.train.evaluate import predict
        rows = predict(load_model(args.model), read_frames(args.ref), progress=False)["per_frame"]
        return np.array([r["forces_rmse"] for r in rows])
    import ase.io
    ref, pred = ase.io.read(args.ref, ":"), ase.io.read(args.pred, ":")
    if len(ref) != len(pred):
        raise SystemExit(f"{args.pred}: {len(pred)} frames, {args.ref}: {len(ref)}")
    return np.array([1e3 * np.sqrt(np.mean((p.arrays[args.pred_key] - r.get_forces()) ** 2))
                     for p, r in zip(pred, ref)])


def summary(err: np.ndarray, worst: int, show=()) -> dict:
    """All-frame RMSE (equal atom counts: the RMS of the per-frame RMSEs), median, without the worst."""
    order = np.argsort(err)[::-1]
    return {"frames": int(len(err)), "rmse": float(np.sqrt(np.mean(err ** 2))),
            "median_frame": float(np.median(err)),
            "rmse_without_worst": float(np.sqrt(np.mean(np.delete(err, order[0]) ** 2))),
            "worst": [[int(k), float(err[k])] for k in order[:worst]],
            "shown": {str(k): float(err[k]) for k in show}}


def main(argv=None) -> None:
    args = parse_args(argv)
    print(json.dumps(summary(per_frame_rmse(args), args.worst, args.show), indent=1))


if __name__ == "__main__":
    main()
