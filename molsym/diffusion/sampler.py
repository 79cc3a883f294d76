"""Samplers: ancestral over all ``T`` steps, and fewer-step DDIM-like samplers.

Both walk a decreasing sequence of integer timesteps ``t_K = T > ... > t_0 = 0``
and at each pair ``(t, s)`` with ``s < t`` draw ``z_s`` given ``z_t`` and the
noise prediction ``eps_hat``:

``ancestral``
    the posterior ``q(z_s | z_t, x = x_hat)`` of the forward process,
    ``mean = z_t / a_ts - s2_ts / (a_ts sigma_t) eps_hat``,
    ``std = s_ts sigma_s / sigma_t`` with ``a_ts = alpha_t / alpha_s`` and
    ``s2_ts = sigma_t^2 - a_ts^2 sigma_s^2`` (Hoogeboom et al. 2022, Sec. 3.1).
    With every step (``steps = T``) this is EDM's sampler; with fewer steps it
    is the same posterior over a skipped grid.
``ddim``
    Song et al. (2021): ``z_s = alpha_s x_hat + sqrt(sigma_s^2 - c^2) eps_hat + c eps``
    with ``c = eta * std``; ``eta = 0`` is deterministic, ``eta = 1``
    coincides with the ancestral step.

Coordinate noise is always drawn in the zero-centre subspace, so every
``z_s`` stays there. The last step samples ``p(x, h | z_0)`` and rounds
``h`` to atom types and charges.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
from tqdm.auto import tqdm

from .diffusion import EquivariantDiffusion
from .subspace import remove_mean

__all__ = ["timestep_grid", "ancestral_step", "ddim_step", "sample", "sample_molecules"]


def timestep_grid(T: int, steps: int) -> torch.Tensor:
    """``steps + 1`` decreasing integer timesteps from ``T`` to ``0`` (evenly spaced)."""
    if not 1 <= steps <= T:
        raise ValueError(f"steps must be in 1..{T}, got {steps}")
    grid = torch.round(torch.linspace(T, 0, steps + 1, dtype=torch.float64)).long()
    return grid


def _coefficients(model: EquivariantDiffusion, t: int, s: int, dtype, device):
    g = model.schedule.gamma(torch.tensor([t, s], device=device)).to(dtype)
    alpha2, sigma2 = torch.sigmoid(-g), torch.sigmoid(g)
    return alpha2.sqrt(), sigma2.sqrt()


def ancestral_step(z, eps_hat, noise, alpha, sigma):
    """Posterior ``q(z_s | z_t, x_hat)``; ``alpha, sigma = ([a_t, a_s], [s_t, s_s])``."""
    a_ts = alpha[0] / alpha[1]
    s2_ts = sigma[0] ** 2 - a_ts**2 * sigma[1] ** 2
    mean = z / a_ts - s2_ts / (a_ts * sigma[0]) * eps_hat
    std = s2_ts.clamp(min=0).sqrt() * sigma[1] / sigma[0]
    return mean + std * noise


def ddim_step(z, eps_hat, noise, alpha, sigma, eta: float = 0.0):
    """DDIM update from ``t`` to ``s``; ``eta`` scales the stochastic part (0: deterministic)."""
    x_hat = (z - sigma[0] * eps_hat) / alpha[0]
    a_ts = alpha[0] / alpha[1]
    s2_ts = sigma[0] ** 2 - a_ts**2 * sigma[1] ** 2
    c = eta * s2_ts.clamp(min=0).sqrt() * sigma[1] / sigma[0]
    direction = (sigma[1] ** 2 - c**2).clamp(min=0).sqrt()
    return alpha[1] * x_hat + direction * eps_hat + c * noise


@torch.no_grad()
def sample(model: EquivariantDiffusion, num_atoms: torch.Tensor, steps: Optional[int] = None,
           method: str = "ancestral", eta: float = 0.0, condition: Optional[torch.Tensor] = None,
           generator: Optional[torch.Generator] = None, dtype=None, device="cpu",
           progress: bool = False) -> Dict[str, torch.Tensor]:
    """Generate one batch of molecules.

    Parameters
    ----------
    model : EquivariantDiffusion
    num_atoms : [B] int tensor
        Size of every molecule (e.g. from ``model.atom_counts.sample``).
    steps : int, optional
        Number of network evaluations (default ``T``).
    method : {"ancestral", "ddim"}
    eta : float
        DDIM stochasticity (ignored by ``ancestral``).
    condition : [B, C] tensor, optional
        Raw (unnormalised) property values of a conditional model.
    generator : torch.Generator, optional
        Source of randomness (for reproducible samples).
    dtype : torch.dtype, optional
        Working precision (default: the model's).
    progress : bool
        Show a tqdm bar over the denoising steps.

    Returns
    -------
    dict with ``pos [N, 3]`` (Å, zero-centred), ``types [N]`` (index into
    ``model.species``), ``atomic_numbers [N]``, ``charges [N]``, ``batch [N]``
    and ``num_atoms [B]``.
    """
    if method not in ("ancestral", "ddim"):
        raise ValueError(f"unknown sampler {method!r}; choose 'ancestral' or 'ddim'")
    dtype = dtype or next(model.parameters()).dtype
    num_atoms = torch.as_tensor(num_atoms, dtype=torch.long, device=device)
    B = num_atoms.shape[0]
    batch = torch.repeat_interleave(torch.arange(B, device=device), num_atoms)
    cond = None
    if model.conditions:
        if condition is None:
            raise ValueError(f"this model is conditioned on {model.conditions}; pass condition=")
        cond = model.normalise_condition({"condition": torch.as_tensor(condition).reshape(B, -1)}, dtype)
        cond = cond.to(device)
    z_x, z_h = model.sample_noise(batch, B, dtype, generator)
    grid = timestep_grid(model.T, steps or model.T).tolist()
    pairs = list(zip(grid[:-1], grid[1:]))
    for t, s in tqdm(pairs, desc="denoising", disable=not progress, leave=False):
        alpha, sigma = _coefficients(model, t, s, dtype, device)
        t_b = torch.full((B,), t, dtype=torch.long, device=device)
        eps_x, eps_h = model.denoise(z_x, z_h, t_b, batch, B, cond)
        noise_x, noise_h = model.sample_noise(batch, B, dtype, generator)
        if method == "ancestral":
            z_x = ancestral_step(z_x, eps_x, noise_x, alpha, sigma)
            z_h = ancestral_step(z_h, eps_h, noise_h, alpha, sigma)
        else:
            z_x = ddim_step(z_x, eps_x, noise_x, alpha, sigma, eta)
            z_h = ddim_step(z_h, eps_h, noise_h, alpha, sigma, eta)
        z_x = remove_mean(z_x, batch, B)  # guard against numerical drift
    # p(x, h | z_0): x ~ N(x_hat, (sigma0/alpha0)^2), h rounded in decode()
    alpha, sigma = _coefficients(model, 0, 0, dtype, device)
    t0 = torch.zeros(B, dtype=torch.long, device=device)
    eps_x, eps_h = model.denoise(z_x, z_h, t0, batch, B, cond)
    noise_x, _ = model.sample_noise(batch, B, dtype, generator)
    x = (z_x - sigma[0] * eps_x) / alpha[0] + sigma[0] / alpha[0] * noise_x
    h = z_h / alpha[0]
    out = model.decode(x, h)
    species = torch.tensor(model.species, device=device)
    out.update(atomic_numbers=species[out["types"]], batch=batch, num_atoms=num_atoms)
    return out


def _conditions_and_sizes(model: EquivariantDiffusion, num: int, condition, num_atoms, generator):
    """Raw conditions ``[num, C]`` (None if unconditional) and sizes ``[num]`` for :func:`sample_molecules`."""
    C = len(model.conditions)
    if not C:
        if condition is not None:
            raise ValueError("this generator is unconditional; pass no condition")
        sizes = model.atom_counts.sample(num, generator=generator) if num_atoms is None else num_atoms
        return None, torch.as_tensor(sizes, dtype=torch.long).cpu()
    if condition is None:
        if C != 1:
            raise ValueError(f"this generator is conditioned on {model.conditions}; pass condition=")
        drawn, prop = model.atom_counts.sample_joint(num, generator=generator)  # (N, c) like the training data
        cond = prop.cpu().view(num, 1)
        sizes = drawn if num_atoms is None else num_atoms
    else:
        cond = torch.as_tensor(condition, dtype=torch.float64).cpu().reshape(-1, C)
        if cond.shape[0] == 1:
            cond = cond.expand(num, C)
        if cond.shape[0] != num:
            raise ValueError(f"condition: one row of {C} values or {num} rows, got {cond.shape[0]} rows")
        sizes = num_atoms if num_atoms is not None else model.atom_counts.sample(num, prop=cond[:, 0],
                                                                                  generator=generator)
    return cond, torch.as_tensor(sizes, dtype=torch.long).cpu()


def sample_molecules(model: EquivariantDiffusion, num: int, steps: Optional[int] = None,
                     generator: Optional[torch.Generator] = None, batch_size: int = 100,
                     method: str = "ancestral", eta: float = 0.0, condition=None,
                     num_atoms: Optional[torch.Tensor] = None, progress: bool = False) -> List:
    """Generate ``num`` molecules in batches of ``batch_size``, as :class:`~molsym.generate.GeneratedMolecule`.

    Parameters
    ----------
    model : EquivariantDiffusion
        Sampled on the device of its weights.
    num : int
    steps, method, eta : see :func:`sample`
        ``steps=None`` runs all ``T`` steps.
    generator : torch.Generator, optional
        Source of every draw (sizes, conditions, noise); a CPU generator also
        serves a model on a GPU.
    condition : [C] or [num, C] values, optional
        Raw property values of a conditional model (one row for all
        molecules, or one per molecule); without them a model with one
        condition draws ``(N, c)`` pairs from its training histogram.
    num_atoms : [num] ints, optional
        Sizes; by default drawn from ``p(N)`` (or ``p(N | c)``).

    Returns
    -------
    list of GeneratedMolecule
        ``atomic_numbers``, ``pos`` (Å, zero-centred, float64), ``charges``
        (decoded formal charges) and ``bonds=None``.
    """
    from molsym.generate.molecules import GeneratedMolecule

    from .export import split_samples

    if num < 1 or batch_size < 1:
        raise ValueError(f"num and batch_size must be positive, got {num} and {batch_size}")
    cond, sizes = _conditions_and_sizes(model, num, condition, num_atoms, generator)
    if sizes.shape != (num,):
        raise ValueError(f"num_atoms must hold {num} sizes, got shape {tuple(sizes.shape)}")
    device = next(model.parameters()).device
    molecules = []
    for start in range(0, num, batch_size):
        part = slice(start, start + batch_size)
        out = sample(model, sizes[part], steps=steps, method=method, eta=eta,
                     condition=None if cond is None else cond[part], generator=generator, device=device,
                     progress=progress)
        molecules += [GeneratedMolecule(atomic_numbers=z, pos=pos, charges=q) for z, pos, q in split_samples(out)]
    return molecules
