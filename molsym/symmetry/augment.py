"""Data augmentation: random O(3) elements and translations applied to graphs,
for training models that are not equivariant by construction."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch

from molsym.data import keys as K
from molsym.symmetry.group import random_rotation, random_translation


def rotate_graph(graph: Dict[str, torch.Tensor], R: torch.Tensor,
                 t: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
    """Apply ``x -> x R^T + t`` to a graph: positions (rotated and translated),
    cell and vector fields (rotated), rank-2 tensor fields (``R S R^T``).
    Edge shifts are integer cell coordinates and stay as they are."""
    out = dict(graph)
    R = R.to(graph[K.POS].dtype)
    for key in K.VECTOR_KEYS:
        if key in out:
            out[key] = out[key] @ R.T
    if t is not None:
        out[K.POS] = out[K.POS] + t.to(out[K.POS].dtype)
    if K.CELL in out:
        out[K.CELL] = out[K.CELL] @ R.T
    for key in K.TENSOR_KEYS:
        if key in out:
            out[key] = R @ out[key] @ R.T
    return out


class RandomO3Augmentation:
    """Callable graph transform: a fresh random rotation (reflections with
    probability 1/2) and translation on every call.

    >>> aug = RandomO3Augmentation(seed=0)
    >>> g = {"pos": torch.zeros(2, 3, dtype=torch.float64)}
    >>> aug(g)["pos"].shape
    torch.Size([2, 3])
    """

    def __init__(self, seed: Optional[int] = None, translate: float = 5.0, reflections: bool = True):
        self.rng = np.random.default_rng(seed)
        self.translate, self.reflections = translate, reflections

    def __call__(self, graph: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        reflect = bool(self.reflections and self.rng.random() < 0.5)
        R = torch.from_numpy(random_rotation(self.rng, reflect))
        t = torch.from_numpy(random_translation(self.rng, self.translate)) if self.translate else None
        return rotate_graph(graph, R, t)


def rotate_batch(batch: Dict[str, torch.Tensor], rng: np.random.Generator, translate: float = 5.0,
                 reflections: bool = True) -> Dict[str, torch.Tensor]:
    """Give every graph of a collated batch its own random O(3) element and translation.

    Returns a new dict; per-atom vectors use their graph's rotation
    (``batch["batch"]``), cells and stresses theirs.
    """
    num_graphs = int(batch[K.NUM_ATOMS].shape[0])
    dtype = batch[K.POS].dtype
    Rs = torch.from_numpy(np.stack([random_rotation(rng, bool(reflections and rng.random() < 0.5))
                                    for _ in range(num_graphs)])).to(dtype)
    ts = torch.from_numpy(rng.normal(scale=translate, size=(num_graphs, 3))).to(dtype)
    R_atom = Rs[batch[K.BATCH]]
    out = dict(batch)
    for key in K.VECTOR_KEYS:
        if key in out:
            out[key] = torch.einsum("nij,nj->ni", R_atom, out[key])
    out[K.POS] = out[K.POS] + ts[batch[K.BATCH]]
    if K.CELL in out:
        out[K.CELL] = out[K.CELL] @ Rs.transpose(1, 2)
    for key in K.TENSOR_KEYS:
        if key in out:
            out[key] = Rs @ out[key] @ Rs.transpose(1, 2)
    return out


try:
    import lightning.pytorch as _pl

    class AugmentationCallback(_pl.Callback):
        """Lightning callback: randomly rotate/reflect/translate every training batch in place.

        In a config: ``callbacks: [{class_path: molsym.symmetry.augment.AugmentationCallback}]``.
        """

        def __init__(self, seed: int = 0, translate: float = 5.0, reflections: bool = True):
            self.rng = np.random.default_rng(seed)
            self.translate, self.reflections = translate, reflections

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            batch.update(rotate_batch(batch, self.rng, self.translate, self.reflections))
except ImportError:  # pragma: no cover - lightning is a hard dependency
    pass
