"""``molsym learn``: a force field for a molecule from its SMILES, by active learning with a committee."""
from __future__ import annotations

import argparse

from molsym.cli.args import positive_float, positive_int

DESCRIPTION = """\
Active learning from a SMILES string. A seed of Langevin MD frames labelled by
the labeller (GFN2-xTB by default), then iterations of: train a committee of K
force fields (each member fine-tunes its predecessor), run short committee MD
at --temperature and --hot-temperature with the watchdog, pick the frames where
the members disagree most (a gap of --min-gap steps between picks of one run)
and every frame where the watchdog fired, label them, add them to the data.
Stops when the largest force spread over every MD run stays below --threshold
(converged), when a budget is spent, or after --max-iterations.

Writes into --out: committee.json (the final committee, for molsym md --model)
and model.pt (its member 0 alone), data.xyz (every labelled frame, extxyz,
energies eV and forces eV/Å) with data_isolated_atoms.xyz (E0s), learning.png
(force spread and error per iteration, frames), learn.log and, per iteration,
iter_<i>/ with its members, MD runs and labelled frames. After a kill,
--resume continues at the last completed iteration.

example: molsym learn --smiles CCO --out ethanol_al --budget-minutes 15
         molsym md --model ethanol_al/committee.json --atoms ethanol_al/data.xyz --steps 2000
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from molsym.learn.loop import LearnSettings

    d = LearnSettings(smiles="", out="")
    p = subparsers.add_parser("learn", help="active learning: a force field for a molecule from its SMILES",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smiles", help="the molecule (hydrogens are added); required unless --resume")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for everything the run writes")
    p.add_argument("--labeller", default=d.labeller, metavar="METHOD|MODULE:CLASS",
                   help="reference method: gfn2-xtb, gfn1-xtb, ipea1-xtb (tblite) or any ASE calculator "
                        "importable as MODULE:CLASS and built with no arguments (default: %(default)s)")
    p.add_argument("--config", metavar="YAML", default=None,
                   help="the members' training config (default: molsym/resources/learn.yaml, a small ACE "
                        "model); its data files and output folder are set by learn")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="overrides of the training config, as for molsym train (model.representation.channels=16)")
    p.add_argument("--temperature", type=positive_float, default=d.temperature,
                   help="seed MD and every other exploration run, K (default: %(default)s)")
    p.add_argument("--hot-temperature", type=positive_float, default=None,
                   help="the hotter exploration runs, K (default: twice --temperature)")
    p.add_argument("--committee", type=int, default=d.committee, metavar="K",
                   help="committee members, at least 2 (default: %(default)s)")
    p.add_argument("--seed-frames", type=positive_int, default=d.seed_frames,
                   help="labelled frames of the seed MD (default: %(default)s)")
    p.add_argument("--seed-stride", type=positive_int, default=d.seed_stride,
                   help="seed MD steps between kept frames (default: %(default)s)")
    p.add_argument("--seed-equilibration", type=int, default=d.seed_equilibration, metavar="STEPS",
                   help="seed MD steps before the first kept frame (default: %(default)s)")
    p.add_argument("--frames-per-iteration", type=positive_int, default=d.frames_per_iteration,
                   help="most frames labelled per iteration (default: %(default)s)")
    p.add_argument("--max-iterations", type=positive_int, default=None,
                   help=f"iterations, each one training (default: {d.max_iterations})")
    p.add_argument("--md-runs", type=positive_int, default=d.md_runs,
                   help="exploration MD runs per iteration, alternately at --temperature and "
                        "--hot-temperature (default: %(default)s)")
    p.add_argument("--md-steps", type=positive_int, default=d.md_steps,
                   help="steps per exploration run (default: %(default)s)")
    p.add_argument("--timestep", type=positive_float, default=d.timestep, help="MD time step, fs (default: %(default)s)")
    p.add_argument("--sample-every", type=positive_int, default=d.sample_every,
                   help="MD steps between candidate frames (default: %(default)s)")
    p.add_argument("--min-gap", type=int, default=d.min_gap, metavar="STEPS",
                   help="least MD steps between two frames picked from one run (default: %(default)s)")
    p.add_argument("--threshold", type=positive_float, default=None, metavar="EV_PER_A",
                   help=f"converged when the largest per-atom force spread of the committee over every "
                        f"exploration run is below this, eV/Å; only frames above it are picked "
                        f"(default: {d.threshold})")
    p.add_argument("--spread-quantile", type=positive_float, default=None, metavar="Q",
                   help="converged when this quantile of the spreads is below --threshold: 1 is the largest, "
                        "0.99 lets the rarest 1%% of frames exceed it (outliers of the hot runs; "
                        f"default: {d.spread_quantile:g})")
    p.add_argument("--budget-frames", type=positive_int, default=None, metavar="N",
                   help="stop at N labelled frames, the seed included")
    p.add_argument("--budget-minutes", type=positive_float, default=None, metavar="M",
                   help="stop starting new stages after M minutes of wall time (over resumed sessions too)")
    p.add_argument("--train-minutes", type=positive_float, default=d.train_minutes,
                   help="training time per member and iteration, minutes (default: %(default)s)")
    p.add_argument("--parallel", type=positive_int, default=d.parallel, metavar="P",
                   help="train P members at once, each in its own process with --threads / P torch threads "
                        "(2 on a 2-core machine: about twice as fast; default: %(default)s)")
    p.add_argument("--test", metavar="XYZ", default=None,
                   help="labelled frames to score the committee on after every training (force RMSE in the "
                        "log, the state and the plot)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of everything random (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="torch CPU threads")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", action="store_true",
                       help="continue the run in --out (its saved settings; budgets, --max-iterations, "
                            "--threshold and --spread-quantile given now replace the saved ones)")
    start.add_argument("--force", action="store_true", help="delete an earlier run's files in --out first")
    p.set_defaults(func=run)
    return p


def _given(args, name: str, defaults):
    """The flag's value; when not given, the default for a new run and None (keep the saved one) on --resume."""
    value = getattr(args, name)
    return value if value is not None or args.resume else getattr(defaults, name)


