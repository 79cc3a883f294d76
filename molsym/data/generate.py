"""Make real labelled data offline: SMILES → conformer → Langevin MD → extxyz.

:func:`generate_dataset` embeds one conformer with RDKit, runs Langevin
molecular dynamics with ASE on a semi-empirical calculator (GFN2-xTB from
tblite by default), and keeps every ``stride``-th configuration after an
equilibration, labelled with its energy (eV) and forces (eV/Å). Beside the
trajectory it writes ``<stem>_isolated_atoms.xyz``: one ``config_type=
isolated_atom`` frame per element, with the energy of the lone atom under the
*same* Hamiltonian, for use as reference energies E0.

Methods are a registry (:data:`METHODS`, :func:`register_method`), so any ASE
calculator can label data the same way.

Isolated atoms and spin
-----------------------
The labels come from plain (spin-restricted) GFN-xTB, which has no spin
energy term. For a lone atom tblite accepts any multiplicity whose parity
matches the electron count; without a spin term a high-spin occupation only
costs energy (C: singlet −48.847 eV, triplet −48.798 eV; O: −102.571 vs
−102.522 eV), so the method's own ground state is the lowest-spin one.
:func:`isolated_atom_energy` tries the parity-allowed multiplicities 1…5 and
keeps the lowest energy, recording the multiplicity in ``info``. (tblite's
``spin_polarization=1.0`` would favour Hund's rule, C triplet −50.03 eV, but
that is a different Hamiltonian from the one that labelled the molecules, and
E0 must match the labels.)

Reproducibility
---------------
RDKit's embedding, the initial Maxwell–Boltzmann velocities and the Langevin
noise all draw from ``seed``; the same seed on the same machine with the same
``threads`` writes a byte-identical file. tblite's results (and so the
chaotic trajectory) depend on the OpenMP thread count, and a 9-atom molecule
runs fastest on one thread, so ``threads=1`` is the default.
"""
from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from molsym.data.errors import DataError
from molsym.data.frame import check_frame, make_frame
from molsym.files import atomic_path

#: Default time between kept frames, in fs (the default stride is this / timestep).
DEFAULT_FRAME_SPACING_FS = 10.0
#: Default equilibration before the first kept frame, in fs.
DEFAULT_EQUILIBRATION_FS = 500.0
#: Default Langevin friction, in 1/fs (a 100 fs coupling time).
DEFAULT_FRICTION_PER_FS = 0.01


@dataclass(frozen=True)
class Method:
    """A labelling method: a name and a factory for an ASE calculator.

    Parameters
    ----------
    name : registry key, e.g. ``"gfn2-xtb"``
    description : one line for ``--help`` and error messages
    calculator : ``calculator(charge: int, multiplicity: int) -> ase.calculators.Calculator``
        returning energies in eV and forces in eV/Å.
    multiplicities : spin multiplicities tried for isolated atoms (those whose
        parity does not match the electron count are skipped).
    """

    name: str
    description: str
    calculator: Callable[[int, int], object]
    multiplicities: Sequence[int] = (1, 2, 3, 4, 5)


