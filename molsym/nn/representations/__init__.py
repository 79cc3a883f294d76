"""Representations: graph → invariant per-atom features, looked up by name.

``REGISTRY`` maps a name to its class; each module registers itself with
:func:`register_representation` when imported. The flagship ``ace`` module is
imported when present.
"""
import importlib
import importlib.util

from molsym.nn.representations.base import REGISTRY, get_representation, register_representation
from molsym.nn.representations import egnn as _egnn  # noqa: F401  (registers "egnn")
from molsym.nn.representations import painn as _painn  # noqa: F401  (registers "painn")

if importlib.util.find_spec("molsym.nn.representations.ace") is not None:
    importlib.import_module("molsym.nn.representations.ace")  # registers "ace"

__all__ = ["REGISTRY", "register_representation", "get_representation"]
