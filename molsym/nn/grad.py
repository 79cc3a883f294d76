"""The one autograd wrapper: energy → forces ``−∂E/∂pos`` and stress ``(1/V) ∂E/∂ε``.

Every force field in molsym computes its energy from edge vectors only; this
module builds those vectors from positions, integer cell shifts and cells, so
a symmetric strain ``ε`` applied to positions and cells (``x → x (1 + ε)``)
flows into the energy and the stress is one more gradient of the same graph.
``create_graph`` is set only while training (forces in the loss need second
derivatives); at inference the graph is freed at once.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Dict, List, Tuple

import torch

from molsym.data import keys as K

__all__ = ["edge_vectors", "energy_and_gradients", "differentiable_edges", "attach_gradients"]

Batch = Dict[str, torch.Tensor]


def edge_vectors(pos: torch.Tensor, edge_index: torch.Tensor, edge_shift: torch.Tensor,
                 cell: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """``pos[receiver] - pos[sender] + edge_shift @ cell[graph]``: ``[E, 3]`` Å.

    Parameters
    ----------
    pos : [N, 3] Å
    edge_index : [2, E] (sender, receiver)
    edge_shift : [E, 3] integer cell shifts
    cell : [B, 3, 3] Å, lattice vectors as rows
    batch : [N] graph index of every atom
    """
    send, recv = edge_index[0], edge_index[1]
    vec = pos[recv] - pos[send]
    if edge_shift.numel():
        vec = vec + torch.einsum("ei,eij->ej", edge_shift, cell[batch[send]])
    return vec


def _strain(batch: Batch, pos: torch.Tensor, cell: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Apply a zero symmetric strain that requires grad: returns (strain, pos, cell)."""
    n_graphs = cell.shape[0]
    strain = torch.zeros(n_graphs, 3, 3, dtype=pos.dtype, device=pos.device).requires_grad_(True)
    sym = 0.5 * (strain + strain.transpose(1, 2))
    pos = pos + torch.einsum("ni,nij->nj", pos, sym[batch[K.BATCH]])
    cell = cell + torch.bmm(cell, sym)
    return strain, pos, cell


def energy_and_gradients(energy_fn: Callable[[Batch, torch.Tensor], Dict[str, torch.Tensor]], batch: Batch,
                         compute_forces: bool = True, compute_stress: bool = False,
                         training: bool = False) -> Dict[str, torch.Tensor]:
    """Run ``energy_fn(batch, edge_vec)`` and differentiate its ``energy``.

    Parameters
    ----------
    energy_fn : callable
        ``(batch, edge_vec [E, 3]) -> {"energy": [B], "node_energy": [N], ...}``.
    batch : dict
        A graph batch (:mod:`molsym.data.keys`); needs ``pos``, ``edge_index``,
        ``edge_shift``, ``cell``, ``batch`` (and ``pbc`` for stress).
    compute_forces, compute_stress : bool
    training : bool
        Keep the graph of the derivatives (``create_graph``) for a force loss.

    Gradients are enabled inside even under ``torch.no_grad()``; they cannot
    be under ``torch.inference_mode()`` (run Lightning with ``inference_mode=False``).

    Returns
    -------
    dict with ``energy [B]`` eV, ``node_energy [N]`` eV, ``forces [N, 3]`` eV/Å
    (if asked) and ``stress [B, 3, 3]`` eV/Å³ (if asked; zero for graphs that
    are not periodic or have no volume).
    """
    with torch.enable_grad() if (compute_forces or compute_stress) else contextlib.nullcontext():
        edge_vec, inputs = differentiable_edges(batch, compute_forces, compute_stress)
        out = dict(energy_fn(batch, edge_vec))
        return attach_gradients(out, batch, inputs, compute_forces, compute_stress, training)


def differentiable_edges(batch: Batch, compute_forces: bool,
                         compute_stress: bool) -> Tuple[torch.Tensor, List[torch.Tensor]]:
    """Edge vectors ``[E, 3]`` built from positions (and a zero strain) that require grad.

    Returns the edge vectors and the tensors to differentiate the energy by:
    ``[pos]`` for forces, then the strain ``[B, 3, 3]`` for stress. The first
    half of :func:`energy_and_gradients`, TorchScript-compatible (the compiled
    inference path of :mod:`molsym.calculator.compile` calls it too).
    """
    pos = batch[K.POS]
    cell = batch[K.CELL]
    inputs: List[torch.Tensor] = []
    if compute_forces:
        if not pos.requires_grad:
            pos = pos.detach().requires_grad_(True)
        inputs.append(pos)
    if compute_stress:
        strain, pos_used, cell_used = _strain(batch, pos, cell)
        inputs.append(strain)
    else:
        pos_used, cell_used = pos, cell
    edge_vec = edge_vectors(pos_used, batch[K.EDGE_INDEX], batch[K.EDGE_SHIFT], cell_used, batch[K.BATCH])
    return edge_vec, inputs


def attach_gradients(out: Dict[str, torch.Tensor], batch: Batch, inputs: List[torch.Tensor],
                     compute_forces: bool, compute_stress: bool, training: bool) -> Dict[str, torch.Tensor]:
    """Add ``forces = −∂E/∂pos`` and ``stress = (1/V) ∂E/∂ε`` to ``out``, the energies of
    :func:`differentiable_edges`' edge vectors (second half of :func:`energy_and_gradients`)."""
    if len(inputs) == 0:
        return out
    energy = out[K.ENERGY]
    grads: List[torch.Tensor] = []
    if energy.requires_grad:
        raw = torch.autograd.grad([energy.sum()], inputs, create_graph=training, allow_unused=True)
        for x, g in zip(inputs, raw):
            grads.append(torch.zeros_like(x) if g is None else g)
    else:  # nothing depends on positions (e.g. only isolated atoms and frozen weights)
        grads = [torch.zeros_like(x) for x in inputs]
    if compute_forces:
        out[K.FORCES] = -grads[0]
    if compute_stress:
        cell = batch[K.CELL]
        volume = torch.linalg.det(cell).abs()                                         # [B]
        periodic = volume > 0
        if K.PBC in batch:
            periodic = batch[K.PBC].any(dim=1) & periodic
        safe = torch.where(periodic, volume, torch.ones_like(volume))
        stress = grads[-1] / safe.view(-1, 1, 1)
        out[K.STRESS] = torch.where(periodic.view(-1, 1, 1), stress, torch.zeros_like(stress))
    return out