#: Registered methods, by lower-case name.
METHODS: Dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` (replacing one of the same name)."""
    METHODS[method.name.lower()] = method
    return method


def available_methods() -> List[str]:
    """Names of the registered methods, sorted."""
    return sorted(METHODS)


def get_method(name) -> Method:
    """Look a method up by name (case-insensitive; a :class:`Method` is returned as it is);
    ``ValueError`` lists the known ones."""
    if isinstance(name, Method):
        return name
    try:
        return METHODS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(available_methods())}") from None


def _tblite_factory(tblite_name: str) -> Callable[[int, int], object]:
    def make(charge: int, multiplicity: int):
        from tblite.ase import TBLite
        return TBLite(method=tblite_name, charge=charge, multiplicity=multiplicity, verbosity=0)
    return make


register_method(Method("gfn2-xtb", "GFN2-xTB tight binding (tblite)", _tblite_factory("GFN2-xTB")))
register_method(Method("gfn1-xtb", "GFN1-xTB tight binding (tblite)", _tblite_factory("GFN1-xTB")))
register_method(Method("ipea1-xtb", "IPEA1-xTB tight binding (tblite)", _tblite_factory("IPEA1-xTB")))


def default_stride(timestep_fs: float) -> int:
    """MD steps between kept frames: :data:`DEFAULT_FRAME_SPACING_FS` / timestep (20 at 0.5 fs)."""
    return max(1, int(round(DEFAULT_FRAME_SPACING_FS / timestep_fs)))


def embed_conformer(smiles: str, seed: int = 0):
    """One 3D conformer of ``smiles`` with hydrogens, as ``ase.Atoms``.

    RDKit ETKDG embedding seeded with ``seed``, then MMFF94 optimisation (UFF
    when MMFF lacks parameters). The total charge and spin multiplicity that
    RDKit reads from the SMILES (formal charges, radical electrons) are stored
    in ``atoms.info["charge"]`` and ``atoms.info["multiplicity"]``.

    Raises
    ------
    DataError
        if RDKit cannot parse ``smiles`` or cannot embed it in 3D.
    """
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")  # RDKit's own log lines; failures are raised below instead
    try:
        return _embed(smiles, seed, f"SMILES {smiles!r}")
    finally:
        RDLogger.EnableLog("rdApp.*")


def _embed(smiles: str, seed: int, where: str):
    from ase import Atoms
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.MolFromSmiles(smiles) if smiles and smiles.strip() else None
    if mol is None:
        raise DataError(where, None, "RDKit cannot parse this SMILES string")
    mol = Chem.AddHs(mol)
    if mol.GetNumAtoms() < 2:
        raise DataError(where, None, "a single atom has no conformations to sample")
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    if AllChem.EmbedMolecule(mol, params) != 0:
        params.useRandomCoords = True
        if AllChem.EmbedMolecule(mol, params) != 0:
            raise DataError(where, None, "RDKit could not embed a 3D conformer")
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    elif AllChem.UFFHasAllMoleculeParams(mol):
        AllChem.UFFOptimizeMolecule(mol, maxIters=2000)
    atoms = Atoms(numbers=[a.GetAtomicNum() for a in mol.GetAtoms()],
                  positions=mol.GetConformer().GetPositions())
    atoms.info["charge"] = int(Chem.GetFormalCharge(mol))
    atoms.info["multiplicity"] = 1 + sum(a.GetNumRadicalElectrons() for a in mol.GetAtoms())
    return atoms


def isolated_atom_energy(z: int, method="gfn2-xtb") -> Tuple[float, int]:
    """Energy (eV) of a lone neutral atom of element ``z`` and the multiplicity used.

    Tries the method's multiplicities whose parity matches ``z`` electrons and
    returns the lowest energy (see the module notes on spin).
    """
    from ase.calculators.calculator import CalculationFailed

    spec = get_method(method)
    best: Optional[Tuple[float, int]] = None
    errors = []
    candidates = [m for m in spec.multiplicities if (m - 1) % 2 == z % 2] or list(spec.multiplicities)
    for mult in candidates:
        atom = _single_atom(z)
        atom.calc = spec.calculator(0, mult)
        try:
            energy = float(atom.get_potential_energy())
        except CalculationFailed as err:
            errors.append(f"multiplicity {mult}: {err}")
            continue
        if best is None or energy < best[0] - 1e-8:
            best = (energy, mult)
    if best is None:
        raise DataError(f"isolated atom Z={z}", None, f"{spec.name} failed for every spin state: {'; '.join(errors)}")
    return best


def _labelled_copy(atoms, energy: float, forces: np.ndarray, info: dict):
    """A calculator-free copy carrying ``info['energy']`` and ``arrays['forces']``."""
    from ase import Atoms
    out = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    out.info.update(info)
    out.info["energy"] = float(energy)
    out.arrays["forces"] = np.array(forces, dtype=np.float64)
    return out


def _write_extxyz_atomic(path: Path, images) -> None:
    """Write ``images`` to ``path`` atomically (:func:`molsym.files.atomic_path`)."""
    import ase.io
    with atomic_path(path) as tmp, open(tmp, "w") as handle:  # format given, so the suffix is free
        ase.io.write(handle, images, format="extxyz")


def isolated_atoms_path(out) -> Path:
    """``<dir>/<stem>_isolated_atoms.xyz`` for a trajectory written to ``out``."""
    out = Path(out)
    return out.with_name(f"{out.stem}_isolated_atoms.xyz")


@dataclass
class GeneratedDataset:
    """What :func:`generate_dataset` wrote."""

    path: Path
    isolated_atoms_path: Path
    frames: int
    e0s: Dict[int, float]
    seconds: float


def _check_positive(name: str, value, integer: bool = False) -> None:
    if integer and (int(value) != value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


def generate_dataset(smiles: str, out, method: str = "gfn2-xtb", temperature: float = 500.0,
                     frames: int = 1000, seed: int = 0, timestep_fs: float = 0.5,
                     stride: Optional[int] = None, equilibration_steps: Optional[int] = None,
                     friction_per_fs: float = DEFAULT_FRICTION_PER_FS,
                     threads: Optional[int] = 1, progress: bool = True) -> GeneratedDataset:
    """Run Langevin MD of ``smiles`` and write a labelled extxyz trajectory.

    Parameters
    ----------
    smiles : the molecule (hydrogens are added; formal charges and radicals
        set the total charge and multiplicity)
    out : path of the extxyz file; ``<stem>_isolated_atoms.xyz`` is written beside it
    method : a name in :data:`METHODS` (``"gfn2-xtb"``, ``"gfn1-xtb"``, ...) or a :class:`Method`
    temperature : thermostat temperature, K
    frames : number of frames kept
    seed : seeds RDKit embedding, initial velocities and Langevin noise (>= 0)
    timestep_fs : MD time step, fs
    stride : MD steps between kept frames; default :func:`default_stride`
        (10 fs apart: 20 steps at 0.5 fs)
    equilibration_steps : MD steps before the first kept frame; default
        :data:`DEFAULT_EQUILIBRATION_FS` / timestep (1000 steps at 0.5 fs)
    friction_per_fs : Langevin friction, 1/fs
    threads : OpenMP threads for the calculator during the run (default 1: a small
        molecule gains nothing from more, and results depend on the thread
        count); ``None`` leaves the process setting (``OMP_NUM_THREADS``) alone
    progress : show a tqdm progress bar

    Returns
    -------
    GeneratedDataset
        paths written, frame count, E0s {Z: eV} and wall time in s.

    Each frame has ``info['energy']`` (eV), ``arrays['forces']`` [n, 3] (eV/Å),
    and ``config_type=md``, ``smiles``, ``method``, ``temperature`` (K),
    ``md_step``, ``charge``, ``multiplicity`` in its info.

    Examples
    --------
    >>> generate_dataset("O", "water.xyz", frames=5, stride=2, equilibration_steps=10,
    ...                  progress=False).frames  # doctest: +SKIP
    5
    """
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary
    try:
        from ase.md.velocitydistribution import thermalize_momenta  # ase >= 3.29
    except ImportError:  # older ase
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta

    spec = get_method(method)
    _check_positive("frames", frames, integer=True)
    _check_positive("temperature", temperature)
    _check_positive("timestep_fs", timestep_fs)
    _check_positive("friction_per_fs", friction_per_fs)
    stride = default_stride(timestep_fs) if stride is None else stride
    _check_positive("stride", stride, integer=True)
    if equilibration_steps is None:
        equilibration_steps = int(round(DEFAULT_EQUILIBRATION_FS / timestep_fs))
    if int(equilibration_steps) != equilibration_steps or equilibration_steps < 0:
        raise ValueError(f"equilibration_steps must be a non-negative integer, got {equilibration_steps!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if threads is not None:
        _check_positive("threads", threads, integer=True)
    out = Path(out)
    start = time.perf_counter()

    atoms = embed_conformer(smiles, seed)
    charge, multiplicity = atoms.info.pop("charge"), atoms.info.pop("multiplicity")
    atoms.calc = spec.calculator(charge, multiplicity)  # loads the method's libraries first,
    with _limit_threads(threads):                       # so that their thread pools can be limited
        rng = np.random.default_rng(seed)
        thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
        Stationary(atoms)
        atoms.set_constraint(FixCom())  # the centre of mass stays put; the molecule may rotate
        dyn = Langevin(atoms, timestep=timestep_fs * units.fs, temperature_K=temperature,
                       friction=friction_per_fs / units.fs, fixcm=False, rng=rng)
        info = {"config_type": "md", "smiles": smiles, "method": spec.name,
                "temperature": float(temperature), "charge": charge, "multiplicity": multiplicity}
        images = _sample(dyn, atoms, frames, stride, equilibration_steps, info, out, progress)
        isolated = [_isolated_frame(z, spec) for z in sorted(set(int(z) for z in atoms.numbers))]
    e0s = {int(a.numbers[0]): a.info["energy"] for a in isolated}

    iso_path = isolated_atoms_path(out)
    _write_extxyz_atomic(iso_path, isolated)
    _write_extxyz_atomic(out, images)
    return GeneratedDataset(out, iso_path, len(images), e0s, time.perf_counter() - start)


def _sample(dyn, atoms, frames: int, stride: int, equilibration_steps: int, info: dict,
            out: Path, progress: bool) -> list:
    """Equilibrate, then keep ``frames`` labelled copies ``stride`` steps apart."""
    from tqdm.auto import tqdm

    images = []
    total = equilibration_steps + frames * stride
    with tqdm(total=total, unit="step", desc=f"{info['method']} MD {info['smiles']}",
              disable=not progress) as bar:
        bar.set_postfix_str("equilibrating", refresh=False)
        done = 0
        while done < equilibration_steps:
            chunk = min(100, equilibration_steps - done)
            _run(dyn, chunk, out, None, info)
            done += chunk
            bar.update(chunk)
        for k in range(frames):
            _run(dyn, stride, out, k, info)
            bar.update(stride)
            energy = atoms.get_potential_energy()
            forces = atoms.get_forces(apply_constraint=False)  # true -dE/dx, not COM-projected
            check_frame(make_frame(atoms.numbers, atoms.positions, energy=energy, forces=forces), str(out), k)
            images.append(_labelled_copy(atoms, energy, forces, {**info, "md_step": done + (k + 1) * stride}))
            bar.set_postfix_str(f"{k + 1}/{frames} frames", refresh=False)
    return images


def _isolated_frame(z: int, method: Method):
    """One ``config_type=isolated_atom`` frame with the atom's energy and zero forces."""
    energy, mult = isolated_atom_energy(z, method)
    return _labelled_copy(_single_atom(z), energy, np.zeros((1, 3)),
                          {"config_type": "isolated_atom", "method": method.name, "multiplicity": mult})


@contextmanager
def _limit_threads(threads: Optional[int]):
    """Limit OpenMP threads (tblite) to ``threads`` inside the block; ``None`` leaves them alone.

    Uses threadpoolctl; without it, a warning says to set ``OMP_NUM_THREADS``.
    """
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        warnings.warn("threadpoolctl is not installed, so molsym cannot limit tblite's OpenMP threads; "
                      f"set OMP_NUM_THREADS={threads} for speed and reproducibility", RuntimeWarning)
        yield
        return
    with threadpool_limits(limits=int(threads), user_api="openmp"):
        yield


def _single_atom(z: int):
    from ase import Atoms
    return Atoms(numbers=[z], positions=[[0.0, 0.0, 0.0]])


def _run(dyn, steps: int, out: Path, frame: Optional[int], info: dict) -> None:
    """Advance ``dyn`` by ``steps``, turning a calculator failure into a DataError."""
    from ase.calculators.calculator import CalculationFailed, InputError
    stage = "equilibration" if frame is None else "sampling"
    try:
        dyn.run(steps)
    except InputError as err:  # e.g. an element the method does not parametrise
        raise DataError(f"SMILES {info['smiles']!r}", None,
                        f"{info['method']} cannot handle this molecule: {err}") from err
    except CalculationFailed as err:  # e.g. an SCF that does not converge
        raise DataError(str(out), frame, f"calculator failed during {stage}: {err}") from err


__all__ = [
    "Method", "METHODS", "register_method", "available_methods", "get_method",
    "default_stride", "embed_conformer", "isolated_atom_energy", "isolated_atoms_path",
    "GeneratedDataset", "generate_dataset",
    "DEFAULT_FRAME_SPACING_FS", "DEFAULT_EQUILIBRATION_FS", "DEFAULT_FRICTION_PER_FS",
]
