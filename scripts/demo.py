"""`make demo`: molsym's main job end to end on CPU, in under ~10 minutes.

1. Generate a GFN2-xTB ethanol dataset with Langevin MD (cached in
   data/generated/, which git ignores).
2. Train the small ACE flagship model of configs/demo.yaml for a few minutes.
3. Evaluate the EMA weights on the held-out test split: print the error table,
   write the parity plot, per-frame errors and the exported model to
   outputs/demo/.

    python scripts/demo.py [--minutes 5] [--frames 400] [key=value config overrides]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/demo.yaml", help="training config (default configs/demo.yaml)")
    p.add_argument("--smiles", default="CCO", help="molecule to simulate (default ethanol, CCO)")
    p.add_argument("--frames", type=int, default=400, help="MD frames to generate (default 400)")
    p.add_argument("--minutes", type=float, default=4.0, help="training wall-clock budget in minutes (default 4)")
    p.add_argument("--out", default="outputs/demo",
                   help="output folder (default outputs/demo); an earlier demo's run there is replaced")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for xTB and torch (default 1: on a shared or busy machine more OpenMP "
                        "threads than free cores slow both down by orders of magnitude; use 2 on an idle 2-core machine)")
    p.add_argument("--regenerate", action="store_true", help="regenerate the dataset even if it is cached")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. trainer.max_epochs=5")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.chdir(REPO)
    # before tblite/torch start their OpenMP pools (this overrides the Makefile's setting on purpose)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    from molsym.data.generate import generate_dataset
    from molsym.train.config import load_config
    from molsym.train.evaluate import evaluate_frames, format_table
    from molsym.train.export import export_checkpoint, load_checkpoint_model
    from molsym.train.run import train

    t0 = time.perf_counter()
    data = Path("data/generated") / f"{'ethanol' if args.smiles == 'CCO' else 'molecule'}_gfn2.xyz"
    if args.regenerate or not data.is_file():
        print(f"[1/3] generating {args.frames} GFN2-xTB frames of {args.smiles} → {data}")
        generate_dataset(args.smiles, data, method="gfn2-xtb", temperature=500.0, frames=args.frames, seed=0,
                         stride=10)
    else:
        print(f"[1/3] using cached dataset {data} (--regenerate to redo it)")

    seconds = int(args.minutes * 60)
    budget = f"00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    cfg = load_config(args.config, [f"data_file={data}", f"output_dir={args.out}",
                                    f"trainer.max_time={budget}", *args.overrides])
    print(f"[2/3] training {cfg['model']['representation']['name']} for at most {args.minutes:g} min "
          f"({cfg['dtype']}, {args.threads} threads)")
    t1 = time.perf_counter()
    result = train(cfg, force=True)  # a demo starts over: `make demo` twice replaces the first demo's run
    train_s = time.perf_counter() - t1

    print("[3/3] evaluating the EMA weights of the best checkpoint on the held-out split")
    model, hp = load_checkpoint_model(result["best"])
    dm = result["datamodule"]
    table = {}
    for split in ("val", "test"):
        subset = getattr(dm, f"{split}_dataset")
        if subset is None or len(subset) == 0:
            continue
        frames = [subset.dataset.frames[i] for i in subset.indices]
        res = evaluate_frames(model, frames, args.out, name=split, progress=False)
        table[f"{split} ({len(frames)})"] = res["metrics"]
    model_file = export_checkpoint(result["best"], Path(args.out) / "model.pt")
    print()
    print(format_table(table))
    print(f"\ntrained {hp['global_step']} steps / epoch {hp['epoch']} in {train_s / 60:.1f} min; "
          f"whole demo {(time.perf_counter() - t0) / 60:.1f} min")
    print(f"parity plot:    {Path(args.out) / 'test_parity.png'}")
    print(f"learning curve: {result['learning_curve']}")
    print(f"model:          {model_file}  (molsym eval --model {model_file} --data FILE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
