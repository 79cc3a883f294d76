"""Fine-tuning: a force-field run that starts from the weights of a model file.

A config with ``init: {model: PATH, refit: false}`` (``molsym train
--init PATH``) builds its model as usual, checks that the file's model has
the same architecture, then starts from the file's weights. It is a new
run, not a resume: the optimizer, the learning-rate schedule, the EMA and
the epoch counter start afresh.

What must agree, what is taken from the file
--------------------------------------------
* **Checked** (:data:`ARCHITECTURE_KEYS` and the representation's
  hyper-parameters, class defaults filled in): the cutoff, the energy head,
  the ZBL prior and every representation argument; and the species (as a
  set: the run uses the file's order, which the weights index). A mismatch
  is one :class:`~molsym.train.config.ConfigError` line naming the file and
  the key.
* **From the file**: ``avg_num_neighbors`` (the weights were trained with
  that normalisation) and, unless ``refit: true``, the E0s, scale and shift
  (:data:`STATISTICS_KEYS`). With ``refit: true`` these three come from the
  config as in any run (``auto``: the new training data's statistics;
  ``shift: auto`` is fitted with the file's weights in place).
* **From the config**: everything else, including ``dtype``.

Example
-------
>>> cfg = load_config("configs/acac.yaml", settings={"init.model": "acac.pt"})  # doctest: +SKIP
>>> train(cfg)  # doctest: +SKIP
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping, Tuple

import torch
from ase.data import chemical_symbols

from molsym.train.config import ConfigError

__all__ = ["read_init_model", "init_model_config", "load_initial_weights", "ARCHITECTURE_KEYS",
           "STATISTICS_KEYS", "INIT_KEYS"]

#: keys of a config's ``init`` section
INIT_KEYS = ("model", "refit")
#: model keys besides the representation that must agree for the weights to mean the same thing
ARCHITECTURE_KEYS = ("cutoff", "head_hidden", "zbl", "zbl_factor")
#: model keys kept from the file unless ``init.refit`` is true
STATISTICS_KEYS = ("e0s", "scale", "shift")

_FIXED_REPRESENTATION_ARGS = ("num_species", "cutoff", "avg_num_neighbors")


def read_init_model(path) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """The ``build_model`` config and the weights of the force field in ``path``.

    ``path`` is a model file (``molsym export``) or a training checkpoint
    (its EMA weights), read by :func:`molsym.calculator.loading.load_force_field`.
    Any file that cannot be loaded, a TorchScript export or a committee file
    raises a one-line :class:`ConfigError` naming it.
    """
    from molsym.calculator.loading import load_force_field
    from molsym.nn.io import ModelFileError

    try:
        model = load_force_field(path)
    except ModelFileError as err:
        raise ConfigError(f"init.model: {err}") from None
    if not hasattr(model, "to_config"):
        raise ConfigError(f"init.model: {path}: a TorchScript export cannot be fine-tuned; start from the "
                          "model file (molsym export CKPT) or the checkpoint it was exported from")
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return model.to_config(), state


def _species_names(zs) -> str:
    return "[" + ", ".join(chemical_symbols[int(z)] for z in zs) + "]"


def _representation_arguments(rep: Mapping[str, Any]) -> Dict[str, Any]:
    """The representation's name and every hyper-parameter, its class's defaults filled in."""
    from molsym.nn.representations import get_representation

    args = {k: v for k, v in rep.items() if k != "name"}
    try:
        params = inspect.signature(get_representation(rep["name"])).parameters.values()
    except (KeyError, TypeError, ValueError):
        return dict(rep)
    for p in params:
        if p.name not in _FIXED_REPRESENTATION_ARGS and p.default is not inspect.Parameter.empty:
            args.setdefault(p.name, p.default)
    return {"name": rep["name"], **args}


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) > 1e-9 * max(1.0, abs(float(a)))
    return a != b


def init_model_config(model_cfg: Dict[str, Any], file_cfg: Mapping[str, Any], path,
                      refit: bool = False) -> Dict[str, Any]:
    """The model config of a run that starts from the file ``path`` (see the module docstring).

    Parameters
    ----------
    model_cfg : dict
        The run's model config, ``auto`` already filled
        (:func:`molsym.train.run.fill_model_config`).
    file_cfg : dict
        The file's ``build_model`` config (:func:`read_init_model`).
    path : path
        The file, for the messages.
    refit : bool
        Take the E0s, scale and shift from ``model_cfg`` instead of the file.

    Raises
    ------
    ConfigError
        One line naming the file and the first key whose value differs.
    """
    from molsym.nn.model import DEFAULT_CONFIG

    ours, theirs = sorted(int(z) for z in model_cfg["species"]), sorted(int(z) for z in file_cfg["species"])
    if ours != theirs:
        raise ConfigError(f"init.model: {path} was trained on the species {_species_names(theirs)}, this run's "
                          f"model has {_species_names(ours)} (model.species, or the training data's "
                          "elements): the weights only fit the species they were trained on")
    for key in ARCHITECTURE_KEYS:
        mine, stored = model_cfg.get(key, DEFAULT_CONFIG[key]), file_cfg.get(key, DEFAULT_CONFIG[key])
        if _differs(mine, stored):
            unit = " Å" if key == "cutoff" else ""
            raise ConfigError(f"init.model: {path} has model.{key} = {stored}{unit}, this config {mine}{unit}: "
                              "the weights only fit the architecture they were trained with")
    mine, stored = _representation_arguments(model_cfg["representation"]), \
        _representation_arguments(file_cfg["representation"])
    for key in dict.fromkeys(list(stored) + list(mine)):
        if _differs(mine.get(key), stored.get(key)):
            raise ConfigError(f"init.model: {path} has model.representation.{key} = {stored.get(key)!r}, this "
                              f"config {mine.get(key)!r}: the weights only fit the architecture they were "
                              "trained with")
    out = dict(model_cfg)
    out["representation"] = dict(file_cfg["representation"])
    out["species"] = [int(z) for z in file_cfg["species"]]
    out["avg_num_neighbors"] = float(file_cfg["avg_num_neighbors"])
    if not refit:
        for key in STATISTICS_KEYS:
            out[key] = file_cfg[key]
    return out


def load_initial_weights(module, state: Mapping[str, torch.Tensor], path) -> None:
    """Put ``state`` into a :class:`~molsym.train.module.ForceFieldModule`'s model and its EMA copy.

    The EMA's update count stays 0, so its first update copies the trained
    weights (:class:`torch.optim.swa_utils.AveragedModel`). Weights that do not
    fit raise a one-line :class:`ConfigError` naming ``path``.
    """
    targets = [module.model] + ([module.ema.module] if module.ema is not None else [])
    for target in targets:
        try:
            target.load_state_dict(state)
        except RuntimeError as err:
            raise ConfigError(f"init.model: {path}: its weights do not fit this config's model: "
                              f"{' '.join(str(err).split())}") from None
