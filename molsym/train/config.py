"""YAML training configs: load, override, interpolate, instantiate.

A config is a plain nested dict read from YAML. Three small conventions make
it a description of the run rather than a program:

* ``{"class_path": "pkg.mod.Class", "init_args": {...}}`` names a class and
  its arguments; :func:`instantiate` builds it.
* ``"${cutoff}"`` refers to another value by its dotted path, so a shared value
  is written once. A string that is exactly one reference takes the referenced
  value's type (``"${cutoff}"`` → ``5.0``); references inside longer strings
  are substituted as text (``"outputs/${name}"``).
* ``key.sub.0.name=value`` overrides from the command line; ``value`` is
  parsed as YAML (``3`` → int, ``[1, 2]`` → list, ``null`` → None,
  ``1e-3`` → float: unlike PyYAML's YAML 1.1 default, exponents without a
  dot or sign are numbers, see :func:`load_yaml`).

Example
-------
>>> cfg = {"cutoff": 5.0, "model": {"cutoff": "${cutoff}"}}
>>> resolve(apply_overrides(cfg, ["cutoff=4.5"]))["model"]["cutoff"]
4.5
"""
from __future__ import annotations

import copy
import importlib
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import yaml

__all__ = ["load_config", "load_yaml", "apply_overrides", "resolve", "instantiate", "import_object",
           "ConfigError"]

_REF = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus the YAML 1.2 floats its 1.1 rules miss (``1e-3``, ``1.5e3``, ``.5e3``)."""


# Tried after SafeLoader's own float and int resolvers (which keep ``1.0``, ``.inf``, ``0x10``):
# only exponents without a sign or without a dot are added here.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"""),
    list("-+0123456789."))


def load_yaml(stream) -> Any:
    """Parse YAML like ``yaml.safe_load``, but read ``1e-3`` as the float 0.001, not a string."""
    return yaml.load(stream, Loader=_Loader)


class ConfigError(ValueError):
    """A config file or override is malformed; the message names the key."""


def load_config(path, overrides: Sequence[str] = (), check: bool = True,
                settings: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Read a YAML config, apply ``key=value`` overrides, check it and resolve ``${...}``.

    Relative paths inside the config stay relative to the working directory
    (configs are written to be run from the repository root).

    Parameters
    ----------
    path : str or Path
        The YAML file.
    overrides : sequence of str
        ``dotted.key=value`` strings, applied in order.
    check : bool, default True
        Reject unknown keys, wrong value types and missing sections
        (:func:`molsym.train.schema.check_config`) with a :class:`ConfigError`
        that names the file and the key.
    settings : mapping of str to value, optional
        ``{dotted.key: value}`` set before the overrides, creating the
        mappings on the way when they are missing (values are taken as
        they are, not parsed as YAML): the command line's ``--init`` and
        ``--committee`` set ``init.model`` and ``committee.size`` this way,
        so that an override such as ``init.refit=true`` finds its section.

    Returns
    -------
    dict
        The resolved config; ``config["config_file"]`` records ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    with open(path) as fh:
        try:
            cfg = load_yaml(fh)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ConfigError(f"{path}:{where}: not valid YAML: {problem} (a value starting with ${{ or "
                              f"{{ inside {{...}} needs quotes)") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: the top level of a config must be a mapping")
    for key, value in (settings or {}).items():
        _set_creating(cfg, _split(key), copy.deepcopy(value), key)
    cfg = apply_overrides(cfg, overrides)
    if check:
        from molsym.train.schema import check_config

        try:
            check_config(cfg, overrides)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
    cfg = resolve(cfg)
    cfg["config_file"] = str(path)
    return cfg


def _split(key: str) -> List[str]:
    parts = key.split(".")
    if not key or any(p == "" for p in parts):
        raise ConfigError(f"bad config key {key!r}")
    return parts


def _set_creating(cfg: Dict[str, Any], parts: List[str], value: Any, full: str) -> None:
    """``cfg[a][b]... = value``, making the missing mappings on the way."""
    node = cfg
    for p in parts[:-1]:
        if node.get(p) is None:
            node[p] = {}
        node = node[p]
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {full!r}: {p!r} is not a mapping")
    node[parts[-1]] = value


def _get(cfg: Any, parts: List[str], full: str) -> Any:
    node = cfg
    for p in parts:
        if isinstance(node, dict) and p in node:
            node = node[p]
        elif isinstance(node, list) and p.lstrip("-").isdigit() and -len(node) <= int(p) < len(node):
            node = node[int(p)]
        else:
            raise ConfigError(f"config key {full!r} does not exist (no {p!r})")
    return node


def apply_overrides(cfg: Dict[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """Return a copy of ``cfg`` with ``dotted.key=value`` overrides applied.

    A missing final key in a mapping is created; missing intermediate keys and
    out-of-range list indices are errors (a typo should not pass silently).
    """
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, text = item.split("=", 1)
        parts = _split(key.strip())
        value = load_yaml(text) if text.strip() else None
        parent = _get(cfg, parts[:-1], key) if len(parts) > 1 else cfg
        last = parts[-1]
        if isinstance(parent, dict):
            parent[last] = value
        elif isinstance(parent, list) and last.lstrip("-").isdigit() and -len(parent) <= int(last) < len(parent):
            parent[int(last)] = value
        else:
            raise ConfigError(f"cannot set {key!r}: its parent is not a mapping or the index is out of range")
    return cfg


def resolve(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Replace every ``${dotted.key}`` by the value it names (recursively)."""

    def sub(node: Any, depth: int) -> Any:
        if depth > 20:
            raise ConfigError("config references form a cycle")
        if isinstance(node, dict):
            return {k: sub(v, depth) for k, v in node.items()}
        if isinstance(node, list):
            return [sub(v, depth) for v in node]
        if isinstance(node, str):
            whole = _REF.fullmatch(node)
            if whole:
                return sub(_get(cfg, _split(whole.group(1)), whole.group(1)), depth + 1)
            if _REF.search(node):
                return _REF.sub(lambda m: str(sub(_get(cfg, _split(m.group(1)), m.group(1)), depth + 1)), node)
        return node

    return sub(cfg, 0)


def import_object(path: str) -> Any:
    """Import ``"package.module.Name"`` and return ``Name``."""
    module, _, name = path.rpartition(".")
    if not module:
        raise ConfigError(f"class_path {path!r} must be a dotted path such as torch.optim.AdamW")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"cannot import {path!r}: {err}") from err


def instantiate(spec: Dict[str, Any], *args: Any, **extra: Any) -> Any:
    """Build ``class_path(*args, **init_args, **extra)`` from a spec mapping.

    Parameters
    ----------
    spec : dict
        ``{"class_path": str, "init_args": dict}``; other keys are ignored so
        a spec may carry settings for the caller (for example a scheduler's
        ``monitor``).
    *args, **extra
        Passed before/on top of ``init_args`` (for example an optimizer's
        parameters).
    """
    if not isinstance(spec, dict) or "class_path" not in spec:
        raise ConfigError(f"expected a mapping with 'class_path' and 'init_args', got {spec!r}")
    cls = import_object(spec["class_path"])
    kwargs = dict(spec.get("init_args") or {})
    kwargs.update(extra)
    return cls(*args, **kwargs)
