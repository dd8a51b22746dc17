"""Sensitivity of strategy differences to the swept parameters.

Input: each point's per-replication outcome measures (``replication_summary``
with a ``point`` column). For every outcome and every strategy other than the
reference, the paired difference from the reference is computed inside each
replication, then averaged over the replications of the point: ``y_k`` with
Monte Carlo variance ``v_k = var / R``.

Methods, by design:

* ``one_way``: the tornado: ``y`` at each parameter's low and high value, the
  central point's ``y``, and the swing ``|y_high - y_low|``.
* ``sobol``: first-order and total indices (SALib ``sobol.analyze``).
* ``morris``: mu* and sigma of the elementary effects (SALib ``morris.analyze``).

  Both give bootstrap confidence intervals; the bootstrap draws from the
  named stream ``sensitivity.<design>.<outcome>.<strategy>`` of the run's root
  seed (``sim.model.streams.library_seed``), so the same run reproduces them.
* ``latin_hypercube``, ``psa``, ``grid``: Spearman rank correlation of each
  parameter with ``y``.

Monte Carlo noise is separated from parameter effects: ``monte_carlo_share =
mean(v_k) / var(y_k)``, the part of the between-point variance that
replication noise alone would produce (near 0: the sweep resolves the
parameters; near 1: more replications per point are needed).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from sim.model.streams import library_seed
from sim.scenario.sweep import salib_problem


def point_differences(per_rep: pd.DataFrame, outcomes: list[str], reference: str) -> pd.DataFrame:
    """Per point, strategy and outcome: mean paired difference and its Monte Carlo variance."""
    overall = per_rep[(per_rep["subgroup"] == "all") & per_rep["measure"].isin(outcomes)]
    wide = overall.set_index(["point", "measure", "replication", "strategy"])["value"].unstack("strategy")
    rows = []
    for strategy in [s for s in wide.columns if s != reference]:
        diff = (wide[strategy] - wide[reference]).rename("difference").reset_index()
        for (point, measure), group in diff.groupby(["point", "measure"]):
            values = group["difference"].dropna()
            n = len(values)
            rows.append((int(point), measure, strategy, float(values.mean()),
                         float(values.var(ddof=1) / n) if n > 1 else math.nan, n))
    return pd.DataFrame(rows, columns=["point", "outcome", "strategy", "mean_difference", "mc_variance", "replications"])


def analyse(
    design: str, paths: list[str], points: np.ndarray, unit: np.ndarray | None, differences: pd.DataFrame,
    seed: int,
) -> pd.DataFrame:
    """Long table: outcome, strategy, parameter, statistic, value, conf (``seed``: the run's root seed)."""
    rows = []
    for (outcome, strategy), group in differences.groupby(["outcome", "strategy"]):
        group = group.sort_values("point")
        y = group["mean_difference"].to_numpy(float)
        total_var = float(np.var(y, ddof=1)) if len(y) > 1 else math.nan
        mc_share = float(np.nanmean(group["mc_variance"]) / total_var) if total_var and total_var > 0 else math.nan
        rows.append((outcome, strategy, "", "monte_carlo_share", mc_share, math.nan))
        rows.append((outcome, strategy, "", "between_point_variance", total_var, math.nan))
        bootstrap_seed = library_seed(seed, f"sensitivity.{design}.{outcome}.{strategy}")
        for parameter, statistic, value, conf in _indices(design, paths, points, unit, y, bootstrap_seed):
            rows.append((outcome, strategy, parameter, statistic, value, conf))
    return pd.DataFrame(rows, columns=["outcome", "strategy", "parameter", "statistic", "value", "conf"])


def _indices(design, paths, points, unit, y, bootstrap_seed: int):
    if design == "one_way":
        centre = y[0]
        for k, path in enumerate(paths):
            low, high = y[1 + 2 * k], y[2 + 2 * k]
            yield path, "at_low", low, math.nan
            yield path, "at_high", high, math.nan
            yield path, "central", centre, math.nan
            yield path, "swing", abs(high - low), math.nan
        return
    if design == "sobol":
        from SALib.analyze import sobol

        result = sobol.analyze(salib_problem(paths), y, calc_second_order=False, print_to_console=False,
                               seed=bootstrap_seed)
        for k, path in enumerate(paths):
            yield path, "S1", float(result["S1"][k]), float(result["S1_conf"][k])
            yield path, "ST", float(result["ST"][k]), float(result["ST_conf"][k])
        return
    if design == "morris":
        from SALib.analyze import morris

        result = morris.analyze(salib_problem(paths), unit, y, num_levels=4, print_to_console=False,
                                seed=bootstrap_seed)
        for k, path in enumerate(paths):
            yield path, "mu_star", float(result["mu_star"][k]), float(result["mu_star_conf"][k])
            yield path, "sigma", float(result["sigma"][k]), math.nan
        return
    for k, path in enumerate(paths):
        column = points[:, k]
        if np.ptp(column) == 0 or np.ptp(y) == 0:
            yield path, "spearman_rho", math.nan, math.nan
            continue
        rho, p_value = stats.spearmanr(column, y)
        yield path, "spearman_rho", float(rho), float(p_value)
