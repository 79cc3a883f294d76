"""The physics test suite every molsym force field passes (and any of yours can).

Each ``check_*`` function takes a model, or a zero-argument factory returning
one, runs it on small random systems and raises ``AssertionError`` with the
largest error found when a law of physics is broken; it returns that error
otherwise. Tolerances default to 1e-10 in float64 and 1e-4 in float32
(absolute and relative), from the model's ``dtype``.

>>> import torch
>>> from molsym.nn import build_model
>>> from molsym.nn.testing import check_o3_equivariance
>>> model = build_model({"representation": {"name": "painn", "hidden": 8, "num_layers": 1},
...                      "species": [1, 6, 8], "cutoff": 3.0})
>>> check_o3_equivariance(model) < 1e-10
True
"""
from __future__ import annotations

import copy
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from molsym.data import keys as K
from molsym.data.collate import collate
from molsym.data.frame import make_frame
from molsym.data.graph import frame_to_graph
from molsym.nn.grad import edge_vectors

__all__ = [
    "check_o3_equivariance", "check_permutation", "check_finite_difference_forces",
    "check_finite_difference_stress", "check_batch_consistency", "check_isolated_atom",
    "check_cutoff_smoothness", "run_physics_suite", "random_molecule", "random_crystal",
    "random_orthogonal", "transform_graph", "default_tolerance",
]

ModelLike = Union[nn.Module, Callable[[], nn.Module]]
Graph = Dict[str, torch.Tensor]


# -- systems -------------------------------------------------------------------
def default_tolerance(dtype: torch.dtype) -> float:
    """1e-10 for float64, 1e-4 for float32."""
    return 1e-10 if dtype == torch.float64 else 1e-4


def _model(model: ModelLike) -> nn.Module:
    return model if isinstance(model, nn.Module) else model()


def _place(rng: np.random.Generator, n: int, min_dist: float, cell: Optional[np.ndarray] = None,
           box: float = 1.0) -> np.ndarray:
    """``n`` random points at least ``min_dist`` Å apart (minimum image when ``cell`` is given).

    Without a cell the points are Cartesian in a cube of side ``box``; with one
    they are fractional coordinates in ``[0, 1)``.
    """
    pos: List[np.ndarray] = []
    while len(pos) < n:
        p = rng.uniform(0.0, 1.0 if cell is not None else box, 3)
        d = p - np.array(pos) if pos else np.zeros((0, 3))
        if cell is not None:
            d = (d - np.round(d)) @ cell
        if np.all(np.linalg.norm(d, axis=-1) >= min_dist):
            pos.append(p)
    return np.array(pos)


def random_molecule(species: Sequence[int], n_atoms: int = 6, seed: int = 0, box: float = 3.0,
                    min_dist: float = 0.9) -> dict:
    """A non-periodic frame of ``n_atoms`` random atoms of ``species`` in a cube of side ``box`` Å."""
    rng = np.random.default_rng(seed)
    z = rng.choice(np.asarray(species), size=n_atoms)
    return make_frame(z, _place(rng, n_atoms, min_dist, box=box))


def random_crystal(species: Sequence[int], n_atoms: int = 4, seed: int = 0, min_dist: float = 1.0) -> dict:
    """A small periodic frame in a triclinic cell (about 4 Å edges, no right angle)."""
    rng = np.random.default_rng(seed)
    cell = np.array([[4.0, 0.0, 0.0], [0.9, 4.2, 0.0], [0.6, -0.7, 3.9]]) + rng.uniform(-0.1, 0.1, (3, 3))
    z = rng.choice(np.asarray(species), size=n_atoms)
    frac = _place(rng, n_atoms, min_dist, cell=cell)
    return make_frame(z, frac @ cell, cell=cell, pbc=True)


def random_orthogonal(generator: torch.Generator, reflect: bool) -> torch.Tensor:
    """A random 3x3 rotation (``det = +1``), or a rotation times ``-1`` when ``reflect``; float64."""
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return -q if reflect else q


