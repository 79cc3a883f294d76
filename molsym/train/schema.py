"""Check a training config before anything is built: unknown keys, wrong types, missing sections.

Every key of a config must mean something: a misspelled key (``ema_decy``,
``schedular``, an override ``lerning_rate=0.001``) would otherwise be
ignored and the run would train with the defaults. :func:`check_config`
walks the raw config (before ``${...}`` references are resolved) and raises
:class:`~molsym.train.config.ConfigError` with one line naming the key, the
closest valid key, or the value and the type that was expected.

What is known where
-------------------
* the top level: the sections of the task (force field or generator, see
  :func:`molsym.train.run.is_generator_config`) plus any key that a
  ``${...}`` reference elsewhere in the config uses (a shared value);
* a ``class_path``/``init_args`` spec: the keyword arguments of the class
  (unless it takes ``**kwargs``); a class may list dict-valued arguments
  that are themselves keyword arguments of another callable in a
  ``config_sections`` class attribute (``{"network": FlowNetwork}``), which
  are checked the same way;
* ``trainer``: :class:`lightning.pytorch.Trainer`'s arguments; ``model`` of
  a force field: :data:`molsym.nn.model.DEFAULT_CONFIG` and the
  representation's arguments; ``loss`` terms: :class:`molsym.train.loss.LossTerm`.

Types are checked where a parameter's annotation (or, without one, its
default) says int, float, bool or str; anything richer is left to the class.

Example
-------
>>> check_config({"data": {"class_path": "torch.nn.Identity"}, "modle": {}})
Traceback (most recent call last):
...
molsym.train.config.ConfigError: unknown config key 'modle' (did you mean 'model'?)
"""
from __future__ import annotations

import dataclasses
import difflib
import inspect
import types
import typing
from typing import Any, Callable, Dict, Iterable, Optional, Sequence, Set

from molsym.train.config import ConfigError, import_object

__all__ = ["check_config", "FORCE_FIELD_KEYS", "GENERATOR_KEYS"]

_COMMON = {"seed", "dtype", "output_dir", "data", "model", "optimizer", "scheduler", "ema_decay", "ema_warmup",
           "checkpoint", "trainer", "callbacks", "config_file"}
#: top-level sections of a force-field config (``init``: fine-tuning, :mod:`molsym.train.finetune`;
#: ``committee``: :mod:`molsym.train.committee`)
FORCE_FIELD_KEYS = _COMMON | {"cutoff", "loss", "init", "committee"}
#: top-level sections of a generator config (``model`` is a class_path spec)
GENERATOR_KEYS = _COMMON | {"generator"}
_REQUIRED = {"data": "the data module (class_path/init_args, as in configs/acac.yaml)",
             "model": "the model", "optimizer": "the optimizer (class_path/init_args)"}
_TOP_TYPES = {"seed": (int,), "ema_decay": (float, int), "ema_warmup": (bool,), "output_dir": (str,),
              "dtype": (str,), "cutoff": (float, int)}
_CHECKPOINT_KEYS = {"monitor", "every_n_train_steps"}
_SCHEDULER_EXTRA = {"monitor", "interval"}
_SIMPLE = (bool, int, float, str)
_UNIONS = (typing.Union, types.UnionType)
_TYPE_NAMES = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string"}


def check_config(cfg: Dict[str, Any], overrides: Sequence[str] = ()) -> None:
    """Raise :class:`ConfigError` for the first unknown key, wrong type or missing section of ``cfg``.

    Parameters
    ----------
    cfg : dict
        The config as read from YAML, overrides applied, ``${...}`` not yet
        resolved (references tell which extra top-level keys are shared values).
    overrides : sequence of str
        The ``key=value`` overrides that were applied, so that a bad key set
        by one is reported as such.
    """
    checker = _Checker(cfg, [o.split("=", 1)[0].strip() for o in overrides])
    checker.run()


