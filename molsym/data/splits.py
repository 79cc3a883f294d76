"""Reproducible train/val/test splits, saved as a small JSON beside the data.

A split is three disjoint, sorted index arrays over ``n`` frames. The sizes
are given per part as a fraction (``0 <= x < 1``) or an absolute count
(an ``int >= 1``); the training set gets what is left. The permutation comes
from ``numpy.random.default_rng(seed)``, so the same ``(n, sizes, seed)``
always gives the same split on every machine.

:func:`load_or_make_split` writes the split once (atomically) and reuses it
on later runs; a saved split whose ``n`` differs from the dataset's is
refused with a :class:`~molsym.data.errors.DataError`, since the data
changed under it.

Example
-------
>>> s = make_split(10, val=0.2, test=2, seed=0)
>>> [len(s[k]) for k in ("train", "val", "test")]
[6, 2, 2]
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import numpy as np

from molsym.data.errors import DataError
from molsym.files import atomic_write_text  # re-exported: callers import it from here

Size = Union[int, float]
Split = Dict[str, np.ndarray]

#: Bumped when the JSON layout changes.
SPLIT_FORMAT = 1


def _count(size: Size, n: int, name: str) -> int:
    """Turn a fraction or a count into a number of frames."""
    if isinstance(size, bool) or size is None:
        raise ValueError(f"split size for {name!r} must be a number, got {size!r}")
    if isinstance(size, (int, np.integer)) or (isinstance(size, float) and size >= 1 and size.is_integer()):
        k = int(size)
    elif 0 <= size < 1:
        k = int(round(float(size) * n))
    else:
        raise ValueError(f"split size for {name!r} must be a fraction in [0, 1) or a count, got {size!r}")
    if k < 0:
        raise ValueError(f"split size for {name!r} must not be negative, got {size!r}")
    return k


def make_split(n: int, val: Size = 0.1, test: Size = 0, seed: int = 0) -> Split:
    """Split ``range(n)`` into sorted, disjoint ``train``/``val``/``test`` indices.

    Parameters
    ----------
    n : number of frames
    val, test : fraction of ``n`` (``0 <= x < 1``) or count (``int >= 1``)
    seed : seed of the permutation

    Returns
    -------
    dict with ``train``, ``val``, ``test``: int64 arrays of frame indices.
    """
    n_val, n_test = _count(val, n, "val"), _count(test, n, "test")
    if n_val + n_test > n:
        raise ValueError(f"cannot take {n_val} validation and {n_test} test frames from {n} frames")
    perm = np.random.default_rng(seed).permutation(n)
    return {
        "val": np.sort(perm[:n_val]).astype(np.int64),
        "test": np.sort(perm[n_val:n_val + n_test]).astype(np.int64),
        "train": np.sort(perm[n_val + n_test:]).astype(np.int64),
    }


def split_file_name(stem: str, val: Size, test: Size, seed: int) -> str:
    """Name of the JSON that holds the split of ``stem`` with these settings."""
    return f"{stem}.split-val{val}-test{test}-seed{seed}.json"


def save_split(path, split: Split, n: int, **settings) -> Path:
    """Write ``split`` as JSON, atomically (:func:`molsym.files.atomic_write_text`)."""
    path = Path(path)
    doc = {"format": SPLIT_FORMAT, "n": int(n), "settings": settings,
           **{k: [int(i) for i in split[k]] for k in ("train", "val", "test")}}
    atomic_write_text(path, json.dumps(doc, indent=1))
    return path


def load_split(path, n: Optional[int] = None) -> Split:
    """Read a split written by :func:`save_split`; check it against ``n`` frames."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        split = {k: np.asarray(doc[k], dtype=np.int64) for k in ("train", "val", "test")}
        saved_n = int(doc["n"])
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(str(path), None, f"not a valid split file ({err})") from None
    if n is not None and saved_n != n:
        raise DataError(str(path), None, f"split was made for {saved_n} frames but the dataset has {n}; "
                                         f"the data changed: delete this file to make a new split")
    allidx = np.concatenate(list(split.values()))
    if len(allidx) and (allidx.min() < 0 or allidx.max() >= saved_n or len(np.unique(allidx)) != len(allidx)):
        raise DataError(str(path), None, "split indices are out of range or overlap")
    return split


def load_or_make_split(path, n: int, val: Size = 0.1, test: Size = 0, seed: int = 0) -> Split:
    """Reuse the split saved at ``path`` or make one and save it there."""
    path = Path(path)
    if path.exists():
        return load_split(path, n)
    split = make_split(n, val, test, seed)
    save_split(path, split, n, val=val, test=test, seed=seed)
    return split


def _writable(folder: Path) -> bool:
    """Writable by us *and* not marked read-only (root may write anywhere; it should not here)."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return os.access(folder, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def sidecar_dir(sources: Sequence, cache_dir=None) -> Path:
    """Folder for files kept *beside the data* (splits, statistics).

    The folder of the first source if it is writable and not marked read-only
    (no write permission bits, even for root); otherwise ``cache_dir``
    (or ``$MOLSYM_CACHE_DIR``, or ``~/.cache/molsym``) in a sub-folder named
    after a hash of the source paths, so read-only data still gets a stable place.
    """
    first = Path(sources[0]).resolve()
    if cache_dir is None and _writable(first.parent):
        return first.parent
    root = Path(cache_dir or os.environ.get("MOLSYM_CACHE_DIR") or Path.home() / ".cache" / "molsym")
    digest = hashlib.sha1("\n".join(str(Path(s).resolve()) for s in sources).encode()).hexdigest()[:12]
    return root / f"{first.stem}-{digest}"


__all__ = ["make_split", "load_split", "save_split", "load_or_make_split", "split_file_name",
           "atomic_write_text", "sidecar_dir"]
