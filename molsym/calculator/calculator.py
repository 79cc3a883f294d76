"""The ASE calculator for molsym force fields (one model or a committee)."""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.data import chemical_symbols
from ase.stress import full_3x3_to_voigt_6_stress

from molsym.calculator.committee import is_committee_file, read_committee
from molsym.calculator.compile import check_mode, compile_model
from molsym.calculator.loading import load_force_field
from molsym.calculator.skin import SkinNeighborList
from molsym.data.graph import atoms_to_frame, atoms_to_graph, frame_to_graph

ModelLike = Union[str, Path, torch.nn.Module]

_DTYPES = {"float32": torch.float32, "float64": torch.float64,
           torch.float32: torch.float32, torch.float64: torch.float64}


class UnknownElementError(ValueError):
    """Atoms contain an element the model was not trained on."""


def _element_names(zs) -> str:
    return ", ".join(f"{chemical_symbols[int(z)]} (Z={int(z)})" for z in zs)


class MolSymCalculator(Calculator):
    """ASE calculator that evaluates one molsym model or the mean of a committee.

    The atoms go through the same atoms → graph path as training
    (:func:`molsym.data.graph.frame_to_graph`); the neighbour list is reused
    between calls with a Verlet skin (:class:`SkinNeighborList`), which gives
    the same edges as a fresh list. Units: eV, Å, eV/Å, eV/Å³ (molsym's
    internal units, so no conversion factor is needed).

    Parameters
    ----------
    model : str, Path, torch.nn.Module, or a list of them
        A model file written by :func:`molsym.nn.io.save_model` (``molsym
        export``), a TorchScript one (``molsym export --compile script``), a
        training checkpoint (``.ckpt``, EMA weights), a ``ForceField``, or
        several of these (a committee: results are the mean, and
        ``energy_std`` [eV], ``forces_std`` [n, 3] eV/Å, ``energies_std``
        [n] eV and ``max_force_std`` eV/Å give the spread across members).
        A committee file (:mod:`molsym.calculator.committee`, written by
        ``molsym train`` with a ``committee:`` section) stands for its members.
    device : str
        ``"cpu"`` or ``"cuda"``.
    dtype : str or torch.dtype, optional
        ``float32`` or ``float64``; default: the dtype the model was saved in.
        Torch's global default dtype is never changed.
    skin : float
        Verlet skin in Å; ``0`` rebuilds the neighbour list on every call.
    compile : str, optional
        Inference path, see :func:`molsym.calculator.compile.compile_model`
        (``None`` = eager, ``"script"`` = TorchScript; ``"compile"``,
        torch.compile, was removed). A compiled model runs once on a
        two-atom graph here, so that a failure is raised at construction.

    Raises
    ------
    molsym.nn.io.ModelFileError
        When a model file cannot be loaded (see
        :func:`molsym.calculator.loading.load_force_field`); the one-line
        message names the file, also for one bad member of a committee.
    molsym.calculator.CompileError
        When ``compile`` is ``"compile"`` (removed, the message says why)
        or a model cannot take the requested path.

    Results
    -------
    ``energy`` and ``free_energy`` (eV), ``forces`` [n, 3] (eV/Å),
    ``energies`` [n] per-atom (eV), ``stress`` (Voigt, eV/Å³, only when all
    three axes are periodic). A committee adds the spreads (standard
    deviations over members): ``energy_std`` (eV), ``forces_std`` [n, 3]
    (eV/Å, per component), ``energies_std`` [n] (eV) and ``max_force_std``
    (eV/Å): the largest over atoms of ``sqrt(Σ_c forces_std[i, c]²)``, the
    root-mean-square distance of the members' force vectors on atom ``i``
    from their mean (:func:`max_force_std`).

    Examples
    --------
    >>> from ase.build import molecule
    >>> atoms = molecule("H2O")
    >>> atoms.calc = MolSymCalculator("model.pt")  # doctest: +SKIP
    >>> atoms.get_potential_energy()  # doctest: +SKIP
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(self, model: Union[ModelLike, Sequence[ModelLike]], device: str = "cpu",
                 dtype: Optional[Union[str, torch.dtype]] = None, skin: float = 0.5,
                 compile: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        check_mode(compile)  # before loading anything
        specs = list(model) if isinstance(model, (list, tuple)) else [model]
        specs = [member for spec in specs for member in _members(spec)]
        if not specs:
            raise ValueError("MolSymCalculator needs at least one model")
        self.device = torch.device(device)
        if dtype is not None and dtype not in _DTYPES:
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        self.dtype = _DTYPES[dtype] if dtype is not None else None
        loaded = [self._prepare(m) for m in specs]
        self.dtype = self.dtype or _model_dtype(loaded[0])
        self.models: List[torch.nn.Module] = [m.to(self.dtype) for m in loaded]
        self.cutoffs = [float(m.cutoff) for m in self.models]
        species = set(int(z) for z in self.models[0].species)
        for m in self.models[1:]:
            species &= set(int(z) for z in m.species)
        self.species = sorted(species)
        self._allowed = np.zeros(119, dtype=bool)
        self._allowed[self.species] = True
        self.compile_mode = compile
        self._runners = []
        for m, cutoff in zip(self.models, self.cutoffs):
            # a compiled model runs once now, so that a failure is raised here, not at the first MD step
            example = (None if compile in (None, "eager")
                       else _example_graph(m, cutoff, self.dtype, self.device))
            self._runners.append(compile_model(m, compile, example=example))
        self.neighbors = SkinNeighborList(max(self.cutoffs), skin)

    def _prepare(self, spec: ModelLike) -> torch.nn.Module:
        if isinstance(spec, torch.jit.ScriptModule):
            # a deep copy of a TorchScript module has parameters that are not leaves (their
            # requires_grad cannot be switched off), so the module is used as it is
            model = spec.to(self.device)
        elif isinstance(spec, torch.nn.Module):
            model = copy.deepcopy(spec).to(self.device)
        else:  # a model file, a TorchScript export or a checkpoint; failures are ModelFileError
            model = load_force_field(spec, device=self.device)
        model.eval()
        for p in model.parameters():  # forces need grads w.r.t. positions only
            p.requires_grad_(False)
        return model

    # ------------------------------------------------------------------ graph
    def _check_elements(self, numbers: np.ndarray) -> None:
        if numbers.size and (numbers.max() > 118 or not self._allowed[numbers].all()):
            unknown = sorted(set(int(z) for z in numbers) - set(self.species))
            raise UnknownElementError(
                f"element(s) {_element_names(unknown)} not in the model's species "
                f"[{', '.join(chemical_symbols[z] for z in self.species)}]")

    def build_graph(self, atoms, cutoff: Optional[float] = None) -> Dict[str, torch.Tensor]:
        """Graph of ``atoms`` for a model with ``cutoff`` (default: the largest)."""
        frame = atoms_to_frame(atoms)
        cutoff = self.neighbors.cutoff if cutoff is None else cutoff
        edges = self.neighbors.get(frame["pos"], frame["cell"], frame["pbc"],
                                   frame["atomic_numbers"], cutoff)
        graph = frame_to_graph(frame, cutoff, self.dtype, edges=edges)
        if self.device.type != "cpu":
            graph = {k: v.to(self.device, non_blocking=True) for k, v in graph.items()}
        return graph

    # -------------------------------------------------------------- calculate
    def check_state(self, atoms, tol: float = 1e-15) -> List[str]:
        """What changed since the last call: ASE's ``compare_atoms`` semantics, faster.

        ASE compares with ``np.isclose``, which costs a few hundred µs per MD
        step on small molecules; an absolute difference bound gives the same
        answer.
        """
        old = self.atoms
        if old is None:
            return list(all_changes)
        checked = set(all_changes) - set(self.ignored_changes)
        changes = [name for name in ("cell", "pbc")
                   if name in checked and not _same(getattr(old, name)[:], getattr(atoms, name)[:], tol)]
        names = checked - {"cell", "pbc"}
        first, second = set(old.arrays), set(atoms.arrays)
        changes += sorted(names & (first ^ second))
        changes += [k for k in sorted(names & first & second) if not _same(old.arrays[k], atoms.arrays[k], tol)]
        return changes

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        self._check_elements(atoms.numbers)
        want_stress = "stress" in properties
        if want_stress and not atoms.pbc.all():
            raise PropertyNotImplementedError("stress needs a cell periodic along all three axes")
        outs = []
        graphs: Dict[float, Dict[str, torch.Tensor]] = {}
        for runner, cutoff in zip(self._runners, self.cutoffs):
            if cutoff not in graphs:
                graphs[cutoff] = self.build_graph(atoms, cutoff)
            out = runner(graphs[cutoff], compute_forces=True, compute_stress=want_stress)
            outs.append(out)
        self.results = self._collect(outs, want_stress)

    def _collect(self, outs, want_stress: bool) -> dict:
        keys = ["energy", "node_energy", "forces"] + (["stress"] if want_stress else [])
        if len(outs) == 1:  # fast path: no stacking, one device→host copy per field
            mean = {k: _to_numpy(outs[0][k]) for k in keys}
        else:
            arrays = {k: _to_numpy(torch.stack([o[k].detach() for o in outs])) for k in keys}
            mean = {k: a.mean(axis=0) for k, a in arrays.items()}
        energy = float(mean["energy"].sum())
        results = {"energy": energy, "free_energy": energy,
                   "forces": mean["forces"], "energies": mean["node_energy"]}
        if want_stress:
            results["stress"] = full_3x3_to_voigt_6_stress(mean["stress"][0])
        if len(outs) > 1:
            results["energy_std"] = float(arrays["energy"].std(axis=0).sum())
            results["forces_std"] = arrays["forces"].std(axis=0)
            results["energies_std"] = arrays["node_energy"].std(axis=0)
            results["max_force_std"] = max_force_std(results["forces_std"])
        return results


def max_force_std(forces_std: np.ndarray) -> float:
    """The largest per-atom force spread of a committee, eV/Å.

    ``forces_std [n, 3]`` (eV/Å) holds the standard deviation over members of
    each force component; atom ``i``'s spread ``sqrt(Σ_c forces_std[i, c]²)``
    is the root-mean-square distance of the members' force vectors from
    their mean. 0 for no atoms.
    """
    forces_std = np.asarray(forces_std, dtype=np.float64).reshape(-1, 3)
    return float(np.sqrt((forces_std ** 2).sum(axis=1)).max()) if len(forces_std) else 0.0


def _members(spec):
    """A committee file stands for its member files; anything else for itself."""
    if isinstance(spec, (str, os.PathLike)) and is_committee_file(spec):
        return read_committee(spec)
    return [spec]


def _example_graph(model: torch.nn.Module, cutoff: float, dtype: torch.dtype,
                   device: torch.device) -> Dict[str, torch.Tensor]:
    """Two atoms of the model's first species 1 Å apart: the compile check's input."""
    from ase import Atoms

    z = int(model.species[0])
    graph = atoms_to_graph(Atoms(numbers=[z, z], positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), cutoff, dtype)
    return {k: v.to(device) for k, v in graph.items()}


def _same(a, b, tol: float) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype == bool or b.dtype == bool:
        return bool(np.array_equal(a, b))
    return a.size == 0 or float(np.abs(a - b).max()) <= tol


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    """[...] tensor → float64 numpy array on the host (one copy)."""
    return t.detach().to("cpu", torch.float64).numpy()


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    dt = getattr(model, "dtype", None)
    if isinstance(dt, str):
        dt = _DTYPES.get(dt)
    if isinstance(dt, torch.dtype):
        return dt
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float64
