"""Zero centre of mass and the prior–data coupling of the flow (permutation + rotation).

Noise points of the prior are exchangeable and its density is invariant under
rotations, so pairing each molecule with a permuted, rotated copy of its
noise sample leaves the marginal prior unchanged while making the straight
paths between them much shorter (equivariant optimal-transport coupling, as in
Klein et al. 2023 and SemlaFlow): the Hungarian algorithm picks the
permutation with the least summed squared distance, the Kabsch algorithm the
proper rotation with the least RMSD.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

__all__ = ["remove_com", "zero_com_noise", "kabsch_rotation", "align_prior"]


def remove_com(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x [B, N, 3]`` minus the mean of its real atoms (``mask [B, N]``); padding set to 0."""
    m = mask.unsqueeze(-1).to(x.dtype)
    com = (x * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)
    return (x - com) * m


def zero_com_noise(mask: torch.Tensor, dtype=torch.float32, generator=None, std: float = 1.0) -> torch.Tensor:
    """Isotropic Gaussian ``[B, N, 3]`` (std ``std`` Å per axis) projected to zero centre of mass."""
    x = torch.randn(*mask.shape, 3, generator=generator, dtype=dtype) * std  # drawn on the CPU
    return remove_com(x.to(mask.device), mask)


def kabsch_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Proper rotation ``R`` (det +1) minimising ``|a R - b|`` for centred ``a, b [n, 3]``."""
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d if d != 0 else 1.0]) @ vt


def align_prior(x0: torch.Tensor, x1: torch.Tensor, mask: torch.Tensor, permute: bool = True,
                rotate: bool = True) -> torch.Tensor:
    """Noise ``x0 [B, N, 3]`` permuted over atoms and rotated onto the data ``x1``.

    Both must be centred (:func:`remove_com`). Per molecule the Hungarian
    assignment over squared distances comes first, then the Kabsch rotation.
    """
    a_all = x0.detach().cpu().double().numpy()
    b_all = x1.detach().cpu().double().numpy()
    n_all = mask.sum(1).cpu().numpy()
    out = a_all.copy()
    for k, n in enumerate(n_all):
        a, b = a_all[k, :n], b_all[k, :n]
        if permute:
            cost = ((b[:, None, :] - a[None, :, :]) ** 2).sum(-1)
            _, cols = linear_sum_assignment(cost)
            a = a[cols]
        if rotate and n > 1:
            a = a @ kabsch_rotation(a, b)
        out[k, :n] = a
    return torch.as_tensor(out, dtype=x0.dtype, device=x0.device)
