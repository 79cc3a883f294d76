"""Ziegler–Biersack–Littmark (ZBL) short-range repulsion, an optional prior.

For a pair of atoms with charges ``Z_i, Z_j`` at distance ``r`` (Å),

    E(r) = k Z_i Z_j / r · φ(r / a) · u(r),    a = 0.46850 / (Z_i^0.23 + Z_j^0.23) Å,

with the universal screening function ``φ``, ``k = e²/(4πε₀) = 14.399645 eV·Å``
and a smooth polynomial envelope ``u`` that brings the term to zero (value,
first and second derivative) at a pair cutoff of ``factor × (R_cov,i + R_cov,j)``
(ASE covalent radii), capped at the model cutoff. The prior keeps molecular
dynamics from collapsing atoms onto each other where no training data exists.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from molsym.nn.radial import polynomial_envelope
from molsym.nn.short_range import covalent_table

__all__ = ["ZBLRepulsion", "COULOMB_EV_ANGSTROM"]

#: e²/(4πε₀) in eV·Å.
COULOMB_EV_ANGSTROM = 14.399645
#: Universal ZBL screening length prefactor in Å (0.8854 Bohr).
ZBL_SCREENING_ANGSTROM = 0.46850
_PHI_C = (0.18175, 0.50986, 0.28022, 0.02817)
_PHI_D = (3.19980, 0.94229, 0.40290, 0.20162)


class ZBLRepulsion(nn.Module):
    """Per-atom ZBL energy ``[N]`` in eV (half of each pair term goes to each atom).

    Parameters
    ----------
    species : list of int
        Atomic numbers, in the model's species order.
    cutoff : float
        Upper bound on the pair cutoff (the model cutoff), Å.
    factor : float, default 1.0
        Pair cutoff = ``factor × (R_cov,i + R_cov,j)``.
    p : int, default 6
        Order of the envelope.
    """

    def __init__(self, species, cutoff: float, factor: float = 1.0, p: int = 6):
        super().__init__()
        self.register_buffer("z", torch.as_tensor(list(species)))
        self.register_buffer("r_cov", covalent_table(species))
        self.register_buffer("phi_c", torch.tensor(_PHI_C))
        self.register_buffer("phi_d", torch.tensor(_PHI_D))
        self.cutoff = float(cutoff)
        self.factor = float(factor)
        self.p = int(p)
        self.screening = ZBL_SCREENING_ANGSTROM  # attributes, not globals: TorchScript-compatible
        self.coulomb = COULOMB_EV_ANGSTROM

    def forward(self, species: torch.Tensor, edge_index: torch.Tensor, edge_len: torch.Tensor,
                pair_radius: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``species [N]`` (indices), ``edge_index [2, E]``, ``edge_len [E]`` Å → ``[N]`` eV.

        ``pair_radius [E]``: the covalent-radius sum of each edge (Å), when the caller has it already.
        """
        send, recv = edge_index[0], edge_index[1]
        if pair_radius is None:
            pair_radius = self.r_cov[species[send]] + self.r_cov[species[recv]]
        zi, zj = self.z[species[send]], self.z[species[recv]]
        a = self.screening / (zi.pow(0.23) + zj.pow(0.23))
        x = (edge_len / a).unsqueeze(-1)
        phi = (self.phi_c * torch.exp(-self.phi_d * x)).sum(-1)
        r_max = torch.clamp(self.factor * pair_radius, max=self.cutoff)
        u = polynomial_envelope(edge_len / r_max, self.p)
        pair = self.coulomb * zi * zj / edge_len * phi * u
        return edge_len.new_zeros(species.shape[0]).index_add_(0, recv, 0.5 * pair)
