"""Molecular dynamics with molsym models: ASE integrators, a log, a trace plot,
and a watchdog that stops runs that become unphysical.

>>> from molsym.md import run_md, StabilityWatchdog
>>> result = run_md(atoms, "nve", steps=100, watchdog=StabilityWatchdog(atoms))  # doctest: +SKIP
"""
from molsym.md.driver import (ENSEMBLES, LOG_COLUMNS, SPREAD_COLUMN, MDResult, check_md_arguments,
                              init_velocities, make_dynamics, md_frame, run_md)
from molsym.md.plot import plot_trace
from molsym.md.watchdog import Instability, MDInstabilityError, StabilityWatchdog, non_finite

__all__ = ["run_md", "make_dynamics", "init_velocities", "check_md_arguments", "md_frame", "MDResult",
           "ENSEMBLES", "LOG_COLUMNS", "SPREAD_COLUMN", "StabilityWatchdog", "Instability", "MDInstabilityError",
           "non_finite", "plot_trace"]
