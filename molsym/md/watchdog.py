"""A stability watchdog for molecular dynamics.

It stops a run when the simulated molecule stops being physical:

* a bond (a pair bonded in the starting structure, by ASE's covalent radii)
  is longer or shorter than at the start by more than ``bond_threshold``
  (default 0.5 Å, the criterion of "Forces are not enough", Fu et al. 2023),
  unless an equivalent bond took its place (one of its atoms now sits at the
  bond's length from another atom of the partner's element: a proton moving
  to an equivalent acceptor, as in acetylacetone's H transfer, is chemistry,
  not an instability; ``allow_exchange=False`` counts it);
* two atoms come closer than ``min_distance``;
* in NVE, the total energy drifts from its starting value by more than
  ``max_energy_drift`` eV per atom;
* the positions, the potential energy or the forces hold NaN or inf
  (:func:`non_finite`; :func:`molsym.md.run_md` checks this even without a
  watchdog, since no integrator can take another step).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from ase.geometry import find_mic
from ase.neighborlist import natural_cutoffs, neighbor_list

from molsym.data.neighbors import neighbor_list as pair_list


@dataclass
class Instability:
    """What made the watchdog fire.

    Attributes
    ----------
    step : int
        MD step at which it fired.
    kind : str
        ``"non_finite"``, ``"bond"``, ``"min_distance"`` or ``"energy_drift"``.
    atoms : tuple
        Indices of the atoms involved (empty for energy drift).
    value : float
        The offending quantity (Å or eV/atom).
    message : str
        A one-line human-readable report.
    """

    step: int
    kind: str
    atoms: tuple
    value: float
    message: str

    def __str__(self) -> str:
        return self.message


class MDInstabilityError(RuntimeError):
    """Raised by :meth:`StabilityWatchdog.check` when a run becomes unphysical."""

    def __init__(self, instability: Instability):
        super().__init__(instability.message)
        self.instability = instability


def _label(symbols, i: int) -> str:
    return f"{symbols[i]}{i}"


def non_finite(atoms, step: int) -> Optional[Instability]:
    """An :class:`Instability` of kind ``"non_finite"`` when ``atoms`` hold NaN or inf, else ``None``.

    Looks at the positions and at the calculator's last results (forces, then
    energy) without calculating anything.

    Examples
    --------
    >>> from ase.build import molecule
    >>> atoms = molecule("H2O")
    >>> non_finite(atoms, step=0) is None
    True
    >>> atoms.positions[2, 1] = float("nan")
    >>> print(non_finite(atoms, step=3))
    step 3: the position of atom H2 is not finite (nan)
    """
    symbols = atoms.get_chemical_symbols()
    results = getattr(atoms.calc, "results", None) or {}
    for what, values in (("the position of", atoms.positions), ("the model's force on", results.get("forces"))):
        if values is None:
            continue
        values = np.asarray(values, dtype=np.float64).reshape(len(atoms), -1)
        bad = np.nonzero(~np.isfinite(values).all(axis=1))[0]
        if len(bad):
            a = int(bad[0])
            value = float(values[a][~np.isfinite(values[a])][0])
            more = f" (and on {len(bad) - 1} more)" if len(bad) > 1 else ""
            return Instability(step, "non_finite", tuple(int(b) for b in bad), value, (
                f"step {step}: {what} atom {_label(symbols, a)} is not finite ({value}){more}"))
    energy = results.get("energy")
    if energy is not None and not np.isfinite(energy):
        return Instability(step, "non_finite", (), float(energy), (
            f"step {step}: the model's potential energy is not finite ({float(energy)})"))
    return None


class StabilityWatchdog:
    """Watch bonds, close contacts and NVE energy drift of a running simulation.

    Parameters
    ----------
    atoms : ase.Atoms
        The starting structure; its bonds (pairs closer than ``bond_scale``
        times the sum of covalent radii) and their lengths are the reference.
    bond_threshold : float
        Largest allowed change of a bond length, Å.
    min_distance : float
        Smallest allowed distance between any two atoms, Å.
    max_energy_drift : float, optional
        Largest allowed |E_tot(t) − E_tot(0)| per atom, eV/atom (NVE only;
        ``None`` disables the check).
    bond_scale : float
        Multiplier of ASE's natural (covalent) cutoffs used to find bonds.
    allow_exchange : bool
        Accept a broken bond that an equivalent new one replaced (see above).

    Examples
    --------
    >>> from ase.build import molecule
    >>> atoms = molecule("H2O")
    >>> dog = StabilityWatchdog(atoms)
    >>> len(dog.bonds)
    2
    >>> atoms.positions[1] += [1.5, 0.0, 0.0]
    >>> dog.find(atoms, step=7).kind
    'bond'
    """

    def __init__(self, atoms, bond_threshold: float = 0.5, min_distance: float = 0.5,
                 max_energy_drift: Optional[float] = None, bond_scale: float = 1.2,
                 allow_exchange: bool = True):
        self.bond_threshold = float(bond_threshold)
        self.allow_exchange = bool(allow_exchange)
        self.numbers = atoms.numbers.copy()
        self.min_distance = float(min_distance)
        self.max_energy_drift = max_energy_drift
        self.symbols = atoms.get_chemical_symbols()
        i, j, d = neighbor_list("ijd", atoms, natural_cutoffs(atoms, mult=bond_scale))
        keep = i < j
        self.bonds = np.stack([i[keep], j[keep]], axis=1)  # [n_bonds, 2]
        self.ref_lengths = d[keep]  # [n_bonds] Å
        self.ref_energy: Optional[float] = None
        self.n_atoms = len(atoms)

    def _bond_lengths(self, atoms) -> np.ndarray:
        vec = atoms.positions[self.bonds[:, 1]] - atoms.positions[self.bonds[:, 0]]
        if atoms.pbc.any():
            vec, _ = find_mic(vec, atoms.cell, atoms.pbc)
        return np.sqrt(np.einsum("ij,ij->i", vec, vec))

    def _exchanged(self, atoms, k: int) -> bool:
        """Whether bond ``k``'s atom ``a`` (or ``b``) is now bonded, at the bond's own length
        within the threshold, to another atom of ``b``'s (``a``'s) element."""
        a, b = (int(x) for x in self.bonds[k])
        for x, partner in ((a, b), (b, a)):
            # an exchange must form a new bond: skip x itself and x's partners at the start
            start = np.concatenate([self.bonds[self.bonds[:, 0] == x, 1], self.bonds[self.bonds[:, 1] == x, 0], [x]])
            others = np.setdiff1d(np.nonzero(self.numbers == self.numbers[partner])[0], start)
            if not len(others):
                continue
            vec = atoms.positions[others] - atoms.positions[x]
            if atoms.pbc.any():
                vec, _ = find_mic(vec, atoms.cell, atoms.pbc)
            d = np.sqrt(np.einsum("ij,ij->i", vec, vec))
            if np.any(np.abs(d - self.ref_lengths[k]) <= self.bond_threshold):
                return True
        return False

    def find(self, atoms, step: int, total_energy: Optional[float] = None) -> Optional[Instability]:
        """Return the first instability found at this step, or ``None``.

        ``total_energy`` (eV) is needed for the drift check; the first value
        seen becomes the reference. NaN or inf (:func:`non_finite`) is checked first.
        """
        found = non_finite(atoms, step)
        if found is not None:
            return found
        if len(self.bonds):
            dev = self._bond_lengths(atoms) - self.ref_lengths
            broken = np.nonzero(np.abs(dev) > self.bond_threshold)[0]
            if self.allow_exchange:
                broken = [k for k in broken if not self._exchanged(atoms, k)]
            if len(broken):
                k = int(max(broken, key=lambda q: abs(dev[q])))
                a, b = (int(x) for x in self.bonds[k])
                length = self.ref_lengths[k] + dev[k]
                return Instability(step, "bond", (a, b), float(dev[k]), (
                    f"step {step}: bond {_label(self.symbols, a)}–{_label(self.symbols, b)} is "
                    f"{length:.3f} Å, started at {self.ref_lengths[k]:.3f} Å "
                    f"(change {dev[k]:+.3f} Å, threshold {self.bond_threshold} Å)"))
        if self.min_distance > 0 and self.n_atoms > 1:
            ei, shift = pair_list(atoms.positions, atoms.cell.array, atoms.pbc, self.min_distance)
            if ei.shape[1]:
                pos = atoms.positions
                vec = pos[ei[1]] - pos[ei[0]] + (shift @ atoms.cell.array if atoms.pbc.any() else 0.0)
                d = np.linalg.norm(vec, axis=1)
                k = int(np.argmin(d))
                a, b = int(ei[0, k]), int(ei[1, k])
                return Instability(step, "min_distance", (a, b), float(d[k]), (
                    f"step {step}: atoms {_label(self.symbols, a)} and {_label(self.symbols, b)} "
                    f"are {d[k]:.3f} Å apart (minimum allowed {self.min_distance} Å)"))
        if self.max_energy_drift is not None and total_energy is not None:
            if self.ref_energy is None:
                self.ref_energy = float(total_energy)
            drift = (float(total_energy) - self.ref_energy) / self.n_atoms
            if not np.isfinite(drift) or abs(drift) > self.max_energy_drift:
                return Instability(step, "energy_drift", (), drift, (
                    f"step {step}: total energy drifted by {drift * 1000:+.2f} meV/atom "
                    f"(bound {self.max_energy_drift * 1000:.2f} meV/atom)"))
        return None

    def check(self, atoms, step: int, total_energy: Optional[float] = None) -> None:
        """Like :meth:`find`, but raise :class:`MDInstabilityError` on an instability."""
        found = self.find(atoms, step, total_energy)
        if found is not None:
            raise MDInstabilityError(found)
