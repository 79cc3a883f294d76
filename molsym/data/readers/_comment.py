"""Parse an extended-XYZ comment line (``key=value key2="quoted value" ...``).

The grammar and the value conversion are ASE's
(:func:`ase.io.extxyz.key_val_str_to_dict`): numbers become ints or floats
(several numbers an array), ``T``/``F`` become booleans, ``Lattice``,
``stress`` and ``virial`` with nine numbers become 3x3 arrays in Fortran
order. ASE's parser walks the line one character at a time (~0.25 ms a
line); lines made only of ``key=value`` and ``key="value"`` pairs (bare
values without brackets or quotes, quoted values without escapes: every
line molsym and the usual DFT tools write) are split by one regular
expression here and converted the same way, only for the keys a reader asks
for, and every other line is handed to ASE's parser. The tests check that
both paths agree.
"""
from __future__ import annotations

import json
import re
from typing import Dict

import numpy as np
from ase.io.extxyz import SPECIAL_3_3_KEYS, UNPROCESSED_KEYS, key_val_str_to_dict

from molsym.data.readers._common import Unsupported

_KEY = r"[^\s=\"'{}\[\]\\]+"
_BARE = r"[^\s=\"'{}\[\]\\]+"
_QUOTED = r"\"[^\"\\]*\""
_PAIR = re.compile(rf"\s*({_KEY})=({_QUOTED}|{_BARE})")
_SIMPLE_LINE = re.compile(rf"(?:\s*{_KEY}=(?:{_QUOTED}|{_BARE})(?=\s|$))*\s*")
_PARTS = re.compile(r"[^\s,]+")
_INT = re.compile(r"[+-]?\d+")
_SINGLE = re.compile(r"[^\s,]+")
_BOOLS = {"T": True, "F": False, "true": True, "false": False,
          "True": True, "False": False, "TRUE": True, "FALSE": False}


class Comment:
    """A parsed comment line whose values are converted when first asked for.

    Reading a training set needs three or four of a line's keys; converting
    only those keeps the comment line from dominating the read time.
    """

    __slots__ = ("_raw", "_done")

    def __init__(self, raw: Dict[str, str], done: Dict[str, object]):
        self._raw = raw
        self._done = done

    def get(self, key: str, default=None):
        """The converted value of ``key`` (ASE's rules), or ``default``."""
        if key in self._done:
            return self._done[key]
        if key not in self._raw:
            return default
        value = self._done[key] = _convert(key, self._raw[key])
        return value

    def raw(self, key: str, default=None):
        """The unconverted text of ``key`` (for string-valued keys such as ``Properties``)."""
        if key in self._raw:
            return self._raw[key]
        return self._done.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self._done or key in self._raw

    def to_dict(self) -> Dict[str, object]:
        """Every key converted, in line order."""
        return {key: self.get(key) for key in (self._raw or self._done)}


def read_comment(line: str) -> Comment:
    """Split one comment line into a lazily converted :class:`Comment`.

    Raises
    ------
    molsym.data.readers._common.Unsupported
        if ASE's own parser rejects the line (the caller then reads the file
        with ``ase.io.read``).
    """
    if _SIMPLE_LINE.fullmatch(line):
        raw = {key: value[1:-1] if value.startswith('"') else value
               for key, value in _PAIR.findall(line)}
        return Comment(raw, {})
    try:
        return Comment({}, key_val_str_to_dict(line))
    except ValueError as err:
        raise Unsupported(str(err)) from None


def parse_comment(line: str) -> Dict[str, object]:
    """Return the ``key → value`` dict of one comment line, as ASE would."""
    return read_comment(line).to_dict()


def _convert(key: str, value: str):
    """Convert one raw value to a number, array, bool or str (ASE's rules)."""
    if key.lower() in UNPROCESSED_KEYS:
        return value
    if _SINGLE.fullmatch(value) and key not in SPECIAL_3_3_KEYS:  # fast path: one number
        if _INT.fullmatch(value) and len(value) < 18:
            return np.int64(int(value))
        try:
            return np.float64(float(value))
        except ValueError:
            pass
    parts = _PARTS.findall(value)
    number = _numbers(parts)
    if number is not None:
        if key in SPECIAL_3_3_KEYS:
            if number.shape != (9,):
                raise Unsupported(f"{key} needs nine numbers")
            return number.reshape((3, 3), order="F")
        return number[0] if len(number) == 1 else number
    if key in SPECIAL_3_3_KEYS:
        raise Unsupported(f"{key} needs nine numbers")
    if parts and all(p in _BOOLS for p in parts):
        flags = [_BOOLS[p] for p in parts]
        return flags[0] if len(flags) == 1 else flags
    if value.startswith("_JSON "):
        decoded = json.loads(value[len("_JSON "):])
        array = np.array(decoded)
        return array if array.dtype.kind in "ifb" else decoded
    return value


def _numbers(parts):
    """Ints if every part is an int, else floats if every part is a float, else None."""
    if not parts:
        return None
    if all(_INT.fullmatch(p) for p in parts):
        try:
            return np.array([int(p) for p in parts], dtype=int)
        except OverflowError:
            pass
    try:
        return np.array([float(p) for p in parts], dtype=float)
    except (ValueError, OverflowError):
        return None
