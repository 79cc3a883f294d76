"""Named unit conversion factors. Inside molsym: eV, Å, eV/Å, eV/Å³."""
from ase import units as _u

#: 1 kcal/mol in eV (rMD17 / MD17 energies).
KCAL_PER_MOL_TO_EV = float(_u.kcal / _u.mol)
#: 1 Hartree in eV (QM9 energies and orbital energies).
HARTREE_TO_EV = float(_u.Hartree)
#: 1 Bohr in Å.
BOHR_TO_ANGSTROM = float(_u.Bohr)

#: Factors from a declared energy unit to eV.
ENERGY_UNITS = {"eV": 1.0, "meV": 1e-3, "kcal/mol": KCAL_PER_MOL_TO_EV,
                "kJ/mol": float(_u.kJ / _u.mol), "Hartree": HARTREE_TO_EV, "Ha": HARTREE_TO_EV}
#: Factors from a declared length unit to Å.
LENGTH_UNITS = {"Angstrom": 1.0, "Å": 1.0, "A": 1.0, "Bohr": BOHR_TO_ANGSTROM, "nm": 10.0}


def energy_factor(unit: str) -> float:
    """Factor that converts energies in ``unit`` to eV."""
    try:
        return ENERGY_UNITS[unit]
    except KeyError:
        raise ValueError(f"unknown energy unit {unit!r}; known: {sorted(ENERGY_UNITS)}") from None


def length_factor(unit: str) -> float:
    """Factor that converts lengths in ``unit`` to Å."""
    try:
        return LENGTH_UNITS[unit]
    except KeyError:
        raise ValueError(f"unknown length unit {unit!r}; known: {sorted(LENGTH_UNITS)}") from None
