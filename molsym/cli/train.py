"""``molsym train``: train a force field or a generator from a YAML config."""
from __future__ import annotations

import argparse
from pathlib import Path


class _Excludes(argparse.Action):
    """Store the value, or stop as argparse stops mutually exclusive flags when the flag ``excludes``
    (``(dest, flag)``) was given before it; each of the two flags carries this action naming the other.
    Needed for --init and --resume because --resume is already in a group with --force."""

    def __init__(self, option_strings, dest, excludes, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.excludes = excludes

    def __call__(self, parser, namespace, values, option_string=None):
        dest, flag = self.excludes
        if getattr(namespace, dest, None) is not None:
            parser.error(f"argument {option_string}: not allowed with argument {flag}")
        setattr(namespace, self.dest, values)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train a force field or a generator from a YAML config",
        description="Train what a YAML config names (see configs/, docs/training.md and docs/generator.md): a "
                    "force field, or a generator when the config's model is a class_path (configs/qm9_flow.yaml). "
                    "Writes best/last checkpoints, CSV and TensorBoard logs, a learning-curve PNG and "
                    "the exported EMA model (<output_dir>/model.pt; generators: <output_dir>/gen.pt). "
                    "An output folder that already holds a run's checkpoints is not overwritten: "
                    "--resume last continues that run, --force starts over. --init fine-tunes a trained "
                    "model on the config's data; --committee K trains K models that differ in seed and "
                    "exports them as one committee.",
        epilog="example: molsym train --config configs/acac.yaml trainer.max_epochs=50 model.representation.channels=32")
    p.add_argument("--config", required=True, metavar="YAML", help="the training config (configs/*.yaml)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="override config values by dotted path, e.g. trainer.max_epochs=5 cutoff=4.5 "
                        "loss.1.weight=50 (values are parsed as YAML)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", metavar="CKPT", default=None, action=_Excludes, excludes=("init", "--init"),
                       help="continue a run: 'last' or 'best' (the run's checkpoints) or a checkpoint path")
    start.add_argument("--force", action="store_true",
                       help="start over in an output folder that holds an earlier run's checkpoints, deleting "
                            "them (without --resume or --force, such a run stops before training)")
    p.add_argument("--init", metavar="MODEL", default=None, action=_Excludes, excludes=("resume", "--resume"),
                   help="fine-tune: start from the weights of MODEL (a model file or a .ckpt; its species, "
                        "cutoff and architecture must be the config's, which is checked) with a fresh "
                        "optimizer, schedule and epoch counter; MODEL's E0s, scale and shift are kept unless "
                        "init.refit=true. Sets the config's init.model; not with --resume")
    p.add_argument("--committee", type=int, default=None, metavar="K",
                   help="train K force fields that differ in seed (sets committee.size), one after another, "
                        "into <output_dir>/member_<k>/, and write <output_dir>/committee.json for "
                        "MolSymCalculator and molsym md; --resume last skips finished members")
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
    from molsym.nn.io import ModelFileError
    from molsym.train.config import ConfigError, load_config
    from molsym.train.export import export_checkpoint
    from molsym.train.run import FINAL_EVAL_FRAMES, OutputExistsError, is_generator_config, train

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.final_frames is not None and args.final_frames < 0:
        raise UserError(f"--final-frames must be 0 or more, got {args.final_frames}")
    settings = {}
    if args.init is not None:
        settings["init.model"] = args.init
    if args.committee is not None:
        settings["committee.size"] = args.committee
    try:
        cfg = load_config(args.config, args.overrides, settings=settings)
    except ConfigError as err:
        raise UserError(str(err)) from err
    frames = FINAL_EVAL_FRAMES if args.final_frames is None else args.final_frames
    changed_model = [o.split("=", 1)[0] for o in args.overrides if o.split("=", 1)[0].strip().startswith("model.")]
    if args.resume is not None and changed_model and not is_generator_config(cfg):
        raise UserError(f"override {changed_model[0]!r} cannot change the model of a resumed run (it is rebuilt "
                        f"from the checkpoint); to train a changed model from these weights use --init MODEL.pt")
    if cfg.get("committee") is not None and not is_generator_config(cfg):
        return _run_committee(args, cfg, frames)
    try:
        result = train(cfg, resume=args.resume, force=args.force, final_eval_frames=frames)
    except (OutputExistsError, ConfigError, ModelFileError) as err:
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


def _run_committee(args, cfg, frames: int) -> int:
    """Train a committee (:func:`molsym.train.committee.train_committee`); print its table and files."""
    from molsym.cli.main import UserError
    from molsym.nn.io import ModelFileError
    from molsym.train.committee import train_committee
    from molsym.train.config import ConfigError
    from molsym.train.evaluate import format_table
    from molsym.train.run import OutputExistsError

    if args.no_export:
        raise UserError("--no-export: a committee exports its members (committee.json lists their model files)")
    try:
        result = train_committee(cfg, resume=args.resume, force=args.force, final_eval_frames=frames,
                                 report=lambda line: print(line, flush=True))
    except (OutputExistsError, ConfigError, ModelFileError) as err:
        raise UserError(str(err)) from None
    if not result["is_global_zero"]:
        return 0
    evaluation = result["evaluation"]
    if evaluation is not None:
        n, total = evaluation["frames"]
        print(f"\ncommittee: {evaluation['split']} errors of each member's exported weights and of the mean "
              "prediction, evaluated as molsym eval does")
        print(format_table(evaluation["metrics"], label="model"))
        print(f"({evaluation['split']}: {'all' if n == total else f'the first {n} of'} {total} frames)")
    for member in result["members"]:
        print(f"member {member['index']} (seed {member['seed']}, {member['status']}): {member['model']}")
    print(f"committee file:  {result['committee']} ({len(result['members'])} models, for MolSymCalculator "
          "and molsym md --model)")
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
