"""How much the ZBL prior acts on a training set, for several pair-cutoff factors.

The prior (``model.zbl``) is meant for distances the data never reaches. Where
its pair cutoff (``zbl_factor`` × the sum of covalent radii) overlaps the
bonds of the training set, it adds forces the network has to learn to cancel.
This prints, per element pair, the shortest distance in the data in units of
the covalent-radius sum, and the RMS / maximum ZBL force on the data for each
factor (eV/Å): a factor below every pair's shortest ratio leaves the data
untouched.

    python scripts/zbl_overlap.py ../shared/data/acac/train_300K.xyz --factors 1.0 0.9 0.8 0.75
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from ase.data import chemical_symbols, covalent_radii


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="a labelled file any molsym reader takes (extxyz, npz, ASE db, ...)")
    p.add_argument("--factors", type=float, nargs="+", default=[1.0, 0.9, 0.8, 0.75],
                   help="pair-cutoff factors to test (units of the covalent-radius sum)")
    p.add_argument("--cutoff", type=float, default=5.0, help="model cutoff, Å (an upper bound on the pair cutoff)")
    p.add_argument("--max-frames", type=int, default=None, help="use only the first N frames")
    return p.parse_args(argv)


def main(argv=None) -> None:
    from molsym.data import keys as K
    from molsym.data.graph import frame_to_graph
    from molsym.data.readers import read_frames
    from molsym.nn.grad import edge_vectors, energy_and_gradients
    from molsym.nn.zbl import ZBLRepulsion

    args = parse_args(argv)
    frames = [f for f in read_frames(args.data) if len(f["atomic_numbers"]) > 1][: args.max_frames]
    species = sorted({int(z) for f in frames for z in f["atomic_numbers"]})
    # one graph per frame (the training path's neighbour list): pairs beyond the model cutoff never
    # meet the prior, whose pair cutoff is capped there
    graphs = [frame_to_graph(f, args.cutoff, torch.float64) for f in frames]
    index = [torch.as_tensor([species.index(int(z)) for z in g[K.ATOMIC_NUMBERS]]) for g in graphs]
    shortest = {}
    for g in graphs:
        z = g[K.ATOMIC_NUMBERS].numpy()
        send, recv = g[K.EDGE_INDEX].numpy()
        vec = edge_vectors(g[K.POS], g[K.EDGE_INDEX], g[K.EDGE_SHIFT], g[K.CELL], g[K.BATCH])
        length = torch.linalg.vector_norm(vec, dim=-1).numpy()
        ratio = length / (covalent_radii[z[send]] + covalent_radii[z[recv]])
        for a, b, r in zip(np.minimum(z[send], z[recv]), np.maximum(z[send], z[recv]), ratio):
            shortest[(a, b)] = min(shortest.get((a, b), np.inf), float(r))
    print(f"{len(frames)} frames of {args.data}")
    print("shortest distance / covalent-radius sum, per pair:")
    for (a, b), r in sorted(shortest.items(), key=lambda kv: kv[1]):
        print(f"  {chemical_symbols[a]}-{chemical_symbols[b]}: {r:.3f}")
    print(f"{'factor':>7} {'ZBL force RMS (eV/Å)':>21} {'max |F| (eV/Å)':>15}")
    for factor in args.factors:
        zbl = ZBLRepulsion(species, args.cutoff, factor=factor).double()
        forces = []
        for g, idx in zip(graphs, index):
            def energy(batch, edge_vec, idx=idx):
                per_atom = zbl(idx, batch[K.EDGE_INDEX], torch.linalg.vector_norm(edge_vec, dim=-1))
                return {K.ENERGY: per_atom.sum().reshape(1)}
            forces.append(energy_and_gradients(energy, g)[K.FORCES].numpy())
        forces = np.concatenate(forces)
        print(f"{factor:7.2f} {np.sqrt((forces ** 2).mean()):21.4f} {np.abs(forces).max():15.3f}")


if __name__ == "__main__":
    main()
