"""The learning PNG of ``molsym learn``: agreement and error per iteration, labelled frames per iteration."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from molsym.files import atomic_path

__all__ = ["plot_learning"]


def plot_learning(state: Dict[str, Any], path) -> Path:
    """Two panels: force spread / error (meV/Å, log scale) and labelled frames, against the iteration.

    Top: the largest and the mean committee force spread over each
    iteration's exploration, the threshold, the committee's force RMSE on
    the frames it then labelled (found before training on them) and, with a
    test set, on the test set. Bottom: frames trained on (bars) and how many
    of each iteration's new frames came from watchdog stops.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = state["iterations"]
    its = [r["iteration"] for r in records]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)

    def series(key):
        pts = [(r["iteration"], 1e3 * r[key]) for r in records if r.get(key) is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    for key, label, style in [("max_spread", "largest spread in MD", "o-"),
                              ("mean_spread", "mean spread in MD", "s--"),
                              ("new_force_rmse", "RMSE on the frames then labelled", "^-"),
                              ("test_force_rmse", "RMSE on the test set", "d-")]:
        x, y = series(key)
        if x:
            top.plot(x, y, style, label=label)
    top.axhline(1e3 * state["settings"]["threshold"], color="k", lw=0.8, ls=":", label="threshold")
    top.set_yscale("log")
    top.set_ylabel("force spread / error [meV/Å]")
    top.legend(fontsize=8, loc="best")
    top.set_title(f"molsym learn {state['settings']['smiles']}: {state.get('stopped') or 'running'}", fontsize=10)
    bottom.bar(its, [r["train_frames"] for r in records], color="tab:blue", alpha=0.6, label="frames trained on")
    bottom.bar(its, [r.get("fired", 0) if r.get("labelled") else 0 for r in records], color="tab:red",
               alpha=0.8, label="watchdog stops among the new frames")
    bottom.set_xlabel("iteration")
    bottom.set_ylabel("frames")
    bottom.set_xticks(its)
    bottom.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
    return path
