"""Committee files: one small JSON file naming the model files of a committee.

``molsym train`` with a ``committee:`` section writes
``<output_dir>/committee.json``::

    {"format": "molsym-committee", "format_version": 1,
     "members": ["member_0/model.pt", "member_1/model.pt", ...],
     "seeds": [0, 1, ...], "extra": {...}}

Member paths are relative to the file's folder (absolute paths are kept as
they are), so the folder can be moved as a whole. ``MolSymCalculator`` and
``molsym md --model`` take the file wherever they take model files, as the
list of its members.

Example
-------
>>> write_committee("run/committee.json", ["run/member_0/model.pt", "run/member_1/model.pt"])  # doctest: +SKIP
>>> read_committee("run/committee.json")  # doctest: +SKIP
[PosixPath('run/member_0/model.pt'), PosixPath('run/member_1/model.pt')]
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from molsym.files import atomic_write_text
from molsym.nn.io import ModelFileError

__all__ = ["write_committee", "read_committee", "is_committee_file", "COMMITTEE_FORMAT"]

COMMITTEE_FORMAT = "molsym-committee"
COMMITTEE_VERSION = 1

PathLike = Union[str, os.PathLike]


def write_committee(path: PathLike, members: Sequence[PathLike], seeds: Optional[Sequence[int]] = None,
                    extra: Optional[Dict[str, Any]] = None) -> Path:
    """Write the committee file ``path`` listing ``members`` (atomically); returns ``path``."""
    path = Path(path)
    folder = path.parent.resolve()
    names = []
    for member in members:
        member = Path(member)
        full = member if member.is_absolute() else Path.cwd() / member
        try:
            names.append(Path(os.path.relpath(full.resolve(), folder)).as_posix())
        except ValueError:  # another drive (Windows): keep it absolute
            names.append(str(full))
    payload = {"format": COMMITTEE_FORMAT, "format_version": COMMITTEE_VERSION, "members": names,
               "seeds": [int(s) for s in seeds] if seeds is not None else None, "extra": dict(extra or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")
    return path


def _read_json(path: Path) -> Any:
    """The JSON object in ``path``, or None when it is not a JSON text (a torch file, ...)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64).lstrip()
        if not head.startswith(b"{"):
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def is_committee_file(path: PathLike) -> bool:
    """Whether ``path`` is a committee file (by its content, whatever its name)."""
    path = Path(path)
    if not path.is_file():
        return False
    data = _read_json(path)
    return isinstance(data, dict) and data.get("format") == COMMITTEE_FORMAT


def read_committee(path: PathLike) -> List[Path]:
    """The member model files of the committee file ``path``.

    Raises
    ------
    ModelFileError
        One line naming ``path``: not a committee file, an unknown format
        version, no members, or a member file that does not exist.
    """
    path = Path(path)
    data = _read_json(path) if path.is_file() else None
    if not isinstance(data, dict) or data.get("format") != COMMITTEE_FORMAT:
        raise ModelFileError(f"{path}: not a molsym committee file (format is not {COMMITTEE_FORMAT!r})")
    if data.get("format_version") != COMMITTEE_VERSION:
        raise ModelFileError(f"{path}: committee file format version {data.get('format_version')!r} is not "
                             f"supported (reads version {COMMITTEE_VERSION})")
    names = data.get("members")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ModelFileError(f"{path}: a committee file needs a non-empty list of member files")
    members = [Path(n) if Path(n).is_absolute() else path.parent / n for n in names]
    missing = [str(m) for m in members if not m.is_file()]
    if missing:
        raise ModelFileError(f"{path}: member model file(s) not found: {', '.join(missing)}")
    return members
