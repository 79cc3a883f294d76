"""Force fields: representations, energy heads, priors and the autograd wrapper.

>>> from molsym.nn import build_model
>>> model = build_model({"representation": {"name": "egnn", "hidden": 8, "num_layers": 1},
...                      "species": [1, 6, 8], "cutoff": 5.0, "dtype": "float64"})
>>> model.species
[1, 6, 8]
"""
from molsym.nn.grad import edge_vectors, energy_and_gradients
from molsym.nn.io import ModelFileError, load_model, save_model
from molsym.nn.layers import EGNNLayer
from molsym.nn.model import ForceField, UnknownSpeciesError, build_model
from molsym.nn.radial import BesselBasis, PolynomialCutoff, RadialEmbedding
from molsym.nn.representations import REGISTRY, get_representation, register_representation
from molsym.nn.zbl import ZBLRepulsion

__all__ = [
    "BesselBasis", "EGNNLayer", "ForceField", "ModelFileError", "PolynomialCutoff", "REGISTRY",
    "RadialEmbedding", "UnknownSpeciesError", "ZBLRepulsion", "build_model", "edge_vectors",
    "energy_and_gradients", "get_representation", "load_model", "register_representation", "save_model",
]
