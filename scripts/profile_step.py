"""Where one training step's time goes: forward (energy + forces), backward, optimizer, EMA.

Builds the model, data and optimizer exactly as ``molsym train`` would from a
config, then times the parts of a training step on real batches, outside
Lightning (no logging, no validation)::

    python scripts/profile_step.py --config configs/acac.yaml --threads 1 [--table] [key=value ...]

Prints milliseconds per step for each part, averaged over ``--steps`` steps
after ``--warmup`` steps. ``--table`` also prints ``torch.profiler``'s
operators by self CPU time. Overrides are molsym config overrides
(e.g. ``optimizer.init_args.fused=true``).
"""
from __future__ import annotations

import argparse
import itertools
import time

import torch


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", default="configs/acac.yaml", help="molsym training config")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--steps", type=int, default=25, help="timed steps")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    p.add_argument("--table", action="store_true", help="also print torch.profiler's top operators")
    p.add_argument("--out-dir", default="outputs/profile_step",
                   help="output_dir override (the data cache goes there)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="molsym config overrides")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from molsym.train.config import load_config
    from molsym.train.run import build_datamodule, build_module

    cfg = load_config(args.config, [f"output_dir={args.out_dir}", *args.overrides])
    dm = build_datamodule(cfg)
    dm.setup("fit")
    module = build_module(cfg, dm.statistics, dm.train_dataset)
    opt = module.configure_optimizers()
    opt = opt["optimizer"] if isinstance(opt, dict) else opt
    model = module.model
    batches = list(itertools.islice(itertools.cycle(dm.train_dataloader()), args.warmup + args.steps))

    parts = {"forward (energy + forces)": 0.0, "backward": 0.0, "optimizer": 0.0, "EMA": 0.0}
    for i, batch in enumerate(batches):
        t0 = time.perf_counter()
        loss, _ = module.loss_fn(model(batch, compute_forces=True), batch)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if module.ema is not None:
            module.ema.update_parameters(model)
        t4 = time.perf_counter()
        if i >= args.warmup:
            for name, (a, b) in zip(parts, ((t0, t1), (t1, t2), (t2, t3), (t3, t4))):
                parts[name] += (b - a) * 1000.0 / args.steps
    size = cfg["data"]["init_args"].get("batch_size")
    print(f"{args.config}, batch {size}, {args.threads} thread(s), ms per step over {args.steps} steps:")
    for name, ms in parts.items():
        print(f"  {name:<26} {ms:8.2f}")
    print(f"  {'total':<26} {sum(parts.values()):8.2f}")

    if args.table:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for batch in batches[args.warmup:]:
                loss, _ = module.loss_fn(model(batch, compute_forces=True), batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
        print(prof.key_averages(group_by_input_shape=True).table(
            sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=30, max_shapes_column_width=60))


if __name__ == "__main__":
    main()
