"""Run molecular dynamics with ASE integrators, a log, a trajectory and a watchdog."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.md.velocitydistribution import Stationary, ZeroRotation

try:  # ase >= 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # pragma: no cover - older ase
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta

from molsym.md.watchdog import Instability, MDInstabilityError, StabilityWatchdog, non_finite

ENSEMBLES = ("nve", "nvt", "berendsen", "langevin")

LOG_COLUMNS = ("step", "time_ps", "epot_eV", "ekin_eV", "etot_eV", "temperature_K")
#: The log column a committee adds: its largest per-atom force spread, eV/Å (the calculator's
#: ``max_force_std``, :func:`molsym.calculator.calculator.max_force_std`).
SPREAD_COLUMN = "max_force_std_eV_A"
#: The calculator result that :data:`SPREAD_COLUMN` logs.
SPREAD_RESULT = "max_force_std"

#: What each numeric argument of :func:`run_md` must be: name -> (test, requirement).
ARGUMENT_RULES: Dict[str, tuple] = {
    "temperature": (lambda v: math.isfinite(v) and v >= 0, "finite and >= 0 K"),
    "timestep": (lambda v: math.isfinite(v) and v > 0, "finite and > 0 fs"),
    "steps": (lambda v: v >= 0, ">= 0"),
    "friction": (lambda v: math.isfinite(v) and v >= 0, "finite and >= 0 1/fs"),
    "tdamp": (lambda v: math.isfinite(v) and v > 0, "finite and > 0 fs"),
    "log_every": (lambda v: v >= 1, ">= 1"),
    "traj_every": (lambda v: v >= 1, ">= 1"),
}


def check_md_arguments(name: Callable[[str], str] = str, **values) -> None:
    """Raise ``ValueError`` for the first argument of :data:`ARGUMENT_RULES` no run can use.

    ``name`` turns an argument's name into the one the message shows (the
    CLI passes its flag, ``--log-every``); ``None`` values are not checked.

    Examples
    --------
    >>> check_md_arguments(temperature=-5.0)
    Traceback (most recent call last):
    ...
    ValueError: temperature must be finite and >= 0 K, got -5.0
    """
    for key, value in values.items():
        test, need = ARGUMENT_RULES[key]
        if value is not None and not test(value):
            raise ValueError(f"{name(key)} must be {need}, got {value}")


@dataclass
class MDResult:
    """Outcome of :func:`run_md`.

    Attributes
    ----------
    steps : int
        Steps completed (less than asked when the watchdog fired).
    instability : Instability or None
        Why the run stopped early, if it did.
    log : dict of str -> ndarray
        Columns of :data:`LOG_COLUMNS` (and :data:`SPREAD_COLUMN` for a
        committee), one row per logged step.
    wall_s : float
        Wall time of the integration loop, s.
    max_energy_drift : float
        max |E_tot(t) − E_tot(0)| over logged steps, eV/atom.
    """

    steps: int
    instability: Optional[Instability]
    log: Dict[str, np.ndarray]
    wall_s: float
    timestep_fs: float
    max_energy_drift: float
    files: Dict[str, Path] = field(default_factory=dict)

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def ns_per_day(self) -> float:
        return self.steps_per_s * self.timestep_fs * 86400.0 * 1e-6


def make_dynamics(atoms, ensemble: str, timestep: float, temperature: float = 300.0,
                  friction: float = 0.01, tdamp: float = 100.0, seed: int = 0):
    """An ASE integrator for ``ensemble``.

    Parameters
    ----------
    ensemble : {"nve", "nvt", "berendsen", "langevin"}
        ``nvt`` is a Nosé–Hoover chain, ``berendsen`` a Berendsen thermostat.
    timestep : fs
    temperature : K
    friction : 1/fs (Langevin)
    tdamp : fs, thermostat time constant (Nosé–Hoover, Berendsen)
    """
    dt = timestep * units.fs
    if ensemble == "nve":
        from ase.md.verlet import VelocityVerlet
        return VelocityVerlet(atoms, dt)
    if ensemble == "langevin":
        from ase.md.langevin import Langevin
        return Langevin(atoms, dt, temperature_K=temperature, friction=friction / units.fs,
                        fixcm=False, rng=np.random.default_rng(seed))
    if ensemble == "nvt":
        from ase.md.nose_hoover_chain import NoseHooverChainNVT
        return NoseHooverChainNVT(atoms, dt, temperature_K=temperature, tdamp=tdamp * units.fs)
    if ensemble == "berendsen":
        from ase.md.nvtberendsen import NVTBerendsen
        return NVTBerendsen(atoms, dt, temperature_K=temperature, taut=tdamp * units.fs)
    raise ValueError(f"unknown ensemble {ensemble!r}; choose one of {ENSEMBLES}")


def init_velocities(atoms, temperature: float, seed: int = 0) -> None:
    """Maxwell–Boltzmann velocities at ``temperature`` K, no net momentum or rotation."""
    thermalize_momenta(atoms, temperature_K=temperature, rng=np.random.default_rng(seed))
    Stationary(atoms)
    if not atoms.pbc.any():
        ZeroRotation(atoms)


def md_frame(atoms, step: int, timestep: float) -> Atoms:
    """The trajectory frame of ``atoms`` at ``step``: what the run computed, and its own labels.

    The frame holds the structure (numbers, positions, cell, pbc, masses
    when set, constraints), the momenta, the calculator's results and
    ``info`` labels ``step``, ``time_ps`` and ``temperature_K`` (the
    instantaneous kinetic temperature). The start structure's own labels
    (a reference energy or forces, ``method``, ``temperature``, ... in its
    ``info`` and ``arrays``) describe another calculation and are left out.
    ASE's extxyz writer stores only standard calculator properties, so
    committee spreads (``energy_std``, ``forces_std``, ...) go to the
    frame's info (per structure) and arrays (per atom).
    """
    frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc,
                  momenta=atoms.get_momenta(), constraint=[c.copy() for c in atoms.constraints])
    if "masses" in atoms.arrays:
        frame.set_masses(atoms.get_masses())
    results = getattr(atoms.calc, "results", {}) or {}
    spread = {k: v for k, v in results.items() if k.endswith("_std")}
    frame.calc = SinglePointCalculator(frame, **{k: v for k, v in results.items() if k not in spread})
    for key, value in spread.items():
        if np.ndim(value) and len(value) == len(atoms):
            frame.arrays[key] = np.asarray(value)
        else:
            frame.info[key] = value
    frame.info.update(step=int(step), time_ps=step * timestep * 1e-3, temperature_K=atoms.get_temperature())
    return frame


def _write_frame(fh, atoms, step: int, timestep: float) -> None:
    """Append the frame of ``atoms`` at ``step`` (:func:`md_frame`) to an extxyz file."""
    write(fh, md_frame(atoms, step, timestep), format="extxyz")
    fh.flush()


class _Log:
    """Rows of energies and temperature (and a committee's spread), mirrored to a whitespace-separated
    text file. The columns are :data:`LOG_COLUMNS`, plus :data:`SPREAD_COLUMN` when the first row has it;
    the header is written with the first row."""

    def __init__(self, path: Optional[Path]):
        self.rows: List[tuple] = []
        self.columns = LOG_COLUMNS
        self.fh = open(path, "w") if path is not None else None
        self._header = False

    def _write_header(self) -> None:
        if self.fh and not self._header:
            self.fh.write("# " + " ".join(self.columns) + "\n")
        self._header = True

    def add(self, row: tuple) -> None:
        if not self.rows:
            self.columns = LOG_COLUMNS + ((SPREAD_COLUMN,) if len(row) > len(LOG_COLUMNS) else ())
        row = tuple(row) + (float("nan"),) * (len(self.columns) - len(row))
        self._write_header()
        self.rows.append(row[:len(self.columns)])
        if self.fh:
            spread = f" {row[6]:.6f}" if len(self.columns) > len(LOG_COLUMNS) else ""
            self.fh.write(f"{row[0]:d} {row[1]:.6f} {row[2]:.6f} {row[3]:.6f} {row[4]:.6f} {row[5]:.2f}"
                          f"{spread}\n")
            self.fh.flush()

    def close(self) -> Dict[str, np.ndarray]:
        self._write_header()
        if self.fh:
            self.fh.close()
        arr = np.array(self.rows, dtype=np.float64).reshape(-1, len(self.columns))
        return {name: arr[:, k] for k, name in enumerate(self.columns)}


def _log_row(atoms, step: int, timestep: float, epot: float, ekin: float, etot: float) -> tuple:
    """One log row: :data:`LOG_COLUMNS`, then the committee's spread when the calculator reports one."""
    row = (step, step * timestep * 1e-3, epot, ekin, etot, atoms.get_temperature())
    spread = (getattr(atoms.calc, "results", None) or {}).get(SPREAD_RESULT)
    return row if spread is None else row + (float(spread),)


def run_md(atoms, ensemble: str = "nve", temperature: float = 300.0, timestep: float = 0.5,
           steps: int = 1000, out: Optional[str] = None, log_path: Optional[str] = None,
           log_every: int = 10, traj_every: Optional[int] = None, friction: float = 0.01,
           tdamp: float = 100.0, watchdog: Optional[StabilityWatchdog] = None,
           velocities: bool = True, seed: int = 0, progress: bool = True) -> MDResult:
    """Integrate ``atoms`` (with a calculator attached) for ``steps`` steps.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure with ``atoms.calc`` set; modified in place.
    ensemble : {"nve", "nvt", "berendsen", "langevin"}
    temperature : K (initial velocities, thermostat target)
    timestep : fs
    steps : number of steps
    out : str, optional
        Trajectory file (extxyz), appended every ``traj_every`` steps and at
        the step where the watchdog fires; what was written stays on disk.
        Frames hold the model's results and the run's labels (:func:`md_frame`).
    log_path : str, optional
        Text log with :data:`LOG_COLUMNS`, written every ``log_every`` steps;
        with a committee calculator (one that reports ``max_force_std``) a
        last column :data:`SPREAD_COLUMN`, its largest per-atom force spread
        in eV/Å.
    friction : 1/fs (Langevin)
    tdamp : fs (Nosé–Hoover, Berendsen)
    watchdog : StabilityWatchdog, optional
        Checked every step; when it fires the run stops and the result says why.
        NaN or inf in the positions, energy or forces stops the run the same
        way with or without a watchdog (:func:`molsym.md.watchdog.non_finite`).
    velocities : bool
        Draw Maxwell–Boltzmann velocities at ``temperature`` first (else keep
        the atoms' momenta).
    seed : int
        Seed of the velocity draw and the Langevin noise.
    progress : bool
        Show a tqdm bar with steps/s and ns/day.
    """
    if ensemble not in ENSEMBLES:
        raise ValueError(f"unknown ensemble {ensemble!r}; choose one of {ENSEMBLES}")
    check_md_arguments(temperature=temperature, timestep=timestep, steps=steps, friction=friction,
                       tdamp=tdamp, log_every=log_every, traj_every=traj_every)
    traj_every = traj_every or log_every
    if velocities:
        init_velocities(atoms, temperature, seed)
    dyn = make_dynamics(atoms, ensemble, timestep, temperature, friction, tdamp, seed)
    n = len(atoms)
    log = _Log(Path(log_path) if log_path else None)
    traj = open(out, "w") if out else None
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, unit="step", dynamic_ncols=True, desc=f"MD {ensemble}")
    instability = None
    e0 = None
    max_drift = 0.0
    t0 = time.perf_counter()
    try:
        for _ in dyn.irun(steps):
            step = dyn.nsteps
            epot = atoms.get_potential_energy()
            ekin = atoms.get_kinetic_energy()
            etot = epot + ekin
            e0 = etot if e0 is None else e0
            if step % log_every == 0 or step == steps:
                max_drift = max(max_drift, abs(etot - e0) / n)
                log.add(_log_row(atoms, step, timestep, epot, ekin, etot))
            if traj is not None and (step % traj_every == 0 or step == steps):
                _write_frame(traj, atoms, step, timestep)
            if watchdog is not None:
                watchdog.check(atoms, step, etot if ensemble == "nve" else None)
            else:  # NaN or inf stops every run: the next step could not be integrated
                found = non_finite(atoms, step)
                if found is not None:
                    raise MDInstabilityError(found)
            if bar is not None and step > 0 and (step % log_every == 0 or step == steps):
                bar.update(step - bar.n)
                rate = bar.format_dict.get("rate") or 0.0
                bar.set_postfix_str(f"{rate * timestep * 0.0864:.2f} ns/day, T={log.rows[-1][5]:.0f} K",
                                    refresh=False)
    except MDInstabilityError as err:
        instability = err.instability
        if traj is not None and dyn.nsteps % traj_every != 0:
            _write_frame(traj, atoms, dyn.nsteps, timestep)
        if not log.rows or log.rows[-1][0] != dyn.nsteps:
            log.add(_log_row(atoms, dyn.nsteps, timestep, epot, ekin, etot))
    finally:
        wall = time.perf_counter() - t0
        if traj is not None:
            traj.close()
        if bar is not None:
            bar.close()
    columns = log.close()
    files = {}
    if out:
        files["trajectory"] = Path(out)
    if log_path:
        files["log"] = Path(log_path)
    return MDResult(dyn.nsteps, instability, columns, wall, timestep, max_drift, files)
