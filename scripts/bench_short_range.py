"""Physics beyond the data: bond dissociation and pair walls of a force field against GFN2-xTB.

A trained model file is evaluated twice with the same weights: as it was
trained (its stored short-range settings) and with molsym's short-range
physics (``core_radius``, ``bond_switch``, ``zbl`` from DEFAULT_CONFIG; see
molsym/nn/short_range.py). On every configuration where all pairs are
farther than ``core_radius`` covalent-radius sums and every atom has a
neighbour within ``bond_switch[0]`` sums, the two are the same function, which
the test-set errors printed first show. Then, against tblite's GFN2-xTB:

* stretch: an H of the first frame of ``--frames`` (the enol O-H and a C-H)
  moved away from its heavy atom along the bond (outwards from the centre
  where the bond points at another atom), 0.8-6.5 Å, energy relative to the
  frame itself;
* pairs: H-H, C-H, O-H, C-C, C-O, O-O alone, energy relative to the separated
  atoms (xTB: lowest spin state of each atom and of the pair), 0.1-3.5 Å.

Prints the tables, writes a PNG, and exits.

    python scripts/bench_short_range.py --model outputs/acac_wall/model.pt \\
        --frames ../shared/data/acac/test_MD_300K.xyz --test ../shared/data/acac/test_MD_600K.xyz
"""
from __future__ import annotations

import argparse
import copy
import itertools
import time

import numpy as np

