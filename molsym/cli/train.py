"""``molsym train``: train a force field or a generator from a YAML config."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train a force field or a generator from a YAML config",
        description="Train what a YAML config names (see configs/, docs/training.md and docs/generator.md): a "
                    "force field, or a generator when the config's model is a class_path (configs/qm9_flow.yaml). "
                    "Writes best/last checkpoints, CSV and TensorBoard logs, a learning-curve PNG and "
                    "the exported EMA model (<output_dir>/model.pt; generators: <output_dir>/gen.pt). "
                    "An output folder that already holds a run's checkpoints is not overwritten: "
                    "--resume last continues that run, --force starts over.",
        epilog="example: molsym train --config configs/acac.yaml trainer.max_epochs=50 model.representation.channels=32")
    p.add_argument("--config", required=True, metavar="YAML", help="the training config (configs/*.yaml)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="override config values by dotted path, e.g. trainer.max_epochs=5 cutoff=4.5 "
                        "loss.1.weight=50 (values are parsed as YAML)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", metavar="CKPT", default=None,
                       help="continue a run: 'last' or 'best' (the run's checkpoints) or a checkpoint path")
    start.add_argument("--force", action="store_true",
                       help="start over in an output folder that holds an earlier run's checkpoints, deleting "
                            "them (without --resume or --force, such a run stops before training)")
    p.add_argument("--no-export", action="store_true",
                   help="do not export the model at the end (force fields: <output_dir>/model.pt from the best "
                        "checkpoint; generators: <output_dir>/gen.pt from the last)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch CPU threads (default: torch's choice)")
    p.add_argument("--final-frames", type=int, default=None, metavar="N",
                   help="force fields: the final metrics evaluate the exported weights (EMA weights of the "
                        "best checkpoint) on the first N training and N validation frames, as molsym eval "
                        "would (default 1000; 0 skips them)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import torch

    from molsym.cli.main import UserError
    from molsym.train.config import ConfigError, load_config
    from molsym.train.export import export_checkpoint
    from molsym.train.run import FINAL_EVAL_FRAMES, OutputExistsError, is_generator_config, train

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.final_frames is not None and args.final_frames < 0:
        raise UserError(f"--final-frames must be 0 or more, got {args.final_frames}")
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as err:
        raise UserError(str(err)) from err
    frames = FINAL_EVAL_FRAMES if args.final_frames is None else args.final_frames
    try:
        result = train(cfg, resume=args.resume, force=args.force, final_eval_frames=frames)
    except (OutputExistsError, ConfigError) as err:
        raise UserError(str(err)) from None
    if not result["trainer"].is_global_zero:
        return 0
    if is_generator_config(cfg):
        return _report_generator(args, cfg, result)
    if result["final"] is not None:
        print(_final_table(result["final"]))
    print(f"best checkpoint: {result['best']}\nlast checkpoint: {result['last']}")
    if result["learning_curve"]:
        print(f"learning curve:  {result['learning_curve']}")
    if not args.no_export:
        out = export_checkpoint(result["best"], Path(cfg.get("output_dir", "outputs/run")) / "model.pt")
        print(f"exported model:  {out}")
    return 0


def _final_table(final) -> str:
    """The final metrics of the exported weights, labelled with their checkpoint and the frames evaluated."""
    from molsym.train.evaluate import format_table

    weights = "EMA weights" if final["weights"] == "ema" else "raw weights (no EMA)"
    head = (f"\nfinal metrics of the exported weights ({weights} of {Path(final['checkpoint']).name}, "
            f"step {final['global_step']}), evaluated as molsym eval does")
    counts = [f"{split}: {'all' if n == total else f'the first {n} of'} {total} frames"
              for split, (n, total) in final["frames"].items()]
    return "\n".join([head, format_table(final["metrics"]), "(" + "; ".join(counts) + ")"])


def _report_generator(args, cfg, result) -> int:
    """Final validation figures of a generator run and the exported EMA generator (from the last checkpoint:
    a generator's validation loss does not rank sample quality)."""
    import torch

    from molsym.generate.io import export_generator_checkpoint

    metrics = result["metrics"]
    shown = {k: v for k, v in metrics.items() if k.startswith("val/")}
    print("\nfinal validation (EMA weights)")
    for key in sorted(shown):
        print(f"  {key:28s} {shown[key]:.4g}")
    print(f"best checkpoint: {result['best']}\nlast checkpoint: {result['last']}")
    if result["learning_curve"]:
        print(f"learning curve:  {result['learning_curve']}")
    if not args.no_export:
        extra = {"fit_seconds": result["fit_seconds"], "threads": torch.get_num_threads()}
        out = export_generator_checkpoint(result["last"], Path(cfg.get("output_dir", "outputs/run")) / "gen.pt",
                                          extra=extra)
        print(f"exported generator: {out}")
    return 0