def run(args) -> int:
    import torch

    from molsym.cli.main import UserError
    from molsym.learn import LabellerError, LearnError, LearnSettings, learn
    from molsym.nn.io import ModelFileError
    from molsym.train.config import ConfigError
    from molsym.train.run import OutputExistsError

    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.resume and not args.smiles:
        raise UserError("--smiles is required (or --resume to continue the run in --out)")
    defaults = LearnSettings(smiles="", out="")
    settings = LearnSettings(
        smiles=args.smiles or "", out=args.out, labeller=args.labeller, config=args.config,
        overrides=list(args.overrides or []), temperature=args.temperature, hot_temperature=args.hot_temperature,
        committee=args.committee, seed_frames=args.seed_frames, seed_stride=args.seed_stride,
        seed_equilibration=args.seed_equilibration, frames_per_iteration=args.frames_per_iteration,
        max_iterations=_given(args, "max_iterations", defaults), md_runs=args.md_runs,
        md_steps=args.md_steps, sample_every=args.sample_every, min_gap=args.min_gap,
        threshold=_given(args, "threshold", defaults),
        spread_quantile=_given(args, "spread_quantile", defaults), budget_frames=args.budget_frames,
        budget_minutes=args.budget_minutes, train_minutes=args.train_minutes, parallel=args.parallel,
        timestep=args.timestep,
        seed=args.seed, test=args.test)
    try:
        state = learn(settings, resume=args.resume, force=args.force, report=lambda line: print(line, flush=True))
    except (LearnError, LabellerError, ConfigError, ModelFileError, OutputExistsError) as err:
        raise UserError(str(err)) from None
    if state.get("committee"):
        print(f"committee: {state['committee']}\nmodel:     {state['model']}")
    print(f"data:      {state['data']}")
    if state.get("plot"):
        print(f"plot:      {state['plot']}")
    return 0
