"""Shared helpers of the diffusion tests (not a test module)."""
import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from molsym.diffusion import AtomCountDistribution, EquivariantDiffusion


def random_orthogonal(gen: torch.Generator, reflect: bool) -> torch.Tensor:
    """Random rotation (det +1), or rotation times inversion (det -1) if ``reflect``."""
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return -q if reflect else q


def within_molecule_permutation(num_atoms, gen):
    """A permutation of atoms that keeps every molecule's atoms contiguous."""
    parts, start = [], 0
    for n in num_atoms:
        parts.append(start + torch.randperm(int(n), generator=gen))
        start += int(n)
    return torch.cat(parts)


def tiny_model(T=20, conditions=(), hidden=16, layers=2, dtype=torch.float64):
    torch.manual_seed(0)
    counts = AtomCountDistribution.fit(torch.tensor([3, 4, 4, 5]), torch.tensor([1.0, 2.0, 3.0, 4.0]) if conditions else None, num_bins=2)
    model = EquivariantDiffusion([1, 6, 8], counts, T=T, conditions=conditions,
                                 denoiser={"hidden": hidden, "num_layers": layers,
                                           "layer_kwargs": {"attention": True, "aggregation_factor": 3.0}},
                                 condition_mean=torch.tensor([2.0] * len(conditions)) if conditions else None,
                                 condition_mad=torch.tensor([1.0] * len(conditions)) if conditions else None)
    with torch.no_grad():  # make coordinate updates large so the equivariance tests bite
        for layer in model.denoiser.layers:
            layer.phi_x[-1].weight.mul_(300.0)
    return model.to(dtype)


def random_batch(sizes=(3, 5), gen=None, dtype=torch.float64, conditions=0):
    gen = gen or torch.Generator().manual_seed(0)
    n = torch.tensor(sizes)
    N = int(n.sum())
    batch = {
        "pos": torch.randn(N, 3, generator=gen, dtype=dtype) * 1.5,
        "types": torch.randint(0, 3, (N,), generator=gen),
        "charges": torch.randint(-1, 2, (N,), generator=gen),
        "num_atoms": n,
        "batch": torch.repeat_interleave(torch.arange(len(sizes)), n),
    }
    if conditions:
        batch["condition"] = torch.randn(len(sizes), conditions, generator=gen, dtype=torch.float64)
    return batch


def embedded(smiles: str, seed: int = 0):
    """(atomic_numbers, pos Å) of an MMFF-optimised conformer of ``smiles`` with hydrogens."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    AllChem.MMFFOptimizeMolecule(mol)
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    return z, mol.GetConformer().GetPositions()
