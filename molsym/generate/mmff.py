"""MMFF94 through RDKit as an ASE calculator, for relaxing molecules whose bonds are known.

A generated molecule carries its bond graph, so a classical force field can
be set up for it directly: RDKit assigns MMFF94 atom types from the graph and
evaluates energy and gradient at any geometry. It is ~1000× cheaper than
GFN2-xTB and fixes bond lengths and angles to the force field's values, but it
trusts the graph: a wrong bond is kept, not repaired. Molecules RDKit cannot
type for MMFF (unsanitizable graphs, elements outside MMFF94) raise
:class:`ValueError` when the calculator is built.

Units at the boundary: RDKit works in kcal/mol and Å; the calculator returns
eV and eV/Å (``ase.units``).
"""
from __future__ import annotations

import numpy as np
from ase import units
from ase.calculators.calculator import Calculator, all_changes

from .molecules import GeneratedMolecule, sanitized, to_rdkit

__all__ = ["MMFFCalculator", "KCAL_PER_MOL_TO_EV"]

#: 1 kcal/mol in eV
KCAL_PER_MOL_TO_EV = units.kcal / units.mol


class MMFFCalculator(Calculator):
    """MMFF94 energy (eV) and forces (eV/Å) of one molecule with a fixed bond graph.

    Parameters
    ----------
    mol : GeneratedMolecule
        Atoms, formal charges and generated bonds (``mol.bonds`` must be set);
        its geometry is only used to build the RDKit molecule.

    Examples
    --------
    >>> calc = MMFFCalculator(molecule)     # doctest: +SKIP
    >>> atoms.calc = calc                   # atoms in the same order as molecule
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, mol: GeneratedMolecule, **kwargs):
        from rdkit.Chem import AllChem

        super().__init__(**kwargs)
        if mol.bonds is None:
            raise ValueError("MMFF needs the molecule's bonds; this molecule has none")
        rdmol = sanitized(to_rdkit(mol, bonds="generated"))
        if rdmol is None:
            raise ValueError("RDKit cannot sanitize the generated graph, so MMFF94 cannot type it")
        props = AllChem.MMFFGetMoleculeProperties(rdmol)
        if props is None:
            raise ValueError("MMFF94 has no atom types for this molecule")
        self._ff = AllChem.MMFFGetMoleculeForceField(rdmol, props)
        self._n = rdmol.GetNumAtoms()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        pos = np.asarray(self.atoms.get_positions(), dtype=np.float64)
        if len(pos) != self._n:
            raise ValueError(f"MMFF was set up for {self._n} atoms, got {len(pos)}")
        flat = pos.reshape(-1).tolist()
        energy = self._ff.CalcEnergy(flat) * KCAL_PER_MOL_TO_EV
        grad = np.asarray(self._ff.CalcGrad(flat), dtype=np.float64).reshape(-1, 3) * KCAL_PER_MOL_TO_EV
        self.results = {"energy": float(energy), "forces": -grad}
