"""Atomic file writes: one job, for caches, checkpoints, model files and plots.

A file is written under a temporary name in its own folder and renamed over
the target (``os.replace``) only when the write finished, so readers see the
old file or the new one, never half of one; a failed write leaves no
temporary file behind. Standard library only, so any module may import it.

Example
-------
>>> with atomic_path("fig.png", suffix=".png") as tmp:  # doctest: +SKIP
...     fig.savefig(tmp)
>>> atomic_write_text("split.json", "{}")               # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Union

__all__ = ["atomic_path", "atomic_write_text", "atomic_write_bytes"]

PathLike = Union[str, os.PathLike]


def _umask() -> int:
    """The process umask (``os.umask`` can only be read by setting it; restored at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    The parent folder is created if needed. On leaving the block normally the
    temporary file gets the permissions of a freshly created file
    (``0o666 & ~umask``; ``mkstemp`` makes ``0600`` ones) and replaces
    ``path``; on any exception it is removed and the exception re-raised,
    leaving ``path`` as it was.

    Parameters
    ----------
    path : str or Path
        The file to write.
    suffix : str
        Ending of the temporary name, ``.{name}.XXXXXXXX{suffix}``. Pass the
        extension a writer infers the format from (``".png"`` for
        ``savefig``, ``".extxyz"`` for ``ase.io.write``).

    Yields
    ------
    Path
        The temporary file (it exists, empty) to write to.

    Examples
    --------
    >>> with atomic_path("model.pt") as tmp:  # doctest: +SKIP
    ...     torch.save(payload, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); returns ``Path(path)``.

    Examples
    --------
    >>> atomic_write_text("out/metrics.json", "{}")  # doctest: +SKIP
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return path


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); returns ``Path(path)``.

    Examples
    --------
    >>> atomic_write_bytes("cache.bin", b"\\x00")  # doctest: +SKIP
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