def transform_graph(graph: Graph, rotation: Optional[torch.Tensor] = None, translation: Optional[torch.Tensor] = None,
                    perm: Optional[torch.Tensor] = None) -> Graph:
    """Rotate (``x → x Rᵀ``), translate and/or permute the atoms of a graph.

    Cells rotate with the positions; integer shifts stay. ``perm`` reorders
    every per-atom field (``new[k] = old[perm[k]]``) of a single graph and
    relabels ``edge_index``.
    """
    g = dict(graph)
    dtype = g[K.POS].dtype
    pos = g[K.POS].double()  # transform in float64 and round once: a float32 check sees the model's error only
    if rotation is not None:
        R = rotation.double()
        pos = pos @ R.T
        keys = [K.CELL] + [key for key in K.VECTOR_KEYS if key in g and key != K.POS]
        for key in keys:
            g[key] = (g[key].double() @ R.T).to(g[key].dtype)
    if translation is not None:
        pos = pos + translation.double()
    g[K.POS] = pos.to(dtype)
    if perm is not None:
        if g[K.NUM_ATOMS].numel() != 1:
            raise ValueError("transform_graph permutes single graphs only")
        inverse = torch.argsort(perm)
        for key in K.node_keys(g):
            g[key] = g[key][perm]
        g[K.EDGE_INDEX] = inverse[g[K.EDGE_INDEX]]
    return g


def _systems(model: nn.Module, seed: int) -> List[Graph]:
    """Two molecules and one triclinic crystal, as single graphs in the model's dtype."""
    sp, rc, dt = model.species, model.cutoff, model.dtype
    frames = [random_molecule(sp, 5, seed), random_molecule(sp, 7, seed + 1, box=3.5),
              random_crystal(sp, 4, seed + 2)]
    return [frame_to_graph(f, rc, dt) for f in frames]


