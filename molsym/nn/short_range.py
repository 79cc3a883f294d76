"""Short-range physics of the force field, in units of the covalent-radius sum.

Distances are measured per pair against ``ρ_ij = R_cov,i + R_cov,j`` (ASE's
covalent radii), so one setting fits every element pair.

* **Core clamp** (:func:`clamp_core`): below ``core × ρ`` the learned network
  sees a length that flattens smoothly to a constant by ``(2/3) core × ρ``, so
  the network's energy stops changing as a pair is pushed together further
  and the ZBL prior alone makes the wall: strictly repulsive for every pair
  and any weights. Above ``core × ρ`` lengths are untouched; between the two
  they are warped one-to-one, so a pair there (a compressed triple bond) still
  has its own features. The shortest pairs of the BOTNet sets are at 0.80 ρ.
* **Bond switch** (:func:`bond_weights`, :func:`saturate`): an atom's
  coordination ``c_i = Σ_j w(r_ij / ρ_ij)`` counts its neighbours with a weight
  1 up to ``on × ρ`` falling smoothly to 0 at ``off × ρ`` (capped at the model
  cutoff). ``s_i = 1 − (1 − min(c_i, 1))³`` is exactly 1 while any neighbour is
  within ``on × ρ``, so it adds no force in a bound molecule; an atom pulled out
  of its molecule loses its binding energy between ``on`` and ``off``, within
  chemical distances, instead of at the cutoff.
"""
from __future__ import annotations

import torch
from ase.data import covalent_radii

__all__ = ["covalent_table", "clamp_core", "bond_weights", "saturate", "CORE_FLAT"]

#: the clamped length is constant below this fraction of ``core × ρ``
CORE_FLAT = 2.0 / 3.0


def covalent_table(species) -> torch.Tensor:
    """Covalent radii ``[S]`` in Å of the atomic numbers ``species`` (ASE's table)."""
    return torch.tensor([float(covalent_radii[int(z)]) for z in species])


def _smoothstep(t: torch.Tensor) -> torch.Tensor:
    """``6t⁵ − 15t⁴ + 10t³`` on ``t`` clamped to [0, 1]: 0 → 1, first and second derivatives 0 at both ends."""
    t = t.clamp(0.0, 1.0)
    return t * t * t * (t * (6.0 * t - 15.0) + 10.0)


def clamp_core(edge_len: torch.Tensor, pair_radius: torch.Tensor, core: float,
               flat: float = CORE_FLAT) -> torch.Tensor:
    """Lengths ``[E]`` the network sees: ``r`` above ``core × ρ``, constant below ``flat × core × ρ``.

    In between, the derivative ``dr'/dr`` rises from 0 to 1 as a quintic
    smoothstep, so ``r'`` is monotone and three times differentiable.
    ``pair_radius`` is ``ρ [E]`` in Å.
    """
    r_core = core * pair_radius
    x = edge_len / r_core
    t = ((x - flat) / (1.0 - flat)).clamp(0.0, 1.0)
    integral = t.pow(4) * (t * (t - 3.0) + 2.5)           # ∫₀ᵗ smoothstep
    inside = r_core * (1.0 - (1.0 - flat) * (0.5 - integral))
    return torch.where(x < 1.0, inside, edge_len)


def bond_weights(edge_len: torch.Tensor, pair_radius: torch.Tensor, on: float, off: float,
                 cutoff: float) -> torch.Tensor:
    """Bond weight ``[E]`` in [0, 1]: 1 below ``on × ρ``, 0 beyond ``off × ρ`` (capped at ``cutoff``)."""
    r_off = torch.clamp(off * pair_radius, max=cutoff)
    r_on = r_off * (on / off)
    return 1.0 - _smoothstep((edge_len - r_on) / (r_off - r_on))


def saturate(coordination: torch.Tensor) -> torch.Tensor:
    """``1 − (1 − min(c, 1))³``: 0 for an isolated atom, exactly 1 from one full neighbour on."""
    return 1.0 - (1.0 - coordination.clamp(max=1.0)).pow(3)