class _Checker:
    def __init__(self, cfg: Dict[str, Any], override_keys: Sequence[str]):
        self.cfg = cfg
        self.override_keys = set(override_keys)
        self.referenced = _referenced_names(cfg)

    # -- messages ---------------------------------------------------------------------------------------------
    def _origin(self, where: str) -> str:
        return " (set by an override)" if where in self.override_keys else ""

    def unknown(self, where: str, key: str, valid: Iterable[str]) -> ConfigError:
        full = f"{where}.{key}" if where else key
        close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known keys: {', '.join(sorted(valid))}"
        return ConfigError(f"unknown config key {full!r}{self._origin(full)}{hint}")

    def wrong_type(self, where: str, value: Any, expected: Sequence[type]) -> ConfigError:
        shown = [t for t in expected if not (t is int and float in expected)]  # a number covers integers
        names = " or ".join(dict.fromkeys(_TYPE_NAMES[t] for t in shown))
        return ConfigError(f"config key {where!r}{self._origin(where)}: {value!r} is not {names}")

    # -- walk -------------------------------------------------------------------------------------------------
    def run(self) -> None:
        cfg = self.cfg
        generator = isinstance(cfg.get("model"), dict) and "class_path" in cfg["model"]
        known = GENERATOR_KEYS if generator else FORCE_FIELD_KEYS
        for key in cfg:
            if key not in known and key not in self.referenced:
                raise self.unknown("", key, known)
        for key, what in dict(_REQUIRED, **({} if generator else {"loss": "the loss terms"})).items():
            if cfg.get(key) is None:
                raise ConfigError(f"the config has no {key!r} section ({what})")
        for key, types in _TOP_TYPES.items():
            if cfg.get(key) is not None:
                self.value(key, cfg[key], types)
        if isinstance(cfg.get("dtype"), str) and not _is_ref(cfg["dtype"]) \
                and cfg["dtype"] not in ("float32", "float64"):
            raise ConfigError(f"config key 'dtype': {cfg['dtype']!r} is not float32 or float64")
        self.spec("data", cfg["data"])
        if generator:
            self.spec("model", cfg["model"])
            self.mapping("generator", cfg.get("generator"), _generator_options())
        else:
            self.force_field_model(cfg["model"])
            self.loss(cfg["loss"])
            self.init(cfg.get("init"))
            self.committee(cfg)
        self.spec("optimizer", cfg["optimizer"], skip=1)
        if cfg.get("scheduler") is not None:
            self.spec("scheduler", cfg["scheduler"], extra=_SCHEDULER_EXTRA, skip=1)
        self.mapping("checkpoint", cfg.get("checkpoint"), _CHECKPOINT_KEYS)
        if cfg.get("trainer") is not None:
            import lightning.pytorch as pl

            self.arguments("trainer", cfg["trainer"], pl.Trainer)
        callbacks = cfg.get("callbacks") or []
        if not isinstance(callbacks, list):
            raise ConfigError("config key 'callbacks' must be a list of class_path/init_args mappings")
        for i, spec in enumerate(callbacks):
            self.spec(f"callbacks.{i}", spec)

    def value(self, where: str, value: Any, expected: Sequence[type]) -> None:
        if value is None or _is_ref(value):
            return
        if isinstance(value, bool):
            ok = bool in expected
        else:
            ok = isinstance(value, tuple(t for t in expected if t is not bool)) \
                or (float in expected and isinstance(value, int))
        if not ok:
            raise self.wrong_type(where, value, expected)

    def mapping(self, where: str, node: Any, valid: Set[str]) -> None:
        if node is None:
            return
        if not isinstance(node, dict):
            raise ConfigError(f"config key {where!r} must be a mapping, got {node!r}")
        for key in node:
            if key not in valid:
                raise self.unknown(where, key, valid)

    def spec(self, where: str, spec: Any, extra: Set[str] = frozenset(), skip: int = 0) -> Optional[Callable]:
        """A class_path/init_args mapping; returns the class."""
        if not isinstance(spec, dict) or "class_path" not in spec:
            raise ConfigError(f"config key {where!r} must be a mapping with 'class_path' and 'init_args', "
                              f"got {spec!r}")
        self.mapping(where, spec, {"class_path", "init_args"} | set(extra))
        try:
            cls = import_object(spec["class_path"])
        except ConfigError as err:
            raise ConfigError(f"config key '{where}.class_path': {err}") from None
        args = spec.get("init_args") or {}
        if not isinstance(args, dict):
            raise ConfigError(f"config key '{where}.init_args' must be a mapping, got {args!r}")
        self.arguments(f"{where}.init_args", args, cls, skip=skip)
        return cls

    def arguments(self, where: str, args: Any, fn: Callable, skip: int = 0, fixed: Iterable[str] = ()) -> None:
        """Keyword arguments ``args`` of ``fn``: known names and simple types (``skip`` leading positionals and
        the ``fixed`` names are supplied by molsym, not the config)."""
        if not isinstance(args, dict):
            raise ConfigError(f"config key {where!r} must be a mapping, got {args!r}")
        params = _parameters(fn, skip, fixed)
        if params is None:  # no signature to check against
            return
        named, open_kwargs = params
        hints = _hints(fn, named.values())
        for key, value in args.items():
            if key not in named:
                if open_kwargs:
                    continue
                raise self.unknown(where, key, named)
            expected = _expected(named[key], hints.get(key))
            if isinstance(expected, _NotText):
                if isinstance(value, str) and not _is_ref(value):
                    raise self.wrong_type(f"{where}.{key}", value, expected)
            elif expected:
                self.value(f"{where}.{key}", value, expected)
        sections = getattr(fn, "config_sections", {}) if inspect.isclass(fn) else {}
        for key, target in sections.items():
            if isinstance(args.get(key), dict):
                target_fn, target_skip, target_fixed = (tuple(target) + (0, ())[len(target) - 1:])[:3] \
                    if isinstance(target, tuple) else (target, 0, ())
                self.arguments(f"{where}.{key}", args[key], target_fn, skip=target_skip, fixed=target_fixed)

    def force_field_model(self, model: Any) -> None:
        from molsym.nn.model import DEFAULT_CONFIG
        from molsym.nn.representations.base import get_representation
        from molsym.train.run import AUTO_KEYS

        valid = set(DEFAULT_CONFIG) | {"representation", "species"}
        self.mapping("model", model, valid)
        if "representation" not in model:  # species, E0s, neighbour count default to auto
            raise ConfigError("config key 'model.representation' is missing")
        for key, default in DEFAULT_CONFIG.items():
            value = model.get(key)
            if key in AUTO_KEYS and value == "auto":
                continue
            if isinstance(default, _SIMPLE) and key != "dtype":
                self.value(f"model.{key}", value, (float, int) if isinstance(default, float) else (type(default),))
        switch = model.get("bond_switch")
        if switch is not None and not _is_ref(switch) and not (
                isinstance(switch, list) and len(switch) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in switch)
                and 0 < switch[0] < switch[1]):
            raise ConfigError(f"config key 'model.bond_switch' must be [on, off] with 0 < on < off (covalent-radius "
                              f"sums) or null, got {switch!r}")
        rep = model["representation"]
        if not isinstance(rep, dict) or "name" not in rep:
            raise ConfigError("config key 'model.representation' must be a mapping with a 'name'")
        try:
            cls = get_representation(rep["name"])
        except KeyError as err:
            raise ConfigError(f"config key 'model.representation.name': {err.args[0]}") from None
        args = {k: v for k, v in rep.items() if k != "name"}
        self.arguments("model.representation", args, cls, fixed=("num_species", "cutoff", "avg_num_neighbors"))

    def init(self, node: Any) -> None:
        """``init: {model: PATH, refit: false}`` (fine-tuning)."""
        from molsym.train.finetune import INIT_KEYS

        if node is None:
            return
        self.mapping("init", node, set(INIT_KEYS))
        if node.get("model") is None:
            raise ConfigError("config key 'init.model' is missing: the model file (or checkpoint) to start from")
        self.value("init.model", node["model"], (str,))
        self.value("init.refit", node.get("refit"), (bool,))

    def committee(self, cfg: Dict[str, Any]) -> None:
        """``committee: {size: K, seeds: [...], bootstrap: false, same_order: false}``; the seeds are worked
        out (:func:`molsym.train.committee.member_seeds`) when no value is a ``${...}`` reference."""
        from molsym.train.committee import COMMITTEE_KEYS, member_seeds

        node = cfg.get("committee")
        if node is None:
            return
        self.mapping("committee", node, set(COMMITTEE_KEYS))
        self.value("committee.size", node.get("size"), (int,))
        seeds = node.get("seeds")
        if seeds is not None and not _is_ref(seeds):
            if not isinstance(seeds, list):
                raise ConfigError(f"config key 'committee.seeds' must be a list of integers, got {seeds!r}")
            for i, seed in enumerate(seeds):
                self.value(f"committee.seeds.{i}", seed, (int,))
        for key in ("bootstrap", "same_order"):
            self.value(f"committee.{key}", node.get(key), (bool,))
        if not _referenced_names({"committee": node, "seed": cfg.get("seed"), "init": cfg.get("init")}):
            member_seeds(cfg)

    def loss(self, terms: Any) -> None:
        from molsym.train.loss import LossTerm

        if not isinstance(terms, list) or not terms:
            raise ConfigError("config key 'loss' must be a non-empty list of terms such as "
                              "{key: forces, fn: mse, weight: 100.0}")
        for i, term in enumerate(terms):
            self.arguments(f"loss.{i}", term, LossTerm)


