"""molsym: symmetry-aware molecular machine learning.

The top level stays light (``import molsym`` loads no torch); the calculator is
re-exported lazily so that ``molsym.MolSymCalculator("model.pt")`` works.
"""
__version__ = "0.1.0"

__all__ = ["__version__", "MolSymCalculator"]


def __getattr__(name: str):
    if name == "MolSymCalculator":
        from molsym.calculator import MolSymCalculator

        return MolSymCalculator
    raise AttributeError(f"module 'molsym' has no attribute {name!r}")
