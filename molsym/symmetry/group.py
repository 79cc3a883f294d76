"""Random elements of the symmetry groups of a molecule: O(3), SO(3), translations
and atom permutations. All sampling takes a ``numpy.random.Generator``."""
from __future__ import annotations

import numpy as np


def random_rotation(rng: np.random.Generator, reflection: bool = False) -> np.ndarray:
    """A Haar-random 3x3 orthogonal matrix with ``det = -1`` if ``reflection`` else ``+1``.

    Sampled by QR of a Gaussian matrix with the sign of R's diagonal fixed
    (Mezzadri 2007), then, for an improper element, composed with −I.

    >>> R = random_rotation(np.random.default_rng(0), reflection=True)
    >>> bool(np.isclose(np.linalg.det(R), -1.0))
    True
    """
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return -q if reflection else q


def random_translation(rng: np.random.Generator, scale: float = 5.0) -> np.ndarray:
    """A random translation vector [3] in Å with components of size ``scale``."""
    return rng.normal(scale=scale, size=3)


def random_permutation(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random permutation of ``n`` atoms that moves at least two of them when n > 1."""
    if n < 2:
        return np.arange(n)
    while True:
        perm = rng.permutation(n)
        if not np.array_equal(perm, np.arange(n)):
            return perm
