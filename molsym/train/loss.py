"""Losses declared as data: a list of (key, loss function, weight) terms.

A config writes::

    loss:
      - {key: energy, fn: mse, weight: 1.0, per_atom: true}
      - {key: forces, fn: mse, weight: 100.0}

and :class:`WeightedLoss` turns that into ``sum_k weight_k * fn_k(pred, target)``.
Every function in :data:`LOSS_FUNCTIONS` takes ``(pred, target)`` in that
order, like every loss in molsym.

Energies in eV, forces in eV/Å, stress in eV/Å³; the loss has the matching
squared (or absolute) units per term.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Sequence, Tuple

import torch
import torch.nn.functional as F

from molsym.data import keys as K

__all__ = ["LOSS_FUNCTIONS", "LossTerm", "WeightedLoss", "loss_from_config"]

#: name → function(pred, target, **options) returning a scalar mean loss.
LOSS_FUNCTIONS: Dict[str, Callable[..., torch.Tensor]] = {
    "mse": lambda pred, target: F.mse_loss(pred, target),
    "mae": lambda pred, target: F.l1_loss(pred, target),
    "huber": lambda pred, target, delta=0.01: F.huber_loss(pred, target, delta=delta),
}

#: Keys a loss term may target (model outputs that have a label).
SUPPORTED_KEYS = (K.ENERGY, K.FORCES, K.STRESS)


@dataclass
class LossTerm:
    """One declared term of the loss.

    Parameters
    ----------
    key : str
        ``energy`` [B] eV, ``forces`` [N, 3] eV/Å or ``stress`` [B, 3, 3] eV/Å³.
    fn : str
        Name in :data:`LOSS_FUNCTIONS` (``mse``, ``mae``, ``huber``).
    weight : float
        Multiplier of this term in the total loss.
    per_atom : bool
        For ``energy`` only: compare energies divided by the number of atoms.
    options : dict
        Extra keyword arguments of the function (e.g. ``{"delta": 0.01}``).
    """

    key: str
    fn: str = "mse"
    weight: float = 1.0
    per_atom: bool = False
    options: Dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.key not in SUPPORTED_KEYS:
            raise ValueError(f"loss key {self.key!r} is not one of {SUPPORTED_KEYS}")
        if self.fn not in LOSS_FUNCTIONS:
            raise ValueError(f"loss function {self.fn!r} is not one of {sorted(LOSS_FUNCTIONS)}")
        if self.per_atom and self.key != K.ENERGY:
            raise ValueError(f"per_atom normalisation applies to energy only, not {self.key!r}")
        self.weight = float(self.weight)

    @property
    def name(self) -> str:
        """Name used when logging (``energy_per_atom``, ``forces``, ...)."""
        return f"{self.key}_per_atom" if self.per_atom else self.key

    def __call__(self, pred: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Unweighted loss of this term for one batch (a scalar)."""
        if self.key not in pred:
            raise KeyError(f"the model did not return {self.key!r}, which the loss needs")
        if self.key not in target:
            raise KeyError(f"the batch carries no {self.key!r} labels, which the loss needs")
        p, t = pred[self.key], target[self.key]
        if self.per_atom:
            n = target[K.NUM_ATOMS].to(p.dtype)
            p, t = p / n, t / n
        return LOSS_FUNCTIONS[self.fn](p, t, **self.options)


class WeightedLoss:
    """The total loss: a weighted sum of declared :class:`LossTerm` s.

    Example
    -------
    >>> import torch
    >>> loss = WeightedLoss([LossTerm("energy", "mse", 2.0)])
    >>> total, parts = loss({"energy": torch.tensor([1.0])}, {"energy": torch.tensor([0.0])})
    >>> float(total), float(parts["energy"])
    (2.0, 1.0)
    """

    def __init__(self, terms: Sequence[LossTerm]):
        if not terms:
            raise ValueError("a loss needs at least one term")
        names = [t.name for t in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate loss terms: {names}")
        self.terms: List[LossTerm] = list(terms)

    @property
    def keys(self) -> List[str]:
        """The output keys the model must produce."""
        return [t.key for t in self.terms]

    def __call__(self, pred: Mapping[str, torch.Tensor],
                 target: Mapping[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Return ``(total, {term name: unweighted value})``."""
        parts = {t.name: t(pred, target) for t in self.terms}
        total = sum(t.weight * parts[t.name] for t in self.terms)
        return total, parts


def loss_from_config(spec: Sequence[Mapping]) -> WeightedLoss:
    """Build a :class:`WeightedLoss` from the config's ``loss`` list."""
    if not isinstance(spec, (list, tuple)):
        raise ValueError("config 'loss' must be a list of {key, fn, weight} terms")
    return WeightedLoss([LossTerm(**dict(term)) for term in spec])
