"""Reusable building blocks of molsym's networks."""
from molsym.nn.layers.egnn import EGNNLayer

__all__ = ["EGNNLayer"]
