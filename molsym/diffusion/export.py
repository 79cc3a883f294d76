"""The flat output of :func:`molsym.diffusion.sample` cut into molecules ``(atomic_numbers, pos Å, charges)``.

Files of generated molecules (SDF, extxyz, PNG) are written by
:mod:`molsym.generate.export` for every generator.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
import torch

__all__ = ["split_samples"]

Molecule = Tuple[np.ndarray, np.ndarray, np.ndarray]


def split_samples(out: Dict[str, torch.Tensor]) -> List[Molecule]:
    """Cut the flat output of :func:`molsym.diffusion.sample` into molecules."""
    sizes = out["num_atoms"].tolist()
    z = np.split(out["atomic_numbers"].cpu().numpy(), np.cumsum(sizes)[:-1])
    pos = np.split(out["pos"].detach().cpu().double().numpy(), np.cumsum(sizes)[:-1])
    ch = np.split(out["charges"].cpu().numpy(), np.cumsum(sizes)[:-1])
    return list(zip(z, pos, ch))
