"""Equivariant diffusion generator of 3D molecules (EDM-style).

Data flow: molecules → :mod:`~molsym.diffusion.data` batches →
:class:`EquivariantDiffusion` (noise schedule, zero-centre Gaussian, EGNN
denoiser, losses) trained by :class:`DiffusionModule` → :func:`sample` →
:mod:`~molsym.diffusion.evaluation` (bonds, stability, RDKit metrics) and
:mod:`~molsym.diffusion.export` (SDF / extxyz / PNG).
"""
from .data import DiffusionDataModule, collate_molecules, molecules_from_frames, qm9_split
from .denoiser import EGNNDenoiser, fully_connected_edges
from .diffusion import EquivariantDiffusion
from .io import load_generator, save_generator
from .lightning import DiffusionModule
from .nodes import AtomCountDistribution
from .sampler import ancestral_step, ddim_step, sample, timestep_grid
from .schedule import NoiseSchedule, cosine_alpha2, polynomial_alpha2
from .subspace import remove_mean, sample_zero_com_gaussian, zero_com_gaussian_log_prob

__all__ = [
    "AtomCountDistribution",
    "DiffusionDataModule",
    "DiffusionModule",
    "collate_molecules",
    "load_generator",
    "molecules_from_frames",
    "qm9_split",
    "save_generator",
    "EGNNDenoiser",
    "EquivariantDiffusion",
    "NoiseSchedule",
    "ancestral_step",
    "cosine_alpha2",
    "ddim_step",
    "fully_connected_edges",
    "polynomial_alpha2",
    "remove_mean",
    "sample",
    "sample_zero_com_gaussian",
    "timestep_grid",
    "zero_com_gaussian_log_prob",
]