PAIRS = [(1, 1), (6, 1), (8, 1), (6, 6), (6, 8), (8, 8)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a molsym model file (molsym export) or training checkpoint")
    p.add_argument("--frames", required=True, help="an extxyz file; its first frame is stretched")
    p.add_argument("--test", nargs="*", default=[], help="labelled files to score both variants on")
    p.add_argument("--png", default="docs/img/short_range.png", help="the figure to write")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    return p.parse_args(argv)


def variants(path):
    """{"as trained": model, "short-range physics": the same weights with the new settings}."""
    import torch

    from molsym.calculator.loading import load_force_field
    from molsym.nn import build_model
    from molsym.nn.model import DEFAULT_CONFIG

    trained = load_force_field(path).to(torch.float64).eval()
    config = copy.deepcopy(trained.to_config())
    config.update(core_radius=DEFAULT_CONFIG["core_radius"], bond_switch=DEFAULT_CONFIG["bond_switch"])
    if not config["zbl"]:
        config.update(zbl=True, zbl_factor=DEFAULT_CONFIG["zbl_factor"])
    physics = build_model(config).to(torch.float64)
    physics.load_state_dict(trained.state_dict())
    return {"as trained": trained, "short-range physics": physics.eval()}


def model_energies(model, numbers, positions):
    """Energies (eV) of the molecule ``numbers`` at each of ``positions`` ``[F, N, 3]``."""
    import torch

    from molsym.data.collate import collate
    from molsym.data.frame import make_frame
    from molsym.data.graph import frame_to_graph

    out = []
    for start in range(0, len(positions), 64):
        batch = collate([frame_to_graph(make_frame(numbers, pos), model.cutoff, torch.float64)
                         for pos in positions[start:start + 64]])
        out.append(model(batch, compute_forces=False)["energy"].detach().numpy())
    return np.concatenate(out)


def xtb_energies(numbers, positions):
    """GFN2-xTB energies (eV), the lowest over two spin states of the parity, per configuration."""
    from ase import Atoms
    from tblite.ase import TBLite

    electrons = int(sum(numbers))
    spins = (1, 3) if electrons % 2 == 0 else (2, 4)
    out = []
    for pos in positions:
        best = np.inf
        for mult in spins:
            atoms = Atoms(numbers=numbers, positions=pos)
            atoms.calc = TBLite(method="GFN2-xTB", multiplicity=mult, verbosity=0)
            try:
                best = min(best, float(atoms.get_potential_energy()))
            except Exception:  # an SCF that does not converge at one spin state: the other decides
                continue
        out.append(best)
    return np.array(out)


def stretch(numbers, pos, h, partner, r):
    """Positions with atom ``h`` at distances ``r`` from ``partner``: along the bond, or, where that ray
    passes within 1.8 Å of another heavy atom (an H-bonded H), outwards from the molecule's centre through
    ``partner``. Returns the frames and the direction's name."""
    others = [i for i in range(len(pos)) if i not in (h, partner) and numbers[i] > 1]
    for name, unit in (("along the bond", pos[h] - pos[partner]),
                       ("outwards", pos[partner] - np.delete(pos, h, axis=0).mean(0))):
        unit = unit / np.linalg.norm(unit)
        frames = np.repeat(pos[None], len(r), axis=0)
        frames[:, h] = pos[partner] + r[:, None] * unit
        clash = np.linalg.norm(frames[:, h, None] - pos[None, others], axis=-1).min()
        if clash > 1.8:
            break
    return frames, name


def largest_step(r, e, lo, hi):
    """The largest |ΔE| (eV) between neighbouring points with ``lo < r < hi``."""
    inside = (r[1:] > lo) & (r[:-1] < hi)
    return float(np.max(np.abs(np.diff(e))[inside]))


def main(argv=None) -> None:
    import torch
    from ase.data import chemical_symbols, covalent_radii
    from ase.io import read

    from molsym.data.generate import isolated_atom_energy
    from molsym.data.readers import read_frames
    from molsym.train.evaluate import predict

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    models = variants(args.model)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  model {args.model}")

    for path in args.test:  # scored as `molsym eval` scores (molsym.train.evaluate.predict)
        frames = read_frames(path)
        for name, model in models.items():
            m = predict(model, frames, progress=False)["metrics"]
            text = f", force RMSE {m['forces_rmse']:.4f} meV/Å" if "forces_rmse" in m else ""
            print(f"{path}: {name}: energy RMSE {m['energy_rmse']:.4f} meV{text} ({len(frames)} frames)")

    start = read(args.frames, 0)
    numbers, pos = start.get_atomic_numbers(), start.get_positions()
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + np.eye(len(pos)) * 99
    curves = {}
    for heavy in (8, 6):
        h = next(i for i in np.argsort(dist.min(1)) if numbers[i] == 1 and numbers[np.argmin(dist[i])] == heavy)
        partner = int(np.argmin(dist[h]))
        r = np.linspace(0.8, 6.5, 286)
        frames, way = stretch(numbers, pos, h, partner, r)
        r0 = dist[h, partner]
        rows = {name: model_energies(m, numbers, frames) - model_energies(m, numbers, pos[None])[0]
                for name, m in models.items()}                  # relative to the frame itself
        xtb = xtb_energies(numbers, frames) - xtb_energies(numbers, pos[None])[0]
        label = f"{chemical_symbols[heavy]}-H stretch"
        curves[label] = (r, rows, xtb, r0)
        print(f"\n{label} (atom {h} from {partner}, {way}, r0 {r0:.3f} Å): E - E(frame), eV")
        print(f"{'r (Å)':>8} " + " ".join(f"{n:>20}" for n in rows) + f" {'GFN2-xTB':>10}")
        for x in (1.5, 2.0, 2.5, 3.0, 4.0, 4.3, 4.6, 5.0, 6.0):
            i = int(np.argmin(np.abs(r - x)))
            print(f"{r[i]:8.2f} " + " ".join(f"{rows[n][i]:20.3f}" for n in rows) + f" {xtb[i]:10.3f}")
        for name, e in rows.items():
            print(f"  {name}: largest step between points 0.02 Å apart: {largest_step(r, e, 0.8, 6.5):.3f} eV "
                  f"(near the cutoff {largest_step(r, e, 4.0, 5.5):.3f}); xTB {largest_step(r, xtb, 0.8, 6.5):.3f}")

    atoms = {z: isolated_atom_energy(z)[0] for z in {z for pair in PAIRS for z in pair}}
    print("\npairs alone: E - E(separated atoms), eV")
    pair_curves = {}
    for za, zb in PAIRS:
        rho = covalent_radii[za] + covalent_radii[zb]
        r = np.linspace(0.1, 3.5, 171)
        frames = np.zeros((len(r), 2, 3))
        frames[:, 1, 0] = r
        rows = {}
        for name, m in models.items():
            e0 = m.e0s[za] + m.e0s[zb]
            rows[name] = model_energies(m, [za, zb], frames) - e0
        xtb = xtb_energies([za, zb], frames) - atoms[za] - atoms[zb]
        label = f"{chemical_symbols[za]}-{chemical_symbols[zb]}"
        pair_curves[label] = (r, rows, xtb, rho)
        inner = r < 0.5 * rho
        print(f"{label} (ρ {rho:.2f} Å)")
        for x in (0.35, 0.5 * rho, 0.6, 0.85):
            i = int(np.argmin(np.abs(r - x)))
            print(f"  r {r[i]:.2f} Å: " + "  ".join(f"{n} {rows[n][i]:9.2f}" for n in rows) + f"  xTB {xtb[i]:9.2f}")
        for name, e in rows.items():
            mono = bool(np.all(np.diff(e[inner]) < 0))
            below = r[(e < 0) & (r < 0.85 * rho)]
            print(f"  {name}: monotone below 0.5 ρ: {mono}; below the separated atoms at "
                  + (f"{below.min():.2f}-{below.max():.2f} Å" if len(below) else "no r < 0.85 ρ"))
    plot(curves, pair_curves, args.png)
    print(f"\nfigure: {args.png}")


def plot(curves, pair_curves, png) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(curves.items()) + list(pair_curves.items())
    cols = 4
    fig, axes = plt.subplots((len(panels) + cols - 1) // cols, cols, figsize=(4 * cols, 3.2 * 2))
    styles = {"as trained": ("tab:red", "--"), "short-range physics": ("tab:blue", "-")}
    for ax, (label, (r, rows, xtb, mark)) in itertools.zip_longest(axes.flat, panels, fillvalue=(None, None)):
        if label is None:
            ax.axis("off")
            continue
        ax.plot(r, xtb, color="black", lw=2, label="GFN2-xTB")
        for name, e in rows.items():
            colour, ls = styles[name]
            ax.plot(r, e, color=colour, ls=ls, label=name)
        low = min(np.min(xtb), *(np.min(e) for e in rows.values()))
        ax.set_ylim(max(low - 1, -15), 15 if "stretch" not in label else 8)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(label)
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("E (eV)")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main()