def _generator_options() -> Set[str]:
    from molsym.train.generator_module import GeneratorModule

    set_by_molsym = {"model", "optimizer", "scheduler", "ema_decay", "ema_warmup", "seed", "dtype"}
    return set(inspect.signature(GeneratorModule).parameters) - set_by_molsym


def _parameters(fn: Callable, skip: int, fixed: Iterable[str]):
    """(name → Parameter of the keyword arguments the config may give, takes ``**kwargs``) or None."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    open_kwargs = any(p.kind is p.VAR_KEYWORD for p in params)
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    named = named[skip:] if skip else named
    return {p.name: p for p in named if p.name not in set(fixed)}, open_kwargs


def _hints(fn: Callable, params: Iterable[inspect.Parameter]) -> Dict[str, Any]:
    """Evaluated annotations of ``params``, one by one (a name that cannot be evaluated is left out)."""
    target = fn.__init__ if inspect.isclass(fn) and not dataclasses.is_dataclass(fn) else fn
    module = inspect.getmodule(target) or inspect.getmodule(fn)
    namespace = dict(vars(typing), **vars(module)) if module is not None else dict(vars(typing))
    hints = {}
    for p in params:
        ann = p.annotation
        if isinstance(ann, str):
            try:
                ann = eval(ann, namespace)  # noqa: S307 - an annotation of installed code, not user input
            except Exception:
                continue
        if ann is not inspect.Parameter.empty:
            hints[p.name] = ann
    return hints


def _expected(param: inspect.Parameter, hint: Any) -> Optional[Sequence[type]]:
    """The simple types a parameter accepts, or None when it accepts something richer (not checked)."""
    if hint is not None and hint is not inspect.Parameter.empty:
        members = typing.get_args(hint) if typing.get_origin(hint) in _UNIONS else (hint,)
        members = [m for m in members if m is not type(None)]
        if members and all(m in _SIMPLE for m in members):
            return tuple(members)
        if any(m in (int, float) for m in members) and not any(_takes_text(m) for m in members):
            return _NOT_TEXT  # a number or something richer (a Tensor, ...), never a string
        return None
    default = param.default
    if default is inspect.Parameter.empty or default is None or not isinstance(default, _SIMPLE):
        return None
    return (float, int) if type(default) is float else (type(default),)


class _NotText(tuple):
    """Marker: any value but a string."""


_NOT_TEXT = _NotText((float, int))


def _takes_text(member: Any) -> bool:
    """Whether an annotation member may be given as a string (str, Any, paths, sequences of anything)."""
    if member is typing.Any or member is str:
        return True
    cls = typing.get_origin(member) or member
    return isinstance(cls, type) and (isinstance("", cls) or cls.__name__ in ("Path", "PathLike", "PurePath"))


def _is_ref(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _referenced_names(cfg: Any) -> Set[str]:
    """First components of every ``${a.b}`` reference in ``cfg``."""
    from molsym.train.config import _REF

    found: Set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            found.update(m.group(1).split(".")[0] for m in _REF.finditer(node))

    walk(cfg)
    return found
