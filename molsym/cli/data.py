"""``molsym data``: inspect data files and stores, pack stores, generate data."""
from __future__ import annotations

import argparse
import os
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from molsym.cli.main import UserError
from molsym.data.errors import DataError

DESCRIPTION = """\
Work with molecular data: inspect a file or a store, pack files into an
on-disk store (frames plus precomputed neighbour lists), generate labelled
MD data. Units: energies in eV, forces in eV/Å, lengths in Å."""

INSPECT_DESCRIPTION = """\
Summarise a data file (any format molsym reads) or a store written by
`molsym data pack`: number of frames, composition, energy and force
statistics with units, isolated-atom reference energies (E0s) if present,
and every frame that looks broken (unreadable, NaN, atoms too close, labels
missing, or outliers). Exit code 1 when broken frames are found."""

PACK_DESCRIPTION = """\
Read FILES and write one on-disk store (HDF5) holding the frames and their
neighbour lists for CUTOFF, plus E0s (from isolated-atom frames among the
files, or in <stem>_isolated_atoms.xyz beside one) and dataset statistics.
Each input file is read into memory in turn; the store may be larger. The store is written atomically: an
interrupted pack never leaves a file that reads as valid."""

#: |F| above this (eV/Å) makes a frame look broken in `inspect`.
MAX_FORCE = 50.0
#: per-atom energy this many median absolute deviations from the median looks broken.
ENERGY_OUTLIER_MAD = 25.0


def _key(value: str) -> Optional[str]:
    """``none`` on the command line switches a label off."""
    return None if value.lower() == "none" else value


