"""The representation contract and the registry that maps names to classes.

A *representation* turns a graph into invariant per-atom features. Every
representation class

* is constructed as ``cls(num_species, cutoff, avg_num_neighbors=10.0, **hyperparameters)``;
* has an attribute ``out_features`` (width of its output);
* implements ``forward(species, edge_index, edge_vec, edge_len, batch)``:

  ==============  ==========  =====================================================
  argument        shape       meaning
  ==============  ==========  =====================================================
  ``species``     [N] int64   species index 0..num_species-1 (not Z)
  ``edge_index``  [2, E]      (sender, receiver)
  ``edge_vec``    [E, 3] Å    ``pos[receiver] - pos[sender] + shift @ cell``
  ``edge_len``    [E] Å       ``|edge_vec|``
  ``batch``       [N] int64   graph index of every atom
  returns         [N, F]      invariant per-atom features, ``F = out_features``
  ==============  ==========  =====================================================

  It must accept graphs with no edges (isolated atoms) and must not mix atoms
  of different graphs except through edges.

A class may set ``test_hyperparameters`` (a dict) to the tiny sizes the
physics test suite (``tests/nn/test_physics.py``) should build it with.

Register a class with :func:`register_representation`; models are then built
by name (``{"representation": {"name": "painn", ...}}``) without any if/elif.
"""
from __future__ import annotations

import importlib
from typing import Callable, Dict, Type

from torch import nn

__all__ = ["REGISTRY", "register_representation", "get_representation"]

#: name → representation class.
REGISTRY: Dict[str, Type[nn.Module]] = {}


def register_representation(name: str) -> Callable[[Type[nn.Module]], Type[nn.Module]]:
    """Class decorator: make ``cls`` buildable as ``{"name": name}``.

    Examples
    --------
    >>> @register_representation("my_rep")          # doctest: +SKIP
    ... class MyRep(torch.nn.Module): ...
    """

    def decorator(cls: Type[nn.Module]) -> Type[nn.Module]:
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"representation {name!r} is already registered to {REGISTRY[name].__qualname__}")
        REGISTRY[name] = cls
        cls.registry_name = name
        return cls

    return decorator


#: names registered by modules outside :mod:`molsym.nn`, imported on first lookup so that a
#: config or an exported model naming them works in a fresh process (``molsym train``,
#: ``MolSymCalculator``) without importing those modules by hand.
PROVIDERS: Dict[str, str] = {name: "molsym.symmetry.representations" for name in ("raw", "directional", "canonical")}


def get_representation(name: str) -> Type[nn.Module]:
    """Look up a registered representation class; unknown names list the known ones."""
    if name not in REGISTRY and name in PROVIDERS:
        importlib.import_module(PROVIDERS[name])
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown representation {name!r}; registered: {sorted(REGISTRY)}") from None
