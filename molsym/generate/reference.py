"""Reference SMILES for novelty, perceived the way each protocol perceives generated molecules.

``graph`` protocol: the canonical SMILES of the training molecules' RDKit
graphs (the bonds a flow model is trained on, :func:`molsym.flow.molecule_graph`);
``distance`` protocol: the distance-table SMILES of
:func:`molsym.diffusion.evaluation.reference_smiles`. Both QM9 sets (standard
100k training split, seed 0) are computed once (about a minute) and cached
under ``$MOLSYM_CACHE``. A file path gives the same set for both protocols.
"""
from __future__ import annotations

from typing import Dict, Set

from molsym.files import atomic_write_text

__all__ = ["reference_sets"]


def _qm9_graph_smiles(progress: bool) -> Set[str]:
    from molsym.diffusion.data import qm9_split
    from molsym.diffusion.evaluation.reference import cache_dir
    from molsym.diffusion.qm9 import load_qm9_frames
    from molsym.flow.data import graph_records

    cached = cache_dir() / "qm9_train_graph_smiles.txt"
    if cached.exists():
        return set(cached.read_text().split())
    from .metrics import molecule_smiles
    from .molecules import GeneratedMolecule

    frames = load_qm9_frames()
    train = qm9_split(len(frames), seed=0)["train"]
    records, _ = graph_records([frames[i] for i in train], [1, 6, 7, 8, 9], "qm9", progress=progress)
    smiles = {molecule_smiles(GeneratedMolecule(r["atomic_numbers"], r["pos"], r["charges"], r["bonds"]))
              for r in records}
    smiles.discard(None)
    atomic_write_text(cached, "\n".join(sorted(smiles)) + "\n")
    return smiles


def reference_sets(reference: str, progress: bool = True) -> Dict[str, Set[str]]:
    """``{"graph": set, "distance": set}`` of canonical SMILES for ``reference`` ("qm9" or a file)."""
    from molsym.diffusion.evaluation import reference_smiles

    if reference == "qm9":
        return {"graph": _qm9_graph_smiles(progress), "distance": reference_smiles("qm9", progress)}
    same = reference_smiles(reference, progress)
    return {"graph": same, "distance": same}
