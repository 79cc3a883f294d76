"""Frames and ASE atoms to graphs: the one path shared by training and inference."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch

from molsym.data import keys as K
from molsym.data.frame import Frame, make_frame
from molsym.data.neighbors import neighbor_list

Graph = Dict[str, torch.Tensor]


def atoms_to_frame(atoms, energy_key: Optional[str] = None, forces_key: Optional[str] = None,
                   stress_key: Optional[str] = None) -> Frame:
    """Turn an ``ase.Atoms`` into a frame, reading labels from ``atoms.info``/``arrays``.

    Labels are only read when a key is given; ``"calc"`` reads them from the
    attached single-point calculator.
    """
    labels = {}
    for name, key in (("energy", energy_key), ("forces", forces_key), ("stress", stress_key)):
        if key is None:
            continue
        if key == "calc":
            calc = atoms.calc
            labels[name] = None if calc is None else calc.results.get(name)
        elif name == "forces":
            labels[name] = atoms.arrays.get(key)
        else:
            labels[name] = atoms.info.get(key)
    return make_frame(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc, **labels)


def frame_to_graph(frame: Frame, cutoff: float, dtype: torch.dtype = torch.float64,
                   edges=None) -> Graph:
    """Build a single-graph batch (``B = 1``) following :mod:`molsym.data.keys`.

    ``edges`` may pass a precomputed ``(edge_index, edge_shift)`` pair, as the
    on-disk store does.
    """
    if edges is None:
        edges = neighbor_list(frame["pos"], frame["cell"], frame["pbc"], cutoff)
    edge_index, edge_shift = edges
    n = frame["atomic_numbers"].shape[0]
    g: Graph = {
        K.POS: torch.as_tensor(frame["pos"], dtype=dtype),
        K.ATOMIC_NUMBERS: torch.as_tensor(frame["atomic_numbers"], dtype=torch.long),
        K.EDGE_INDEX: torch.as_tensor(edge_index, dtype=torch.long),
        K.EDGE_SHIFT: torch.as_tensor(edge_shift, dtype=dtype),
        K.CELL: torch.as_tensor(frame["cell"], dtype=dtype).reshape(1, 3, 3),
        K.PBC: torch.as_tensor(frame["pbc"], dtype=torch.bool).reshape(1, 3),
        K.BATCH: torch.zeros(n, dtype=torch.long),
        K.PTR: torch.tensor([0, n], dtype=torch.long),
        K.NUM_ATOMS: torch.tensor([n], dtype=torch.long),
    }
    for key, value in frame.items():
        if key in g or key in (K.POS, K.ATOMIC_NUMBERS, K.CELL, K.PBC):
            continue
        t = torch.as_tensor(np.asarray(value), dtype=dtype)
        if K.level(key) == "graph":
            t = t.reshape(1, *t.shape)
        g[key] = t
    return g


def atoms_to_graph(atoms, cutoff: float, dtype: torch.dtype = torch.float64) -> Graph:
    """``ase.Atoms`` → graph, unlabelled: what the calculator feeds the model."""
    return frame_to_graph(atoms_to_frame(atoms), cutoff, dtype)