def _add_key_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--energy-key", type=_key, default="energy",
                   help="name of the energy label (eV) in the file; 'none' to skip (default: %(default)s)")
    p.add_argument("--forces-key", type=_key, default="forces",
                   help="name of the per-atom forces column (eV/Å); 'none' to skip (default: %(default)s)")
    p.add_argument("--stress-key", type=_key, default=None,
                   help="name of the stress label (eV/Å³); default: not read")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("data", help="read, inspect, pack and generate molecular data",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")

    ins = sub.add_parser("inspect", help="summarise a data file or store and list broken frames",
                         description=INSPECT_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    ins.add_argument("file", metavar="FILE",
                     help="data file (extxyz, QM9 .xyz, ASE db, npz, ...) or a molsym store")
    _add_key_flags(ins)
    ins.set_defaults(func=run_inspect)

    pk = sub.add_parser("pack", help="pack data files into an on-disk store with neighbour lists",
                        description=PACK_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    pk.add_argument("files", metavar="FILES", nargs="+",
                    help="data files to pack; isolated-atom frames among them become the store's E0s")
    pk.add_argument("--out", required=True, metavar="STORE", help="store file to write (HDF5, e.g. train.h5)")
    pk.add_argument("--cutoff", type=float, default=5.0, help="neighbour cutoff in Å (default: %(default)s)")
    pk.add_argument("--overwrite", action="store_true", help="replace STORE if it exists")
    pk.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    _add_key_flags(pk)
    pk.set_defaults(func=run_pack)

    try:
        from molsym.cli.data_generate import add_generate_parser
    except ModuleNotFoundError as err:
        if err.name != "molsym.cli.data_generate":
            raise
    else:
        add_generate_parser(sub)
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])


# ---------------------------------------------------------------------- inspect
def run_inspect(args) -> int:
    from molsym.data.store import GraphStore, is_store

    path = Path(args.file)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    if is_store(path):
        store = GraphStore(path)
        print(f"store: {path}  (cutoff {store.stored_cutoff} Å, {len(store.sources)} source file(s))")
        _summary((store.frame(i) for i in range(len(store))), 0, store.e0s, broken=[])
        if store.statistics:
            s = store.statistics
            print(f"average neighbours within {store.stored_cutoff} Å: {s['avg_num_neighbors']:.2f}")
        return 0
    frames, iso, broken = _read_lenient(path, args.energy_key, args.forces_key, args.stress_key)
    if not frames and not iso:
        if broken:
            raise DataError(str(path), broken[0][0], broken[0][1])
        raise DataError(str(path), None, "no frames")
    from molsym.data.statistics import e0s_from_isolated
    try:
        e0s = e0s_from_isolated([f for _, f in iso], str(path))
    except DataError as err:
        broken.append((err.frame, err.reason))
        e0s = {}
    print(f"file: {path}")
    if _is_qm9_xyz(path):
        from molsym.data.readers.qm9 import QM9_ENERGY_KEYS, QM9_KEYS
        print(f"format: QM9 .xyz (GDB), read by molsym.data.readers.qm9.read_qm9_xyz: "
              f"{len(QM9_KEYS)} properties per molecule ({', '.join(QM9_KEYS)}) in eV-based units; "
              f"--energy-key {QM9_ENERGY_KEYS[0]} (or {', '.join(QM9_ENERGY_KEYS[1:])}) reads one as the energy")
    broken += _suspicious(frames)
    _summary((f for _, f in frames), len(iso), e0s, broken)
    return 1 if broken else 0


def _read_lenient(path: Path, ek, fk, sk):
    """``(frames, isolated, broken)``, frames as ``(index, frame)``; lists every broken frame.

    The fast strict reader is tried first; if it refuses the file and the file
    is XYZ-like, each frame block is read on its own so that all broken frames
    are found, not only the first.
    """
    from molsym.data.dataset import read_file
    from molsym.data.statistics import is_isolated_atom
    try:
        frames = list(enumerate(read_file(path, ek, fk, sk)))
        broken: List[Tuple[Optional[int], str]] = []
    except DataError as err:
        if path.suffix.lower() not in (".xyz", ".extxyz") or err.frame is None or _is_qm9_xyz(path):
            return [], [], [(err.frame, err.reason)]
        frames, broken = _read_blocks(path, ek, fk, sk)
    iso = [(i, f) for i, f in frames if is_isolated_atom(f)]
    mols = [(i, f) for i, f in frames if not is_isolated_atom(f)]
    return mols, iso, broken


_INT_LINE = re.compile(r"^\s*\d+\s*$")


def _is_qm9_xyz(path: Path) -> bool:
    """A QM9 (GDB) ``.xyz`` file: its molecules are not extxyz blocks (see :func:`_read_blocks`)."""
    from molsym.data.readers import looks_like_qm9_xyz
    return path.suffix.lower() in (".xyz", ".extxyz") and looks_like_qm9_xyz(path)


def _read_blocks(path: Path, ek, fk, sk):
    """Read an XYZ file frame by frame (slow path, used only for broken files)."""
    from molsym.data.dataset import read_file
    lines = path.read_text().splitlines(keepends=True)
    frames, broken, pos, k = [], [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        block_path = Path(tmp) / "frame.xyz"
        while pos < len(lines):
            if not lines[pos].strip():
                pos += 1
                continue
            if not _INT_LINE.match(lines[pos]):
                broken.append((k, f"line {pos + 1}: expected an atom count, found {lines[pos].strip()[:40]!r}"))
                pos += 1
                while pos < len(lines) and not _INT_LINE.match(lines[pos]):
                    pos += 1
                k += 1
                continue
            n = int(lines[pos])
            end = pos + 2 + n
            nxt = next((j for j in range(pos + 2, min(end, len(lines))) if _INT_LINE.match(lines[j])), None)
            if nxt is not None or end > len(lines):
                have = (nxt if nxt is not None else len(lines)) - pos - 2
                broken.append((k, f"atom count says {n} but {have} atom lines follow"))
                pos, k = (nxt if nxt is not None else len(lines)), k + 1
                continue
            block_path.write_text("".join(lines[pos:end]))
            try:
                frames.append((k, read_file(block_path, ek, fk, sk)[0]))
            except DataError as err:
                broken.append((k, err.reason))
            pos, k = end, k + 1
    return frames, broken


def _suspicious(frames) -> List[Tuple[int, str]]:
    """Frames with huge forces or per-atom energies far from the rest."""
    out = []
    for i, f in frames:
        if "forces" in f and len(f["forces"]):
            fmax = float(np.linalg.norm(f["forces"], axis=1).max())
            if fmax > MAX_FORCE:
                out.append((i, f"largest force {fmax:.1f} eV/Å exceeds {MAX_FORCE} eV/Å"))
    with_e = [(i, float(f["energy"]) / len(f["atomic_numbers"]), f) for i, f in frames if "energy" in f]
    if len(with_e) >= 5:
        # compare molecules of the same composition only
        groups = {}
        for i, e, f in with_e:
            groups.setdefault(_formula(f["atomic_numbers"]), []).append((i, e))
        for members in groups.values():
            if len(members) < 5:
                continue
            e = np.array([m[1] for m in members])
            med = np.median(e)
            mad = np.median(np.abs(e - med)) or 1e-12
            for (i, ei) in members:
                if abs(ei - med) > ENERGY_OUTLIER_MAD * mad:
                    out.append((i, f"energy per atom {ei:.4f} eV is an outlier (median {med:.4f} eV)"))
    return out


def _formula(z) -> str:
    from ase.formula import Formula
    from ase.data import chemical_symbols
    return Formula("".join(chemical_symbols[int(a)] for a in z)).format("hill")


def _summary(frames, n_iso, e0s, broken) -> None:
    """Print the summary of ``frames`` (any iterable: a store is streamed, not loaded)."""
    from ase.data import chemical_symbols

    from molsym.data.statistics import reference_energy
    n_atoms, comp, species, energies, per_atom = [], Counter(), set(), [], []
    n_pbc = n_forces = n_comp = 0
    f_sq = f_norm = 0.0
    f_max = 0.0
    e0_ok = bool(e0s)
    for f in frames:
        z = f["atomic_numbers"]
        n_atoms.append(len(z))
        comp[_formula(z)] += 1
        species.update(int(a) for a in np.unique(z))
        n_pbc += bool(np.any(f["pbc"]))
        if "energy" in f:
            energies.append(float(f["energy"]))
            e0_ok = e0_ok and all(int(a) in e0s for a in np.unique(z))
            if e0_ok:
                per_atom.append((energies[-1] - reference_energy(f, e0s)) / len(z))
        if "forces" in f:
            norms = np.linalg.norm(f["forces"], axis=1)
            n_forces, n_comp = n_forces + 1, n_comp + f["forces"].size
            f_sq, f_norm, f_max = f_sq + float(np.sum(norms ** 2)), f_norm + float(norms.sum()), max(f_max, norms.max())
    n_atoms = np.array(n_atoms)
    print(f"frames: {len(n_atoms)}" + (f"  (+ {n_iso} isolated-atom reference frames)" if n_iso else ""))
    if len(n_atoms):
        print(f"atoms per frame: min {n_atoms.min()}, max {n_atoms.max()}, mean {n_atoms.mean():.1f}")
        shown = ", ".join(f"{k} × {v}" for k, v in comp.most_common(8))
        more = f" (+ {len(comp) - 8} more)" if len(comp) > 8 else ""
        print(f"composition: {shown}{more}")
        print("species: " + " ".join(f"{chemical_symbols[z]}({z})" for z in sorted(species)))
        print(f"periodic frames: {n_pbc}")
    if energies:
        e = np.array(energies)
        print(f"energy [eV]: {len(e)} labelled; mean {e.mean():.4f}, std {e.std():.4f}, "
              f"min {e.min():.4f}, max {e.max():.4f}")
        if e0_ok and len(per_atom) == len(e):
            print(f"energy after E0 [eV/atom]: mean {np.mean(per_atom):.4f}, std {np.std(per_atom):.4f}")
    else:
        print("energy: none")
    if n_forces:
        print(f"forces [eV/Å]: {n_forces} frames labelled; RMS per component {np.sqrt(f_sq / n_comp):.4f}, "
              f"mean |F| {f_norm / (n_comp / 3):.4f}, max |F| {f_max:.4f}")
    else:
        print("forces: none")
    if e0s:
        print("E0s [eV]: " + ", ".join(f"{chemical_symbols[z]}: {v:.6f}" for z, v in sorted(e0s.items())))
    else:
        print("E0s: none (no isolated-atom frames)")
    if broken:
        print(f"broken frames: {len(broken)}")
        for i, reason in sorted(broken, key=lambda b: (-1 if b[0] is None else b[0])):
            print(f"  frame {i}: {reason}")
    else:
        print("broken frames: none")


# ---------------------------------------------------------------------- pack
def run_pack(args) -> int:
    from molsym.data.store import GraphStore, pack

    out = Path(args.out)
    if args.cutoff <= 0:
        raise UserError(f"--cutoff must be positive, got {args.cutoff}")
    for f in args.files:
        if not Path(f).exists():
            raise UserError(f"{f}: file not found")
    if out.exists() and not args.overwrite:
        raise UserError(f"{out}: exists; pass --overwrite to replace it")
    if any(Path(f).resolve() == out.resolve() for f in args.files):
        raise UserError(f"{out}: the output would overwrite an input file")
    pack(args.files, out, args.cutoff, args.energy_key, args.forces_key, args.stress_key,
         progress=not args.quiet)
    if not args.quiet:
        store = GraphStore(out)
        s = store.statistics or {}
        print(f"wrote {len(store)} frames, {int(store.edge_ptr[-1])} edges (cutoff {store.stored_cutoff} Å) "
              f"to {out} ({os.path.getsize(out) / 1e6:.1f} MB); E0s for {sorted(store.e0s) or 'no'} elements; "
              f"average neighbours {s.get('avg_num_neighbors', float('nan')):.2f}")
    return 0
