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
import itertools

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
    from molsym.data.readers import read_frames
    from molsym.nn.zbl import ZBLRepulsion

    args = parse_args(argv)
    frames = [f for f in read_frames(args.data) if len(f["atomic_numbers"]) > 1][: args.max_frames]
    species = sorted({int(z) for f in frames for z in f["atomic_numbers"]})
    shortest = {}
    for f in frames:
        z, pos = np.asarray(f["atomic_numbers"]), np.asarray(f["pos"])
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        ratio = d / (covalent_radii[z][:, None] + covalent_radii[z][None])
        for a, b in itertools.combinations_with_replacement(species, 2):
            mask = (z[:, None] == a) & (z[None] == b) & ~np.eye(len(z), dtype=bool)
            if mask.any():
                shortest[(a, b)] = min(shortest.get((a, b), np.inf), float(ratio[mask].min()))
    print(f"{len(frames)} frames of {args.data}")
    print("shortest distance / covalent-radius sum, per pair:")
    for (a, b), r in sorted(shortest.items(), key=lambda kv: kv[1]):
        print(f"  {chemical_symbols[a]}-{chemical_symbols[b]}: {r:.3f}")
    print(f"{'factor':>7} {'ZBL force RMS (eV/Å)':>21} {'max |F| (eV/Å)':>15}")
    for factor in args.factors:
        zbl = ZBLRepulsion(species, args.cutoff, factor=factor).double()
        forces = []
        for f in frames:
            n = len(f["atomic_numbers"])
            pos = torch.tensor(np.asarray(f["pos"]), dtype=torch.float64, requires_grad=True)
            send, recv = np.nonzero(~np.eye(n, dtype=bool))
            edge_index = torch.as_tensor(np.stack([send, recv]))
            index = torch.as_tensor([species.index(int(z)) for z in f["atomic_numbers"]])
            energy = zbl(index, edge_index, (pos[edge_index[1]] - pos[edge_index[0]]).norm(dim=1)).sum()
            forces.append(-torch.autograd.grad(energy, pos)[0].numpy())
        forces = np.concatenate(forces)
        print(f"{factor:7.2f} {np.sqrt((forces ** 2).mean()):21.4f} {np.abs(forces).max():15.3f}")


if __name__ == "__main__":
    main()
