"""collate: edge_index offsets, batch/ptr/num_atoms, per-level concatenation."""
import numpy as np
import pytest
import torch

from molsym.data import keys as K
from molsym.data.collate import collate, unbatch_sizes
from molsym.data.frame import make_frame
from molsym.data.graph import frame_to_graph


def _graphs(dtype, sizes=(3, 5, 1, 4), seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for n in sizes:
        f = make_frame(rng.choice([1, 6, 8], n), rng.uniform(-1.5, 1.5, (n, 3)), energy=float(rng.normal()),
                       forces=rng.normal(size=(n, 3)), stress=rng.normal(size=(3, 3)))
        out.append(frame_to_graph(f, cutoff=2.5, dtype=dtype))
    return out


def test_batch_ptr_num_atoms(dtype):
    graphs = _graphs(dtype)
    b = collate(graphs)
    sizes = [g[K.NUM_ATOMS].item() for g in graphs]
    assert b[K.NUM_ATOMS].tolist() == sizes
    assert b[K.PTR].tolist() == [0, *np.cumsum(sizes).tolist()]
    assert b[K.BATCH].tolist() == sum(([k] * n for k, n in enumerate(sizes)), [])
    assert unbatch_sizes(b) == sizes


def test_edge_index_offsets_and_vectors(dtype):
    graphs = _graphs(dtype)
    b = collate(graphs)
    assert b[K.EDGE_INDEX].shape[1] == sum(g[K.EDGE_INDEX].shape[1] for g in graphs)
    start, e0 = 0, 0
    for g in graphs:
        e = g[K.EDGE_INDEX].shape[1]
        assert torch.equal(b[K.EDGE_INDEX][:, e0:e0 + e], g[K.EDGE_INDEX] + start)
        start, e0 = start + g[K.NUM_ATOMS].item(), e0 + e
    # each edge connects atoms of the same graph, and its vector is unchanged by batching
    ei = b[K.EDGE_INDEX]
    assert torch.equal(b[K.BATCH][ei[0]], b[K.BATCH][ei[1]])
    vec_b = b[K.POS][ei[1]] - b[K.POS][ei[0]]
    vec_g = torch.cat([g[K.POS][g[K.EDGE_INDEX][1]] - g[K.POS][g[K.EDGE_INDEX][0]] for g in graphs])
    assert torch.equal(vec_b, vec_g)


def test_per_level_concatenation(dtype):
    graphs = _graphs(dtype)
    b = collate(graphs)
    for key in (K.POS, K.FORCES, K.ATOMIC_NUMBERS, K.EDGE_SHIFT, K.ENERGY, K.CELL, K.PBC, K.STRESS):
        assert torch.equal(b[key], torch.cat([g[key] for g in graphs])), key
    assert b[K.ENERGY].shape == (4,) and b[K.CELL].shape == (4, 3, 3) and b[K.STRESS].shape == (4, 3, 3)
    assert b[K.POS].dtype == dtype and b[K.EDGE_INDEX].dtype == torch.long


def test_extra_graph_property_collated_like_energy():
    graphs = _graphs(torch.float64, sizes=(2, 3))
    for k, g in enumerate(graphs):
        g["homo"] = torch.tensor([float(k) - 7.0])
    b = collate(graphs)
    assert b["homo"].tolist() == [-7.0, -6.0]


def test_mismatched_keys_and_empty_list_are_refused():
    a, b = _graphs(torch.float64, sizes=(2, 3))
    del b[K.STRESS]
    with pytest.raises(ValueError, match="different keys"):
        collate([a, b])
    with pytest.raises(ValueError, match="empty"):
        collate([])
