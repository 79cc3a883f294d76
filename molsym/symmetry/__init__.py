"""Symmetry tools: sample group elements, audit any model or ASE calculator,
canonicalize non-equivariant networks, and augment data.

>>> from molsym.symmetry import audit, calculator_function
"""
from molsym.symmetry.audit import AuditReport, assert_symmetric, audit, calculator_function
from molsym.symmetry.augment import RandomO3Augmentation, rotate_graph
from molsym.symmetry.canonical import Canonicalized, LearnedFrame, pca_frames
from molsym.symmetry.group import random_permutation, random_rotation, random_translation
from molsym.symmetry import laws
from molsym.symmetry import representations as _representations  # noqa: F401  (registers raw, canonical)

__all__ = [
    "AuditReport", "assert_symmetric", "audit", "calculator_function",
    "RandomO3Augmentation", "rotate_graph", "Canonicalized", "LearnedFrame", "pca_frames",
    "random_permutation", "random_rotation", "random_translation", "laws",
]
