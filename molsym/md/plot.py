"""Energy-and-temperature trace of an MD run, as a PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np

from molsym.files import atomic_path


def plot_trace(log: Dict[str, np.ndarray], path, n_atoms: int, title: str = "",
               instability_step: Optional[int] = None) -> Path:
    """Draw potential/total energy (meV/atom, relative to the start) and temperature vs time.

    Parameters
    ----------
    log : dict
        Columns ``time_ps``, ``epot_eV``, ``etot_eV``, ``temperature_K``
        (as returned in :attr:`molsym.md.MDResult.log`).
    path : str or Path
        PNG to write (atomically).
    n_atoms : int
        Atoms in the system, for per-atom energies.
    instability_step : int, optional
        Marked with a vertical line when the watchdog stopped the run.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    t = log["time_ps"]
    fig, (ax_e, ax_t) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    if len(t):
        ref = log["etot_eV"][0]
        ax_e.plot(t, (log["epot_eV"] - ref) / n_atoms * 1e3, lw=0.8, label="potential")
        ax_e.plot(t, (log["etot_eV"] - ref) / n_atoms * 1e3, lw=1.2, label="total")
        ax_t.plot(t, log["temperature_K"], lw=0.8, color="tab:red")
    ax_e.set_ylabel("E − E_tot(0) [meV/atom]")
    ax_e.legend(loc="best", fontsize=8)
    ax_t.set_ylabel("temperature [K]")
    ax_t.set_xlabel("time [ps]")
    if instability_step is not None and len(t):
        dt_ps = t[1] / log["step"][1] if len(t) > 1 and log["step"][1] else 0.0
        for ax in (ax_e, ax_t):
            ax.axvline(instability_step * dt_ps, color="k", ls="--", lw=0.8)
        ax_e.set_title("watchdog stopped the run (dashed line)", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        with atomic_path(path, suffix=".png") as tmp:  # savefig infers the format from the name
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
    return path
