"""Operating characteristics of a design, from the rows of its simulated trials.

Per kind of trial (``alternative``: the proposed effect as the model predicts
it; ``null``: control outcomes in every arm; ``assurance``: a fresh parameter
set per trial) and per comparison:

* the probability of rejecting in favour of the experimental arm (power,
  type I error or assurance) with its Monte Carlo SE ``sqrt(p (1 - p) / M)``;
* the probability of stopping at each look, for efficacy and for futility;
* the expected number of patients, events (information) and duration (days)
  at the analysis where the trial ended;
* the mean estimate and mean true effect at that analysis, bias (on the log
  scale for hazard ratios) and the coverage of the 95% interval.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

KINDS = ("alternative", "null", "assurance")


def summarise(looks: pd.DataFrame) -> pd.DataFrame:
    """One row per (kind, comparison, statistic): ``value`` and ``mc_se``."""
    records = []
    final = looks[looks["final"]]
    for (kind, comparison), group in final.groupby(["kind", "comparison"], sort=False):
        m = len(group)

        def add(statistic: str, values: pd.Series, proportion: bool = False) -> None:
            values = values.astype(float)
            mean = float(values.mean()) if len(values) else math.nan
            if proportion:
                se = math.sqrt(mean * (1 - mean) / m) if m else math.nan
            else:
                se = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan
            records.append({"kind": kind, "comparison": comparison, "statistic": statistic,
                            "value": mean, "mc_se": se, "trials": m})

        add("reject_for_experimental", group["decision"] == "efficacy", proportion=True)
        for look in sorted(looks["look"].unique()):
            at = group["look"] == look
            add(f"stop_efficacy_look_{look}", at & (group["decision"] == "efficacy"), proportion=True)
            if (group["decision"] == "futility").any():
                add(f"stop_futility_look_{look}", at & (group["decision"] == "futility"), proportion=True)
        add("expected_patients", group["n_enrolled"])
        add("expected_information", group["information"])
        add("expected_duration_days", group["look_day"])
        scale = np.log if (group["effect"] == "hazard_ratio").all() else (lambda x: x)
        with np.errstate(divide="ignore"):  # an HR of 0 (no events on one arm) has no log; it is left out
            estimate, truth = scale(group["estimate"].astype(float)), scale(group["true_effect"].astype(float))
        ok = np.isfinite(estimate) & np.isfinite(truth)
        add("mean_estimate", group["estimate"][ok])
        add("mean_true_effect", group["true_effect"][ok])
        add("bias", (estimate - truth)[ok])
        covered = (group["ci_low"] <= group["true_effect"]) & (group["true_effect"] <= group["ci_high"])
        add("coverage_95", covered[ok], proportion=True)
    return pd.DataFrame.from_records(records)


def value(summary: pd.DataFrame, kind: str, comparison: str, statistic: str) -> tuple[float, float]:
    row = summary[(summary["kind"] == kind) & (summary["comparison"] == comparison) & (summary["statistic"] == statistic)]
    if row.empty:
        return math.nan, math.nan
    return float(row["value"].iloc[0]), float(row["mc_se"].iloc[0])
