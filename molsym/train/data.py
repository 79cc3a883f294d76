"""A seeded, resumable training loader, so that a run killed mid-epoch and
restarted from its last checkpoint sees exactly the batches it would have seen.

* :class:`EpochSampler` draws the order of epoch ``e`` from ``seed + e`` alone,
  splits every global batch between DDP processes (process ``r`` of ``W``
  takes positions ``r, r+W, ...``, so the union of the local batches is the
  single-process batch), and can skip the batches already consumed.
* :class:`ResumableDataLoader` counts the batches it has handed out and gives
  Lightning ``state_dict``/``load_state_dict``; Lightning stores that state in
  its checkpoints and restores it on resume.
* :class:`ResumableDataModule` wraps any LightningDataModule (e.g.
  :class:`molsym.data.datamodule.MolDataModule`) and replaces only its
  training loader.

Use ``Trainer(use_distributed_sampler=False)``: the sampler does its own split.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, Optional

import lightning.pytorch as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler, Subset

__all__ = ["EpochSampler", "ResumableDataLoader", "ResumableDataModule"]


def _world() -> tuple:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class EpochSampler(Sampler[int]):
    """Indices of one process for one epoch, determined by ``(seed, epoch)``.

    Parameters
    ----------
    length : int
        Size of the dataset.
    batch_size : int
        Per-process batch size.
    seed : int
        Base seed; epoch ``e`` uses ``seed + e``.
    shuffle : bool
        Draw a random permutation (else keep file order).

    The dataset is cut to whole global batches (``batch_size * world_size``)
    when running on several processes, so every process takes the same number
    of steps; on one process nothing is dropped.
    """

    def __init__(self, length: int, batch_size: int, seed: int = 0, shuffle: bool = True):
        self.length, self.batch_size, self.seed, self.shuffle = int(length), int(batch_size), int(seed), shuffle
        self.epoch = 0
        self._skip_batches = 0
        self._skip_epoch: Optional[int] = None

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        self.epoch = int(epoch)

    def skip(self, epoch: int, batches: int) -> None:
        """Skip the first ``batches`` batches the next time epoch ``epoch`` is drawn."""
        self._skip_epoch, self._skip_batches = int(epoch), int(batches)

    def _global_order(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.length)
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(self.length, generator=g)

    def __len__(self) -> int:
        world, _ = _world()
        if world == 1:
            return self.length
        return (self.length // (self.batch_size * world)) * self.batch_size

    def __iter__(self) -> Iterator[int]:
        world, rank = _world()
        order = self._global_order()
        if world > 1:
            order = order[: (self.length // (self.batch_size * world)) * self.batch_size * world]
            order = order[rank::world]
        start = 0
        if self._skip_epoch == self.epoch:
            start = self._skip_batches * self.batch_size
        self._skip_epoch, self._skip_batches = None, 0
        yield from order[start:].tolist()


class ResumableDataLoader(DataLoader):
    """A DataLoader over an :class:`EpochSampler` whose position is checkpointed.

    Lightning saves :meth:`state_dict` in every checkpoint and calls
    :meth:`load_state_dict` on resume, before iterating.
    """

    def __init__(self, dataset, batch_size: int, seed: int = 0, shuffle: bool = True, **kwargs: Any):
        sampler = EpochSampler(len(dataset), batch_size, seed=seed, shuffle=shuffle)
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, shuffle=False, **kwargs)
        self._consumed = 0

    def __iter__(self):
        sampler: EpochSampler = self.sampler
        self._consumed = sampler._skip_batches if sampler._skip_epoch is None or sampler._skip_epoch == sampler.epoch else 0
        for batch in super().__iter__():
            self._consumed += 1
            yield batch

    def state_dict(self) -> Dict[str, int]:
        """``{"epoch", "consumed"}``: the epoch being drawn and batches handed out in it."""
        return {"epoch": self.sampler.epoch, "consumed": self._consumed}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        """Resume epoch ``state["epoch"]`` after ``state["consumed"]`` batches."""
        self.sampler.set_epoch(state["epoch"])
        self.sampler.skip(state["epoch"], state["consumed"])


class ResumableDataModule(pl.LightningDataModule):
    """Wrap a data module; its training loader becomes a :class:`ResumableDataLoader`.

    Validation and test loaders, ``setup`` and ``statistics`` are the wrapped
    module's.

    Parameters
    ----------
    inner : LightningDataModule
        Must return a ``DataLoader`` with ``dataset``, ``batch_size`` and
        ``collate_fn`` from ``train_dataloader()``.
    seed : int
        Shuffling seed.
    bootstrap_seed : int, optional
        Train on a bootstrap sample instead of the training set: as many
        frames as it holds, drawn with replacement by this seed (the same
        sample in every epoch, so a resumed run sees it too). Committees
        (:mod:`molsym.train.committee`) use it to vary their members' data.
    """

    def __init__(self, inner: pl.LightningDataModule, seed: int = 0, bootstrap_seed: Optional[int] = None):
        super().__init__()
        self.inner, self.seed, self.bootstrap_seed = inner, seed, bootstrap_seed

    def prepare_data(self) -> None:
        self.inner.prepare_data()

    def setup(self, stage: str) -> None:
        self.inner.setup(stage)

    @property
    def statistics(self):
        return self.inner.statistics

    def train_dataloader(self) -> ResumableDataLoader:
        base = self.inner.train_dataloader()
        dataset = base.dataset
        if self.bootstrap_seed is not None:
            g = torch.Generator().manual_seed(int(self.bootstrap_seed))
            dataset = Subset(dataset, torch.randint(len(dataset), (len(dataset),), generator=g).tolist())
        return ResumableDataLoader(dataset, batch_size=base.batch_size, seed=self.seed, shuffle=True,
                                   collate_fn=base.collate_fn, num_workers=base.num_workers,
                                   persistent_workers=base.num_workers > 0)

    def val_dataloader(self):
        return self.inner.val_dataloader()

    def test_dataloader(self):
        return self.inner.test_dataloader()
