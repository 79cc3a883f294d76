"""Generated molecules, whichever generator made them: records, RDKit molecules, metrics."""
from .io import export_generator_checkpoint, load_generator, save_generator
from .metrics import allowed_valence, generation_metrics, graph_atom_stability, molecule_smiles
from .molecules import BOND_ORDER, GeneratedMolecule, sanitized, to_rdkit
from .relax import RelaxResult, relax_molecules, summarize, write_relaxed, write_report_csv

__all__ = ["BOND_ORDER", "GeneratedMolecule", "allowed_valence", "export_generator_checkpoint", "load_generator",
           "save_generator", "generation_metrics", "graph_atom_stability",
           "molecule_smiles", "sanitized", "to_rdkit", "RelaxResult", "relax_molecules", "summarize",
           "write_relaxed", "write_report_csv"]
