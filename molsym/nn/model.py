"""The force field: representation + energy head + scale/shift + E0 (+ ZBL prior).

Per atom ``i`` of species ``Z_i``::

    ε_i = E0[Z_i] + s_i · (scale · (head(h_i) − head(h_i^iso)) + shift + scale · b[Z_i]) + ZBL_i
    E   = Σ_i ε_i                      (per molecule, by index_add)

``h_i`` are the representation's invariant features, ``h_i^iso`` the features
of an atom of the same species with no neighbours (computed in the same pass).
``s_i`` is the bond switch of :mod:`molsym.nn.short_range`: exactly 1 while
atom ``i`` has a neighbour within ``bond_switch[0]`` × the covalent-radius sum,
0 beyond ``bond_switch[1]`` ×, so the shift (about the atomization energy per
atom) adds no forces in a bound molecule and an atom pulled away loses its
binding within chemical distances. Below ``core_radius`` × the covalent-radius
sum the representation sees a clamped length (constant deeper in), so the
ZBL prior makes a repulsive wall for every pair. ``b`` is a learnable
per-species offset starting at 0 (in units of ``scale``, like the head): the
per-element energy offset, which training could otherwise only reach slowly
through the head. Every term but E0 vanishes for an isolated atom, which gets
exactly its E0 and zero force, and every term is smooth as an atom crosses
the cutoff. Forces and stress come from :func:`molsym.nn.grad.energy_and_gradients`.

Files written before the bond switch existed (no ``bond_switch`` key) load
with :data:`STORED_DEFAULTS`: no core clamp, the shift switched by the
coordination to the cutoff, ``s_i = 1 − exp(−(c_i / 0.1)²)`` on the shift
only, and no ZBL unless it was set.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

import torch
from ase.data import chemical_symbols
from torch import nn

from molsym.data import keys as K
from molsym.nn.grad import energy_and_gradients
from molsym.nn.radial import PolynomialCutoff
from molsym.nn.representations import get_representation
from molsym.nn.short_range import bond_weights, clamp_core, covalent_table, saturate
from molsym.nn.zbl import ZBLRepulsion

__all__ = ["ForceField", "UnknownSpeciesError", "build_model", "parse_dtype", "stored_config", "DEFAULT_CONFIG",
           "STORED_DEFAULTS"]

#: Defaults filled into every config by :func:`build_model`.
DEFAULT_CONFIG: Dict[str, Any] = {
    "cutoff": 5.0,
    "e0s": None,
    "scale": 1.0,
    "shift": 0.0,
    "avg_num_neighbors": 10.0,
    "zbl": True,
    "zbl_factor": 0.6,
    "core_radius": 0.75,
    "bond_switch": [1.5, 2.5],
    "head_hidden": 32,
    "dtype": "float64",
}

#: Values of the short-range keys for a config stored before they existed.
STORED_DEFAULTS: Dict[str, Any] = {"zbl": False, "zbl_factor": 1.0, "core_radius": None, "bond_switch": None}


def stored_config(config: Mapping[str, Any]) -> Dict[str, Any]:
    """A model config read from a file or checkpoint, with :data:`STORED_DEFAULTS` for the keys it lacks."""
    return {**STORED_DEFAULTS, **dict(config)}

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class UnknownSpeciesError(ValueError):
    """An atom's element is not among the species the model was built for."""


def parse_dtype(dtype) -> torch.dtype:
    """``"float32"``/``"float64"`` (or the torch dtype itself) → ``torch.dtype``."""
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    name = str(dtype).replace("torch.", "")
    if name not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return _DTYPES[name]


