"""E(3)-equivariant flow-matching generator of molecules with bonds (positions, types, charges, bond orders).

Data flow: frames → :mod:`~molsym.flow.data` graph records (RDKit-perceived
bonds) → dense batches → :class:`FlowMatchingGenerator` (aligned prior,
interpolant, :class:`FlowNetwork`, losses) trained by ``molsym train`` →
:meth:`FlowMatchingGenerator.sample` → RDKit molecules with the generated bonds.
"""
from .align import align_prior, kabsch_rotation, remove_com, zero_com_noise
from .data import BOND_CLASSES, CHARGE_VALUES, FlowDataModule, collate_graphs, graph_records, molecule_graph
from .generator import FlowMatchingGenerator
from .network import FlowLayer, FlowNetwork

__all__ = [
    "BOND_CLASSES", "CHARGE_VALUES", "FlowDataModule", "FlowLayer", "FlowMatchingGenerator", "FlowNetwork",
    "align_prior", "collate_graphs", "graph_records", "kabsch_rotation", "molecule_graph", "remove_com",
    "zero_com_noise",
]
