"""The data layer: files → frames → graphs → batches.

Every name below is importable from ``molsym.data``. Each is loaded on first
use (a module-level ``__getattr__``; only ``collate`` is bound at once), so
``import molsym.data.keys`` stays cheap and ``import molsym.data`` pulls in
neither Lightning, h5py, ASE nor vesin until a name that needs them is touched.

Names, by job:

- the batch contract: ``keys``, ``FIELDS``, ``Field``, ``register_graph_field``,
  ``VECTOR_KEYS``, ``TENSOR_KEYS``
- frames (one conformation as a dict of numpy arrays, eV and Å): ``Frame``,
  ``make_frame``, ``check_frame``; bad input raises ``DataError``, naming the
  file and the frame
- unit factors: ``units``, ``KCAL_PER_MOL_TO_EV``, ``HARTREE_TO_EV``,
  ``BOHR_TO_ANGSTROM``, ``ENERGY_UNITS``, ``LENGTH_UNITS``, ``energy_factor``,
  ``length_factor``
- files → frames: ``read_frames``, ``readers``, ``load_qm9``, ``QM9Data``
- frames → graphs (``Dict[str, Tensor]``, B = 1) → batches: ``neighbor_list``,
  ``frame_to_graph``, ``atoms_to_graph``, ``atoms_to_frame``, ``Graph``,
  ``collate``, ``unbatch_sizes``
- datasets and stores: ``GraphDataset``, ``load_frames``, ``GraphStore``,
  ``StoreWriter``, ``pack``, ``is_store``
- splits: ``make_split``, ``load_split``, ``save_split``, ``load_or_make_split``
- E0s and statistics: ``ISOLATED_ATOM``, ``is_isolated_atom``,
  ``partition_isolated``, ``split_isolated``, ``e0s_from_isolated``, ``fit_e0s_lstsq``,
  ``resolve_e0s``, ``compute_statistics``, ``reference_energy``,
  ``load_statistics``
- training: ``MolDataModule`` (Lightning)
- data generation: ``generate_dataset``, ``GeneratedDataset``,
  ``available_methods``

Note that ``molsym.data.collate`` is the *function*; the module's other names
are imported with ``from molsym.data.collate import ...``.

Example
-------
>>> from ase.build import molecule
>>> from molsym.data import atoms_to_graph, collate
>>> batch = collate([atoms_to_graph(molecule("H2O"), cutoff=5.0),
...                  atoms_to_graph(molecule("CH4"), cutoff=5.0)])
>>> batch["ptr"].tolist()
[0, 3, 8]
"""
from __future__ import annotations

import importlib
from typing import Dict, List

# ``collate`` names both a submodule and the function it defines. Binding the
# function here, while this package loads, keeps ``molsym.data.collate`` the
# function for good: the import system sets a package attribute to the
# submodule only when that submodule is first loaded, which is now. (collate.py
# needs only torch and keys, which ``import molsym.data.keys`` loads anyway.)
# Use ``from molsym.data.collate import ...`` for the module's other names.
from molsym.data.collate import collate

#: public name -> module that defines it ("" for a submodule of this package).
_EXPORTS: Dict[str, str] = {
    # submodules
    "keys": "", "units": "", "readers": "",
    # the batch contract
    "FIELDS": "keys", "Field": "keys", "register_graph_field": "keys",
    "VECTOR_KEYS": "keys", "TENSOR_KEYS": "keys",
    # frames and errors
    "Frame": "frame", "make_frame": "frame", "check_frame": "frame",
    "DataError": "errors",
    # unit factors
    "KCAL_PER_MOL_TO_EV": "units", "HARTREE_TO_EV": "units", "BOHR_TO_ANGSTROM": "units",
    "ENERGY_UNITS": "units", "LENGTH_UNITS": "units",
    "energy_factor": "units", "length_factor": "units",
    # readers
    "read_frames": "readers", "load_qm9": "readers", "QM9Data": "readers",
    # graphs and batches
    "neighbor_list": "neighbors",
    "Graph": "graph", "frame_to_graph": "graph", "atoms_to_graph": "graph", "atoms_to_frame": "graph",
    "collate": "collate", "unbatch_sizes": "collate",
    # datasets and stores
    "GraphDataset": "dataset", "load_frames": "dataset",
    "GraphStore": "store", "StoreWriter": "store", "pack": "store", "is_store": "store",
    # splits
    "make_split": "splits", "load_split": "splits", "save_split": "splits",
    "load_or_make_split": "splits",
    # statistics
    "ISOLATED_ATOM": "statistics", "is_isolated_atom": "statistics", "partition_isolated": "statistics", "split_isolated": "readers",
    "e0s_from_isolated": "statistics", "fit_e0s_lstsq": "statistics", "resolve_e0s": "statistics",
    "compute_statistics": "statistics", "reference_energy": "statistics",
    "load_statistics": "statistics",
    # training data module
    "MolDataModule": "datamodule",
    # data generation
    "generate_dataset": "generate", "GeneratedDataset": "generate", "available_methods": "generate",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    """Import the module that defines ``name`` on first access and cache it."""
    try:
        where = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    if where == "":
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
