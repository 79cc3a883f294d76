"""Representations of the symmetry study, registered with the model registry.

``raw``
    :class:`~molsym.symmetry.baselines.RawCartesianMPNN`: NOT rotation
    invariant (``equivariant = False``); use it with data augmentation.
``directional``
    :class:`~molsym.symmetry.baselines.DirectionalMPNN` on raw edge vectors: the
    stronger non-equivariant network (Cartesian density projections and their
    products), NOT rotation invariant either.
``canonical``
    one of them (``network="mlp"``, the default, or ``"directional"``) behind a
    canonicalizer (``frame="pca"`` with ``signs="average"`` or ``"skew"``, or
    ``frame="learned"``): O(3)-invariant.

Importing :mod:`molsym.symmetry` registers all three, so configs can name them.
"""
from __future__ import annotations

from molsym.nn.representations import register_representation
from molsym.symmetry.baselines import DirectionalMPNN, RawCartesianMPNN
from molsym.symmetry.canonical import Canonicalized


@register_representation("raw")
class RawRepresentation(RawCartesianMPNN):
    """The non-equivariant baseline (see module docstring)."""

    equivariant = False


@register_representation("directional")
class DirectionalRepresentation(DirectionalMPNN):
    """The stronger non-equivariant network on raw coordinates (see module docstring)."""

    equivariant = False


#: ``network`` name of the canonical representation -> the wrapped network
NETWORKS = {"mlp": RawCartesianMPNN, "directional": DirectionalMPNN}


@register_representation("canonical")
class CanonicalRepresentation(Canonicalized):
    """A non-equivariant network (``network``: "mlp" or "directional") in a canonical
    frame: ``frame="pca"`` or ``"learned"``."""

    equivariant = True

    def __init__(self, num_species: int, cutoff: float, avg_num_neighbors: float = 10.0,
                 frame: str = "pca", signs: str = "average", hidden: int = 64, num_layers: int = 2,
                 num_radial: int = 8, network: str = "mlp"):
        if network not in NETWORKS:
            raise ValueError(f"unknown network {network!r}; use one of {sorted(NETWORKS)}")
        inner = NETWORKS[network](num_species, cutoff, avg_num_neighbors, hidden, num_layers, num_radial)
        super().__init__(inner, frame=frame, num_species=num_species, cutoff=cutoff, signs=signs)
