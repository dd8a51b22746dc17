"""Figures of a trial-design run, for notebooks and reports (matplotlib, no I/O).

* :func:`plot_z_paths`: each simulated trial's z statistic look by look, with
  the efficacy boundaries it was tested against;
* :func:`plot_estimate_vs_truth`: the estimate at the analysis where each
  trial ended against the true effect in the same patients (every arm seen);
* :func:`plot_power_curve`: power by N from a sample-size search, with
  Monte Carlo 95% bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.axes import Axes


def _axes(ax: Axes | None) -> Axes:
    return ax if ax is not None else plt.subplots(figsize=(6, 4))[1]


def plot_z_paths(looks: pd.DataFrame, kind: str = "alternative", max_trials: int = 200, ax: Axes | None = None) -> Axes:
    ax = _axes(ax)
    rows = looks[looks["kind"] == kind]
    for _, path in list(rows.groupby(["trial", "comparison"]))[:max_trials]:
        colour = "tab:green" if (path["decision"] == "efficacy").any() else "0.6"
        ax.plot(path["information_fraction"], path["z"], color=colour, alpha=0.3, lw=0.8, marker=".")
    bounds = rows.groupby("look")[["information_fraction", "efficacy_z"]].mean()
    ax.plot(bounds["information_fraction"], bounds["efficacy_z"], "k-", lw=2, marker="o",
            label="efficacy boundary (mean over trials)")
    ax.axhline(0, color="0.3", lw=0.5)
    ax.set_xlabel("information fraction")
    ax.set_ylabel("z (positive favours the experimental arm)")
    ax.set_title(f"z paths of {kind} trials (green: stopped for efficacy)")
    ax.legend(loc="lower left")
    return ax


def plot_estimate_vs_truth(looks: pd.DataFrame, kind: str = "alternative", ax: Axes | None = None) -> Axes:
    ax = _axes(ax)
    final = looks[(looks["kind"] == kind) & looks["final"]]
    ratio = (final["effect"] == "hazard_ratio").all()
    x, y = final["true_effect"].to_numpy(float), final["estimate"].to_numpy(float)
    keep = np.isfinite(x) & np.isfinite(y)
    ax.scatter(x[keep], y[keep], s=8, alpha=0.5)
    low, high = np.nanmin([x[keep].min(), y[keep].min()]), np.nanmax([x[keep].max(), y[keep].max()])
    ax.plot([low, high], [low, high], "k--", lw=1, label="estimate = truth")
    if ratio:
        ax.set_xscale("log")
        ax.set_yscale("log")
    label = "hazard ratio" if ratio else "difference"
    ax.set_xlabel(f"true {label} (same patients, every arm)")
    ax.set_ylabel(f"estimated {label} at the final analysis")
    ax.legend()
    return ax


def plot_power_curve(curve: pd.DataFrame, target: float | None = None, ax: Axes | None = None) -> Axes:
    ax = _axes(ax)
    ax.errorbar(curve["n_patients"], curve["power"], yerr=1.96 * curve["mc_se"], marker="o", capsize=3)
    if target is not None:
        ax.axhline(target, color="tab:red", ls="--", label=f"target {target:g}")
        ax.legend()
    ax.set_xlabel("randomised patients (N)")
    ax.set_ylabel("power")
    ax.set_ylim(0, 1)
    return ax
