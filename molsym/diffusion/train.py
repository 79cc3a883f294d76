"""Train a diffusion generator from a YAML config.

Usage::

    python -m molsym.diffusion.train configs/qm9_edm_cpu.yaml [--max-minutes 18] [--out gen.pt]

The config has four sections (see ``configs/qm9_edm.yaml``): ``data``
(source, subset, split seed, formal charges, conditions), ``model``
(arguments of :class:`EquivariantDiffusion`), ``training`` (optimiser,
EMA, batch size, epochs/time, Lightning trainer options) and ``output``.
The EMA generator is exported with :func:`save_generator` at every
validation and at the end.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import List, Optional

import lightning as L
import numpy as np
import torch

from molsym.train.config import load_yaml

from .data import DiffusionDataModule, molecules_from_frames, qm9_split
from .diffusion import EquivariantDiffusion
from .io import save_generator
from .lightning import DiffusionModule
from .nodes import AtomCountDistribution
from .qm9 import load_molecule_frames

__all__ = ["build_from_config", "train", "main"]


def _condition_stats(records) -> tuple:
    if "condition" not in records[0]:
        return None, None
    c = np.stack([r["condition"] for r in records])
    mean = c.mean(0)
    mad = np.abs(c - mean).mean(0)
    return torch.as_tensor(mean), torch.as_tensor(np.where(mad > 0, mad, 1.0))


def build_from_config(config: dict, train_records) -> EquivariantDiffusion:
    """The untrained model: histograms and condition statistics from ``train_records``."""
    model_cfg = dict(config["model"])
    n = torch.tensor([len(r["atomic_numbers"]) for r in train_records])
    prop = None
    if model_cfg.get("conditions"):
        prop = torch.tensor([r["condition"][0] for r in train_records])
    counts = AtomCountDistribution.fit(n, prop)
    mean, mad = _condition_stats(train_records)
    return EquivariantDiffusion(atom_counts=counts, condition_mean=mean, condition_mad=mad, **model_cfg)


class _ExportCallback(L.Callback):
    """Write the EMA generator after every validation run."""

    def __init__(self, path: Path, extra: dict):
        self.path, self.extra = path, extra

    def on_validation_end(self, trainer, module):
        if trainer.sanity_checking:
            return
        extra = dict(self.extra, epoch=trainer.current_epoch, global_step=trainer.global_step,
                     val_nll=float(trainer.callback_metrics.get("val_nll", float("nan"))))
        save_generator(module.ema_model, self.path, extra)


def train(config: dict, out: Optional[str] = None, max_minutes: Optional[float] = None) -> Path:
    """Train from a config dict; returns the path of the exported generator."""
    data_cfg, train_cfg = config["data"], dict(config.get("training", {}))
    seed = int(train_cfg.pop("seed", 0))
    L.seed_everything(seed, workers=True)
    species = config["model"]["species"]
    conditions = config["model"].get("conditions", [])
    frames = load_molecule_frames(data_cfg, conditions)
    split = qm9_split(len(frames), seed=int(data_cfg.get("split_seed", 0)))
    limits = data_cfg.get("subset") or {}
    picked = {k: split[k][: limits.get(k)] if limits.get(k) else split[k] for k in ("train", "val")}
    charges = data_cfg.get("formal_charges", "rdkit")
    records = {k: molecules_from_frames([frames[i] for i in idx], species, conditions, charges,
                                        source=str(data_cfg.get("source")), progress=True)
               for k, idx in picked.items()}
    model = build_from_config(config, records["train"])
    dtype = train_cfg.pop("dtype", "float32")
    model.to(getattr(torch, dtype))
    module = DiffusionModule(model, lr=float(train_cfg.pop("lr", 1e-4)),
                             weight_decay=float(train_cfg.pop("weight_decay", 1e-12)),
                             ema_decay=float(train_cfg.pop("ema_decay", 0.999)))
    dm = DiffusionDataModule(records["train"], records["val"], species,
                             batch_size=int(train_cfg.pop("batch_size", 64)),
                             val_batch_size=train_cfg.pop("val_batch_size", None), dtype=dtype, seed=seed)
    out_cfg = config.get("output", {})
    run_dir = Path(out_cfg.get("dir", "runs/generator"))
    model_path = Path(out or out_cfg.get("model", run_dir / "gen.pt"))
    minutes = max_minutes if max_minutes is not None else train_cfg.pop("max_minutes", None)
    train_cfg.pop("max_minutes", None)
    extra = {"data": {"source": str(data_cfg.get("source")), "path": str(data_cfg.get("path")),
                      "num_train": len(records["train"]), "num_val": len(records["val"]),
                      "split_seed": int(data_cfg.get("split_seed", 0))},
             "config": json.loads(json.dumps(config))}
    trainer = L.Trainer(
        default_root_dir=str(run_dir),
        max_time={"minutes": float(minutes)} if minutes else None,
        callbacks=[_ExportCallback(model_path, extra)],
        logger=L.pytorch.loggers.CSVLogger(str(run_dir), name="logs"),
        enable_checkpointing=False,
        **train_cfg,
    )
    start = time.time()
    trainer.fit(module, datamodule=dm)
    extra.update(wall_time_s=time.time() - start, global_step=trainer.global_step, epoch=trainer.current_epoch)
    save_generator(module.ema_model, model_path, extra)
    return model_path


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m molsym.diffusion.train",
                                     description="Train an equivariant diffusion generator from a YAML config.")
    parser.add_argument("config", help="YAML config (e.g. configs/qm9_edm_cpu.yaml)")
    parser.add_argument("--out", default=None, help="path of the exported generator (default: output.model)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop training after this many minutes (overrides training.max_minutes)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.config) as fh:
        config = load_yaml(fh)
    path = train(config, out=args.out, max_minutes=args.max_minutes)
    print(f"generator written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