class ForceField(nn.Module):
    """A machine-learned interatomic potential.

    Parameters
    ----------
    representation : nn.Module
        Graph → invariant per-atom features (see :mod:`molsym.nn.representations.base`).
    species : list of int
        Atomic numbers the model knows, in species-index order.
    cutoff : float
        Neighbour cutoff in Å.
    e0s : mapping Z → eV, optional
        Isolated-atom energies; missing → 0 for every species.
    scale, shift : float
        Scale (eV) of the learned per-atom energy; per-atom shift (eV) of
        every atom with neighbours (switched off smoothly for isolated atoms).
    avg_num_neighbors : float
    zbl : bool
        Add the ZBL short-range repulsion prior.
    zbl_factor : float
        Its pair cutoff, in units of the sum of covalent radii.
    core_radius : float or None
        Below this many covalent-radius sums the representation sees a
        clamped length (:func:`molsym.nn.short_range.clamp_core`); None: off.
    bond_switch : (on, off) or None
        Covalent-radius sums over which a neighbour stops counting for the
        switch ``s_i``; None: the coordination to the cutoff switches the shift only.
    head_hidden : int
        Hidden width of the energy MLP; 0 makes the head linear.
    config : dict, optional
        The :func:`build_model` config, returned by :meth:`to_config`.

    Examples
    --------
    >>> model = build_model({"representation": {"name": "painn", "hidden": 8, "num_layers": 1},
    ...                      "species": [1, 8], "cutoff": 4.0})
    >>> from molsym.data.graph import frame_to_graph
    >>> from molsym.data.frame import make_frame
    >>> g = frame_to_graph(make_frame([8, 1, 1], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]), 4.0)
    >>> out = model(g)
    >>> out["energy"].shape, out["forces"].shape
    (torch.Size([1]), torch.Size([3, 3]))
    """

    #: without a bond switch: coordination (sum of envelope weights) over which the shift switches on
    SHIFT_SWITCH = 0.1
    #: Python-only properties, skipped by TorchScript (see molsym.calculator.compile)
    __jit_unused_properties__ = ["dtype", "e0s"]

    def __init__(self, representation: nn.Module, species: Iterable[int], cutoff: float,
                 e0s: Optional[Mapping[int, float]] = None, scale: float = 1.0, shift: float = 0.0,
                 avg_num_neighbors: float = 10.0, zbl: bool = False, head_hidden: int = 32,
                 config: Optional[Dict[str, Any]] = None, zbl_factor: float = 1.0,
                 core_radius: Optional[float] = None, bond_switch: Optional[Sequence[float]] = None):
        super().__init__()
        self.species = [int(z) for z in species]
        if len(set(self.species)) != len(self.species) or not all(1 <= z <= 118 for z in self.species):
            raise ValueError(f"species must be distinct atomic numbers in 1..118, got {self.species}")
        self.cutoff = float(cutoff)
        self.avg_num_neighbors = float(avg_num_neighbors)
        table = torch.full((119,), -1, dtype=torch.long)
        table[torch.tensor(self.species)] = torch.arange(len(self.species))
        self.register_buffer("z_to_index", table)
        e0s = {} if e0s is None else {int(z): float(e) for z, e in e0s.items()}
        missing = [z for z in self.species if z not in e0s] if e0s else []
        if missing:
            raise ValueError(f"e0s lack an energy for atomic numbers {missing}")
        self._e0s = {z: e0s.get(z, 0.0) for z in self.species}  # exact, whatever the dtype
        self._e0_table: Optional[torch.Tensor] = None  # [S], rebuilt from _e0s for each dtype/device
        self.scale = float(scale)
        self.shift = float(shift)
        self.species_offset = nn.Parameter(torch.zeros(len(self.species)))    # [S], × scale eV
        self.representation = representation
        if head_hidden < 0:
            raise ValueError(f"head_hidden must be >= 0 (0: a linear head), got {head_hidden}")
        self.head = (nn.Sequential(nn.Linear(representation.out_features, 1)) if head_hidden == 0 else
                     nn.Sequential(nn.Linear(representation.out_features, head_hidden), nn.SiLU(),
                                   nn.Linear(head_hidden, 1)))
        self.envelope = PolynomialCutoff(self.cutoff)
        self.shift_switch = float(self.SHIFT_SWITCH)
        self.register_buffer("covalent_radii", covalent_table(self.species), persistent=False)
        self.core_radius = 0.0 if core_radius is None else float(core_radius)   # 0: no clamp
        if self.core_radius < 0:
            raise ValueError(f"core_radius must be positive or None, got {core_radius}")
        on, off = (0.0, 0.0) if bond_switch is None else (float(bond_switch[0]), float(bond_switch[1]))
        if bond_switch is not None and not 0 < on < off:
            raise ValueError(f"bond_switch must be [on, off] with 0 < on < off, got {list(bond_switch)}")
        self.bond_on, self.bond_off = on, off                                   # 0, 0: the legacy switch
        self.zbl = ZBLRepulsion(self.species, self.cutoff, factor=zbl_factor) if zbl else None
        self._config = copy.deepcopy(config) if config is not None else None

    # -- properties --------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        """Floating-point precision of the weights."""
        return self.head[0].weight.dtype

    @property
    def e0s(self) -> Dict[int, float]:
        """Isolated-atom energies ``{Z: eV}`` (as configured, not rounded to the model's dtype)."""
        return dict(self._e0s)

    def set_e0s(self, e0s: Mapping[int, float]) -> None:
        """Replace the isolated-atom energies ``{Z: eV}`` (one for every species)."""
        e0s = {int(z): float(e) for z, e in e0s.items()}
        missing = [z for z in self.species if z not in e0s]
        if missing:
            raise ValueError(f"e0s lack an energy for atomic numbers {missing}")
        self._e0s = {z: e0s[z] for z in self.species}
        self._e0_table = None

    def e0_table(self, like: torch.Tensor) -> torch.Tensor:
        """E0 per species index ``[S]`` in eV, in ``like``'s dtype and device (exact, not rounded twice)."""
        table = self._e0_table
        if table is None or table.dtype != like.dtype or table.device != like.device:
            table = torch.tensor([self._e0s[z] for z in self.species], dtype=like.dtype, device=like.device)
            self._e0_table = table
        return table

    def to_config(self) -> Dict[str, Any]:
        """The :func:`build_model` config that rebuilds this architecture."""
        if self._config is None:
            raise ValueError("this ForceField was not made by build_model; it has no config")
        cfg = copy.deepcopy(self._config)
        cfg["dtype"] = str(self.dtype).replace("torch.", "")
        cfg["e0s"] = self.e0s
        cfg["scale"] = float(self.scale)
        cfg["shift"] = float(self.shift)
        return cfg

    # -- model -------------------------------------------------------------
    def lookup_species(self, atomic_numbers: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Atomic numbers ``[N]`` → (species indices ``[N]``, mask ``[N]`` of unknown elements).

        TorchScript-compatible; :meth:`species_index` adds the error message.
        """
        z = atomic_numbers.clamp(0, 118)
        index = self.z_to_index[z]
        return index, (index < 0) | (atomic_numbers != z)

    def species_index(self, atomic_numbers: torch.Tensor) -> torch.Tensor:
        """Atomic numbers ``[N]`` → species indices ``[N]``; unknown elements raise."""
        index, bad = self.lookup_species(atomic_numbers)
        if bool(bad.any()):
            zb = int(atomic_numbers[bad][0])
            name = chemical_symbols[zb] if 0 < zb < len(chemical_symbols) else "?"
            raise UnknownSpeciesError(
                f"atomic number {zb} ({name}) is not among the model's species "
                f"{self.species} ({', '.join(chemical_symbols[s] for s in self.species)})")
        return index

    def energy(self, batch: Dict[str, torch.Tensor], edge_vec: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Energies from edge vectors: ``{"energy": [B], "node_energy": [N]}`` in eV.

        ``edge_vec [E, 3]`` Å must be built from ``batch`` (see
        :func:`molsym.nn.grad.edge_vectors`); forces need it to depend on ``pos``.
        """
        species = self.species_index(batch[K.ATOMIC_NUMBERS])                  # [N]
        return self.species_energy(batch, edge_vec, species, self.e0_table(edge_vec))

    def species_energy(self, batch: Dict[str, torch.Tensor], edge_vec: torch.Tensor, species: torch.Tensor,
                       e0: torch.Tensor) -> Dict[str, torch.Tensor]:
        """:meth:`energy` given the species indices ``[N]`` and the E0 table ``[S]`` (eV).

        The TorchScript-compatible core shared by the eager and the compiled
        inference paths (:mod:`molsym.calculator.compile`).
        """
        graph = batch[K.BATCH]                                                 # [N]
        edge_index = batch[K.EDGE_INDEX]                                       # [2, E]
        n_graphs = batch[K.NUM_ATOMS].shape[0] if K.NUM_ATOMS in batch else int(graph.max()) + 1
        n_atoms, n_species = species.shape[0], len(self.species)
        edge_len = torch.linalg.vector_norm(edge_vec, dim=-1)                  # [E]
        radii = self.covalent_radii.to(edge_len.dtype)
        pair_radius = radii[species[edge_index[0]]] + radii[species[edge_index[1]]]   # [E] Å
        net_vec, net_len = edge_vec, edge_len
        if self.core_radius > 0:
            net_len = clamp_core(edge_len, pair_radius, self.core_radius)
            net_vec = edge_vec * (net_len / edge_len).unsqueeze(-1)
        # one isolated reference atom per species, in a graph of its own
        ref = torch.arange(n_species, device=species.device)
        all_species = torch.cat([species, ref])
        all_graph = torch.cat([graph, torch.full_like(ref, n_graphs)])
        features = self.representation(all_species, edge_index, net_vec, net_len, all_graph)
        head = self.head(features).squeeze(-1)                                 # [N + S]
        learned = self.scale * (head[:n_atoms] - head[n_atoms:][species])
        shift = self.shift + self.scale * self.species_offset[species]
        if self.bond_off > 0:
            weights = bond_weights(edge_len, pair_radius, self.bond_on, self.bond_off, self.cutoff)
            switch = saturate(edge_len.new_zeros(n_atoms).index_add_(0, edge_index[1], weights))
            node_energy = e0[species] + switch * (learned + shift)
        else:
            coordination = edge_len.new_zeros(n_atoms).index_add_(0, edge_index[1], self.envelope(edge_len))
            node_energy = e0[species] + learned + shift * -torch.expm1(-(coordination / self.shift_switch) ** 2)
        zbl = self.zbl
        if zbl is not None:
            node_energy = node_energy + zbl(species, edge_index, edge_len, pair_radius)
        energy = node_energy.new_zeros(n_graphs).index_add_(0, graph, node_energy)
        return {K.ENERGY: energy, K.NODE_ENERGY: node_energy}

    @torch.jit.unused
    def forward(self, batch: Dict[str, torch.Tensor], compute_forces: bool = True,
                compute_stress: bool = False) -> Dict[str, torch.Tensor]:
        """Energy ``[B]``, node energies ``[N]``, forces ``[N, 3]`` and stress ``[B, 3, 3]``.

        Parameters
        ----------
        batch : dict
            A graph batch following :mod:`molsym.data.keys`.
        compute_forces : bool, default True
            Forces ``−∂E/∂pos`` in eV/Å.
        compute_stress : bool, default False
            Stress ``(1/V) ∂E/∂ε`` in eV/Å³ (zero for non-periodic graphs).
        """
        return energy_and_gradients(self.energy, batch, compute_forces, compute_stress, self.training)


def _normalise_config(config: Mapping[str, Any]) -> Dict[str, Any]:
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    cfg.update(copy.deepcopy(dict(config)))
    for key in ("representation", "species"):
        if key not in config:
            raise ValueError(f"model config needs {key!r}")
    if "name" not in cfg["representation"]:
        raise ValueError("model config 'representation' needs a 'name'")
    cfg["species"] = [int(z) for z in cfg["species"]]
    if cfg["e0s"] is not None:
        cfg["e0s"] = {int(z): float(e) for z, e in dict(cfg["e0s"]).items()}
    cfg["dtype"] = str(parse_dtype(cfg["dtype"])).replace("torch.", "")
    if cfg["core_radius"] is not None:
        cfg["core_radius"] = float(cfg["core_radius"])
    if cfg["bond_switch"] is not None:
        cfg["bond_switch"] = [float(x) for x in cfg["bond_switch"]]
    return cfg


def build_model(config: Mapping[str, Any]) -> ForceField:
    """Build a :class:`ForceField` from a plain config (the inverse of ``to_config``).

    Parameters
    ----------
    config : dict
        ``{"representation": {"name": "painn"|"egnn"|"ace", **hyperparameters},
        "species": [Z, ...], "cutoff": 5.0, "e0s": {Z: eV} | None, "scale": 1.0,
        "shift": 0.0, "avg_num_neighbors": 10.0, "zbl": True, "zbl_factor": 0.6, "core_radius": 0.75,
        "bond_switch": [1.5, 2.5], "head_hidden": 32, "dtype": "float64"}``. Only ``representation``
        and ``species`` are required; a config read from a file goes through :func:`stored_config` first.

    The weights are initialised from torch's global random state; the global
    default dtype is never changed.
    """
    cfg = _normalise_config(config)
    rep_kwargs = dict(cfg["representation"])
    cls = get_representation(rep_kwargs.pop("name"))
    representation = cls(num_species=len(cfg["species"]), cutoff=cfg["cutoff"],
                         avg_num_neighbors=cfg["avg_num_neighbors"], **rep_kwargs)
    model = ForceField(representation, cfg["species"], cfg["cutoff"], cfg["e0s"], cfg["scale"], cfg["shift"],
                       cfg["avg_num_neighbors"], cfg["zbl"], cfg["head_hidden"], config=cfg,
                       zbl_factor=float(cfg["zbl_factor"]), core_radius=cfg["core_radius"],
                       bond_switch=cfg["bond_switch"])
    return model.to(parse_dtype(cfg["dtype"]))
