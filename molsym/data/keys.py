"""The batch contract: every field a graph or a batch of graphs may carry.

A *graph* (one conformation) and a *batch* (several, concatenated) are plain
``Dict[str, torch.Tensor]``. This module is the single place that names the
keys, with their shape, dtype and unit, and says whether a field lives on
atoms (``node``), on edges (``edge``) or on whole molecules (``graph``).
Collation (:func:`molsym.data.collate.collate`) and the permutation tests use
:data:`FIELDS` and nothing else.

Shapes use ``N`` atoms, ``E`` edges, ``B`` graphs in the batch. Units inside
molsym are always eV, Å, eV/Å, eV/Å³; loaders convert on read.

=================  ==========  =========  =========  ============================
key                shape       dtype      unit       meaning
=================  ==========  =========  =========  ============================
``pos``            [N, 3]      float      Å          Cartesian positions
``atomic_numbers`` [N]         int64      –          Z of every atom
``batch``          [N]         int64      –          graph index of every atom
``ptr``            [B+1]       int64      –          atom offsets of each graph
``num_atoms``      [B]         int64      –          atoms per graph
``edge_index``     [2, E]      int64      –          (sender, receiver) atom pairs
``edge_shift``     [E, 3]      float      –          integer cell shifts (PBC)
``cell``           [B, 3, 3]   float      Å          lattice vectors as rows
``pbc``            [B, 3]      bool       –          periodicity per axis
``energy``         [B]         float      eV         total energy
``forces``         [N, 3]      float      eV/Å       forces (−∂E/∂pos)
``stress``         [B, 3, 3]   float      eV/Å³      stress (∂E/∂ε / volume)
``node_energy``    [N]         float      eV         per-atom energy (model out)
``weight``         [B]         float      –          per-graph loss weight
=================  ==========  =========  =========  ============================

The vector from sender ``i`` to receiver ``j`` of edge ``e`` is
``pos[j] - pos[i] + edge_shift[e] @ cell[batch[i]]``.

Any other per-graph float property (for example QM9's ``homo`` or ``alpha``)
may be added with :func:`register_graph_field`; it is then collated like
``energy``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Literal

import torch

Level = Literal["node", "edge", "graph", "index"]

POS = "pos"
ATOMIC_NUMBERS = "atomic_numbers"
BATCH = "batch"
PTR = "ptr"
NUM_ATOMS = "num_atoms"
EDGE_INDEX = "edge_index"
EDGE_SHIFT = "edge_shift"
CELL = "cell"
PBC = "pbc"
ENERGY = "energy"
FORCES = "forces"
STRESS = "stress"
NODE_ENERGY = "node_energy"
WEIGHT = "weight"


@dataclass(frozen=True)
class Field:
    """Description of one batch field."""

    level: Level
    shape: str
    dtype: str
    unit: str
    doc: str


FIELDS: Dict[str, Field] = {
    POS: Field("node", "[N, 3]", "float", "Å", "Cartesian positions"),
    ATOMIC_NUMBERS: Field("node", "[N]", "int64", "", "atomic number Z"),
    FORCES: Field("node", "[N, 3]", "float", "eV/Å", "forces −∂E/∂pos"),
    NODE_ENERGY: Field("node", "[N]", "float", "eV", "per-atom energy"),
    EDGE_INDEX: Field("index", "[2, E]", "int64", "", "(sender, receiver) pairs"),
    EDGE_SHIFT: Field("edge", "[E, 3]", "float", "", "integer cell shifts"),
    CELL: Field("graph", "[B, 3, 3]", "float", "Å", "lattice vectors as rows"),
    PBC: Field("graph", "[B, 3]", "bool", "", "periodic boundary conditions"),
    ENERGY: Field("graph", "[B]", "float", "eV", "total energy"),
    STRESS: Field("graph", "[B, 3, 3]", "float", "eV/Å³", "stress tensor"),
    WEIGHT: Field("graph", "[B]", "float", "", "per-graph loss weight"),
    NUM_ATOMS: Field("graph", "[B]", "int64", "", "atoms per graph"),
    BATCH: Field("node", "[N]", "int64", "", "graph index of each atom"),
    PTR: Field("graph", "[B+1]", "int64", "", "atom offsets"),
}

#: Keys whose values are equivariant Cartesian vectors (rotate with R).
VECTOR_KEYS = (POS, FORCES)
#: Keys whose values are rank-2 Cartesian tensors (transform as R T Rᵀ).
TENSOR_KEYS = (STRESS,)


def register_graph_field(key: str, unit: str = "", doc: str = "", shape: str = "[B]") -> None:
    """Declare an extra per-graph float property (e.g. a QM9 target)."""
    if key in FIELDS and FIELDS[key].level != "graph":
        raise ValueError(f"{key!r} is already a {FIELDS[key].level} field")
    FIELDS[key] = Field("graph", shape, "float", unit, doc)


def level(key: str) -> Level:
    """Return where ``key`` lives: ``node``, ``edge``, ``graph`` or ``index``.

    Unknown keys are treated as per-graph properties, the only kind a user
    adds without registering.
    """
    f = FIELDS.get(key)
    return f.level if f is not None else "graph"


def node_keys(data: Dict[str, torch.Tensor]):
    """Keys of ``data`` that are per-atom fields."""
    return [k for k in data if level(k) == "node"]
