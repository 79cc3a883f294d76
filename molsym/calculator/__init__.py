"""ASE calculator and fast inference paths for molsym force fields.

>>> from molsym.calculator import MolSymCalculator
>>> calc = MolSymCalculator("model.pt", skin=0.5)  # doctest: +SKIP
"""
from molsym.calculator.calculator import MolSymCalculator, UnknownElementError, max_force_std
from molsym.calculator.committee import is_committee_file, read_committee, write_committee
from molsym.calculator.compile import CompileError, compile_model, save_compiled
from molsym.calculator.loading import load_force_field
from molsym.calculator.skin import SkinNeighborList

__all__ = ["MolSymCalculator", "UnknownElementError", "SkinNeighborList",
           "compile_model", "save_compiled", "CompileError", "load_force_field", "max_force_std",
           "write_committee", "read_committee", "is_committee_file"]
