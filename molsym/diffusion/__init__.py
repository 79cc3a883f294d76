"""Equivariant diffusion generator of 3D molecules (EDM-style).

Data flow: molecules → :class:`DiffusionDataModule` batches →
:class:`EquivariantDiffusion` (noise schedule, zero-centre Gaussian, EGNN
denoiser, losses), trained by ``molsym train --config configs/qm9_edm.yaml``
(:class:`molsym.train.generator_module.GeneratorModule`) → :func:`sample` /
:meth:`EquivariantDiffusion.sample_molecules` →
:mod:`~molsym.diffusion.evaluation` (bonds, stability, RDKit metrics) and
:mod:`molsym.generate.export` (SDF / extxyz / PNG). Generator files are
written and read by :mod:`molsym.generate.io`.
"""
from .data import DiffusionDataModule, collate_molecules, molecules_from_frames, qm9_split
from .denoiser import EGNNDenoiser, fully_connected_edges
from .diffusion import EquivariantDiffusion
from .nodes import AtomCountDistribution
from .sampler import ancestral_step, ddim_step, sample, sample_molecules, timestep_grid
from .schedule import NoiseSchedule, cosine_alpha2, polynomial_alpha2
from .subspace import remove_mean, sample_zero_com_gaussian, zero_com_gaussian_log_prob

__all__ = [
    "AtomCountDistribution",
    "DiffusionDataModule",
    "collate_molecules",
    "molecules_from_frames",
    "qm9_split",
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
    "sample_molecules",
    "sample_zero_com_gaussian",
    "timestep_grid",
    "zero_com_gaussian_log_prob",
]
