"""Any ASE calculator named on the command line as ``MODULE:FACTORY`` (``molsym check --calculator``,
``molsym learn --labeller``)."""
from __future__ import annotations

import importlib
from typing import Callable

__all__ = ["calculator_factory"]


def calculator_factory(spec: str) -> Callable[[], object]:
    """Import ``module:factory`` and return the factory, checked by building one calculator with it.

    Raises ``ValueError`` with the reason (the caller names the flag and the
    spec): not ``MODULE:FACTORY``, not importable, not callable, not callable
    without arguments, or not returning an ASE calculator.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError("must look like MODULE:FACTORY")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import it ({err})") from None
    if not callable(factory):
        raise ValueError(f"{attr} is not a class or function")
    try:
        calc = factory()
    except TypeError as err:  # e.g. a factory that needs arguments
        raise ValueError(f"cannot build it with no arguments ({err})") from None
    if not hasattr(calc, "get_potential_energy"):
        raise ValueError(f"did not return an ASE calculator (got {type(calc).__name__})")
    return factory