def _err(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest error relative to max(1, |b|): absolute for small values, relative for large."""
    a, b = a.detach(), b.detach()
    return float(((a - b).abs() / b.abs().clamp(min=1.0)).max()) if a.numel() else 0.0


def _assert(err: float, tol: float, what: str) -> float:
    assert err <= tol, f"{what}: error {err:.3e} > tolerance {tol:.1e}"
    return err


# -- checks --------------------------------------------------------------------
def check_o3_equivariance(model: ModelLike, seed: int = 0, tol: Optional[float] = None) -> float:
    """Energy invariant, forces rotate, stress → R S Rᵀ under random O(3) + translation.

    Tries a rotation and a rotation-reflection on a batch of two molecules and
    a periodic triclinic crystal.
    """
    model = _model(model)
    tol = default_tolerance(model.dtype) if tol is None else tol
    batch = collate(_systems(model, seed))
    ref = model(batch, compute_forces=True, compute_stress=True)
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for reflect in (False, True):
        R = random_orthogonal(gen, reflect)
        t = torch.randn(3, generator=gen, dtype=torch.float64) * 3.0
        out = model(transform_graph(batch, R, t), compute_forces=True, compute_stress=True)
        Rd = R.to(model.dtype)
        kind = "reflection" if reflect else "rotation"
        worst = max(worst, _assert(_err(out[K.ENERGY], ref[K.ENERGY]), tol, f"energy under {kind}"))
        worst = max(worst, _assert(_err(out[K.FORCES], ref[K.FORCES] @ Rd.T), tol, f"forces under {kind}"))
        rotated = Rd @ ref[K.STRESS] @ Rd.T
        worst = max(worst, _assert(_err(out[K.STRESS], rotated), tol, f"stress under {kind}"))
    assert ref[K.STRESS][-1].abs().max() > 0, "stress of the periodic graph is zero: test is void"
    return worst


def check_permutation(model: ModelLike, seed: int = 0, tol: Optional[float] = None) -> float:
    """Permuting atoms permutes node energies and forces and leaves energy and stress unchanged."""
    model = _model(model)
    tol = default_tolerance(model.dtype) if tol is None else tol
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for g in _systems(model, seed):
        n = int(g[K.NUM_ATOMS][0])
        perm = torch.randperm(n, generator=gen)
        ref = model(g, compute_forces=True, compute_stress=True)
        out = model(transform_graph(g, perm=perm), compute_forces=True, compute_stress=True)
        for key in (K.ENERGY, K.STRESS):
            worst = max(worst, _assert(_err(out[key], ref[key]), tol, f"{key} under permutation"))
        for key in (K.NODE_ENERGY, K.FORCES):
            worst = max(worst, _assert(_err(out[key], ref[key][perm]), tol, f"{key} under permutation"))
    return worst


def _float64_copy(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).to(torch.float64).eval()


def _energy_at(model: nn.Module, g: Graph, pos: torch.Tensor, cell: torch.Tensor) -> float:
    h = dict(g)
    h[K.POS], h[K.CELL] = pos, cell
    with torch.no_grad():
        return float(model(h, compute_forces=False)[K.ENERGY].sum())


def check_finite_difference_forces(model: ModelLike, seed: int = 0, step: float = 2e-5,
                                   tol: float = 1e-6) -> float:
    """Forces equal central finite differences of the energy (run in a float64 copy).

    The precision of the checked maths is what matters here; float32 rounding
    would hide it, so the model is copied to float64 first.
    """
    model = _float64_copy(_model(model))
    worst = 0.0
    for g in _systems(model, seed):
        forces = model(g)[K.FORCES]
        pos, cell = g[K.POS], g[K.CELL]
        fd = torch.zeros_like(pos)
        for i in range(pos.shape[0]):
            for a in range(3):
                d = torch.zeros_like(pos)
                d[i, a] = step
                fd[i, a] = -(_energy_at(model, g, pos + d, cell) - _energy_at(model, g, pos - d, cell)) / (2 * step)
        worst = max(worst, _assert(_err(forces, fd), tol, "forces vs finite differences"))
    return worst


def check_finite_difference_stress(model: ModelLike, seed: int = 0, step: float = 1e-5,
                                   tol: float = 1e-6) -> float:
    """Stress equals ``(1/V) ∂E/∂ε`` by central differences of a symmetric strain (float64 copy)."""
    model = _float64_copy(_model(model))
    g = _systems(model, seed)[-1]
    stress = model(g, compute_stress=True)[K.STRESS][0]
    pos, cell = g[K.POS], g[K.CELL]
    volume = float(torch.linalg.det(cell[0]).abs())
    fd = torch.zeros(3, 3, dtype=torch.float64)
    for a in range(3):
        for b in range(3):
            eps = torch.zeros(3, 3, dtype=torch.float64)
            eps[a, b] += 0.5 * step
            eps[b, a] += 0.5 * step
            plus = _energy_at(model, g, pos + pos @ eps, cell + cell @ eps)
            minus = _energy_at(model, g, pos - pos @ eps, cell - cell @ eps)
            fd[a, b] = (plus - minus) / (2 * step * volume)
    return _assert(_err(stress, fd), tol, "stress vs finite differences")


def check_batch_consistency(model: ModelLike, seed: int = 0, tol: Optional[float] = None) -> float:
    """A batch gives each graph's results alone, and no gradient flows between graphs."""
    model = _model(model)
    tol = default_tolerance(model.dtype) if tol is None else tol
    graphs = _systems(model, seed)
    batch = collate(graphs)
    out = model(batch, compute_forces=True, compute_stress=True)
    sizes = batch[K.NUM_ATOMS].tolist()
    start, worst = 0, 0.0
    for b, g in enumerate(graphs):
        alone = model(g, compute_forces=True, compute_stress=True)
        sl = slice(start, start + sizes[b])
        worst = max(worst, _assert(_err(out[K.ENERGY][b:b + 1], alone[K.ENERGY]), tol, f"energy of graph {b}"))
        worst = max(worst, _assert(_err(out[K.STRESS][b:b + 1], alone[K.STRESS]), tol, f"stress of graph {b}"))
        worst = max(worst, _assert(_err(out[K.NODE_ENERGY][sl], alone[K.NODE_ENERGY]), tol, f"node energy of {b}"))
        worst = max(worst, _assert(_err(out[K.FORCES][sl], alone[K.FORCES]), tol, f"forces of graph {b}"))
        start += sizes[b]
    # gradient of each graph's energy with respect to the other graphs' atoms is exactly zero
    pos = batch[K.POS].detach().clone().requires_grad_(True)
    energy = model({**batch, K.POS: pos}, compute_forces=False)[K.ENERGY]
    for b in range(len(graphs)):
        (grad,) = torch.autograd.grad(energy[b], pos, retain_graph=True)
        other = batch[K.BATCH] != b
        leak = float(grad[other].abs().max())
        assert leak == 0.0, f"gradient leaks from graph {b} to other graphs: {leak:.3e}"
        assert grad[~other].abs().max() > 0, f"graph {b}'s energy does not depend on its own atoms"
    return worst


def check_isolated_atom(model: ModelLike, tol: Optional[float] = None) -> float:
    """An atom with no neighbours gets exactly its E0 and zero force, alone or beside a molecule."""
    model = _model(model)
    tol = default_tolerance(model.dtype) if tol is None else tol
    e0s = model.e0s
    worst = 0.0
    for z in model.species:
        g = frame_to_graph(make_frame([z], [[0.3, -0.2, 0.1]]), model.cutoff, model.dtype)
        out = model(g)
        expected = torch.tensor([e0s[z]], dtype=model.dtype)
        worst = max(worst, _assert(_err(out[K.ENERGY], expected), tol, f"energy of an isolated Z={z}"))
        assert float(out[K.FORCES].abs().max()) == 0.0, f"an isolated Z={z} feels a force"
    # beside a molecule, far beyond the cutoff
    mol = random_molecule(model.species, 5, seed=3)
    z = model.species[0]
    far = np.array([[3.0 * model.cutoff + 10.0, 0.0, 0.0]])
    frame = make_frame(np.append(mol["atomic_numbers"], z), np.vstack([mol["pos"], far]))
    out = model(frame_to_graph(frame, model.cutoff, model.dtype))
    expected = torch.tensor([e0s[z]], dtype=model.dtype)
    worst = max(worst, _assert(_err(out[K.NODE_ENERGY][-1:], expected), tol, "energy of a far atom"))
    assert float(out[K.FORCES][-1].abs().max()) == 0.0, "an atom beyond the cutoff feels a force"
    return worst


def check_cutoff_smoothness(model: ModelLike, tol: Optional[float] = None) -> float:
    """Energy and force go smoothly to their separated values as an atom crosses the cutoff.

    Atom B approaches atom A (bonded to C and D, a non-planar, non-degenerate
    start) along a line, so only the A–B distance crosses ``r_c``. Checks: beyond ``r_c`` the energy equals the
    separated one; at ``r_c − η`` the energy difference and the force on B
    are small and shrink at least quadratically in ``η`` (float64 only).
    """
    model = _model(model)
    rc, dt = model.cutoff, model.dtype
    tol = default_tolerance(dt) if tol is None else tol
    za, zb, zc, zd = (model.species * 4)[:4]

    def run(r: float):
        frame = make_frame([za, zc, zd, zb], [[0.0, 0.0, 0.0], [-1.1, 0.2, 0.0], [-0.3, -0.9, 0.7], [r, 0.0, 0.0]])
        out = model(frame_to_graph(frame, rc, dt))
        return float(out[K.ENERGY][0].detach()), float(out[K.FORCES][3].detach().norm())

    far_e, far_f = run(rc + 1e-3)
    sep_e, _ = run(rc + 5.0)
    worst = _assert(abs(far_e - sep_e) / max(1.0, abs(sep_e)), tol, "energy just beyond the cutoff")
    assert far_f == 0.0, "an atom just beyond the cutoff feels a force"
    # η small enough that the lowest order dominates (terms of opposite sign and
    # different orders can cancel at larger η and fake a non-smooth ratio)
    inside = [(eta,) + run(rc - eta) for eta in (1e-3 * rc, 2e-3 * rc, 1e-3 * rc, 1e-4 * rc)]
    loose = max(tol, 1e-7)
    worst = max(worst, _assert(abs(inside[3][1] - sep_e) / max(1.0, abs(sep_e)), loose,
                               "energy just inside the cutoff"))
    worst = max(worst, _assert(inside[2][2], 100 * loose, "force just inside the cutoff"))
    if dt == torch.float64:
        d1, d2 = abs(inside[0][1] - sep_e), abs(inside[1][1] - sep_e)
        assert d2 > 0, "the approaching atom changes nothing inside the cutoff: test is void"
        assert d2 / max(d1, 1e-300) > 3.5, (
            f"energy does not vanish smoothly at the cutoff: ΔE({2e-3 * rc:.4f} Å)/ΔE({1e-3 * rc:.4f} Å) = "
            f"{d2 / max(d1, 1e-300):.2f}, expected > 3.5 (at least quadratic)")
    return worst


#: Every check, by name: what :func:`run_physics_suite` runs.
CHECKS = {
    "o3_equivariance": check_o3_equivariance,
    "permutation": check_permutation,
    "finite_difference_forces": check_finite_difference_forces,
    "finite_difference_stress": check_finite_difference_stress,
    "batch_consistency": check_batch_consistency,
    "isolated_atom": check_isolated_atom,
    "cutoff_smoothness": check_cutoff_smoothness,
}


def run_physics_suite(model: ModelLike) -> Dict[str, float]:
    """Run every check on ``model``; returns ``{check name: largest error}`` or raises."""
    model = _model(model)
    return {name: check(model) for name, check in CHECKS.items()}
