"""Concatenate graphs into a batch using the field levels of :mod:`molsym.data.keys`."""
from __future__ import annotations

from typing import Dict, List, Sequence

import torch

from molsym.data import keys as K


def collate(graphs: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Batch single graphs: node/edge/graph fields are concatenated, ``edge_index``
    is offset by the atoms before it, and ``batch``/``ptr``/``num_atoms`` rebuilt.

    Every graph must carry the same keys.
    """
    if len(graphs) == 0:
        raise ValueError("cannot collate an empty list of graphs")
    first = graphs[0]
    keys = set(first)
    for g in graphs[1:]:
        if set(g) != keys:
            raise ValueError(f"graphs carry different keys: {sorted(keys ^ set(g))}")
    num_atoms = torch.cat([g[K.NUM_ATOMS] for g in graphs])
    ptr = torch.zeros(len(graphs) + 1, dtype=torch.long)
    ptr[1:] = torch.cumsum(num_atoms, 0)
    out: Dict[str, torch.Tensor] = {K.NUM_ATOMS: num_atoms, K.PTR: ptr,
                                    K.BATCH: torch.repeat_interleave(torch.arange(len(graphs)), num_atoms)}
    for key in keys:
        if key in out:
            continue
        lvl = K.level(key)
        if lvl == "index":
            out[key] = torch.cat([g[key] + ptr[i] for i, g in enumerate(graphs)], dim=1)
        else:
            out[key] = torch.cat([g[key] for g in graphs], dim=0)
    return out


def unbatch_sizes(batch: Dict[str, torch.Tensor]) -> List[int]:
    """Atoms per graph as a Python list."""
    return batch[K.NUM_ATOMS].tolist()
