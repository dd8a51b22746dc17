"""Strategy comparison: outcomes per strategy, and paired differences from the reference.

For every (strategy, replication, subgroup) the outcome measures below are
computed from the ``patients`` table; then, across replications, each
strategy's mean with a Monte Carlo 95% interval (mean +/- 1.96 sd / sqrt(R)),
and each strategy's difference from the reference strategy, *paired by
replication*: all strategies of a replication share the same patients and
random draws (common random numbers), so the difference is computed inside
each replication first and its spread across replications gives the interval.
The variance reduction that pairing achieved is reported as
``1 - var(paired differences) / (var(a) + var(b))``, the share of the
unpaired variance that common random numbers removed.

Survival measures are Kaplan-Meier estimates from enrolment (lifelines); when
no patient is censored before the time point, the estimate is the plain
share surviving, which is what Kaplan-Meier gives there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

YEAR_DAYS = 365.25
Z95 = 1.959963984540054

# Outcome measures: name -> (description, function of one group's patients).
MEASURES: dict[str, str] = {
    "reinduction_death": "death during reinduction",
    "grade3plus": "worst adverse event grade >= 3 in reinduction",
    "grade4plus": "worst adverse event grade >= 4 in reinduction",
    "infection_grade3plus": "grade >= 3 infection in reinduction",
    "sepsis_grade3plus": "grade >= 3 sepsis in reinduction",
    "mrd_negative_remission": "remission with end-of-reinduction MRD < 0.01%",
    "hsct": "received HSCT",
    "relapse": "relapsed",
    "efs_2y": "2-year EFS (Kaplan-Meier)",
    "efs_4y": "4-year EFS (Kaplan-Meier)",
    "os_2y": "2-year OS (Kaplan-Meier)",
    "os_4y": "4-year OS (Kaplan-Meier)",
    "rmst_os_4y_days": "restricted mean survival to 4 years, days",
    "inpatient_days": "inpatient days, mean",
}
# What tables and figures show for each measure: (readable name, unit). "%"
# measures are stored as proportions; their differences are percentage points.
MEASURE_LABELS: dict[str, tuple[str, str]] = {
    "reinduction_death": ("Death in reinduction", "%"),
    "grade3plus": ("Grade ≥3 adverse event in reinduction", "%"),
    "grade4plus": ("Grade ≥4 adverse event in reinduction", "%"),
    "infection_grade3plus": ("Grade ≥3 infection in reinduction", "%"),
    "sepsis_grade3plus": ("Grade ≥3 sepsis in reinduction", "%"),
    "mrd_negative_remission": ("Remission with MRD <0.01%", "%"),
    "hsct": ("HSCT", "%"),
    "relapse": ("Relapse", "%"),
    "efs_2y": ("2-year EFS", "%"),
    "efs_4y": ("4-year EFS", "%"),
    "os_2y": ("2-year OS", "%"),
    "os_4y": ("4-year OS", "%"),
    "rmst_os_4y_days": ("Restricted mean survival to 4 years", "days"),
    "inpatient_days": ("Inpatient stay, mean", "days"),
}


def measure_label(measure: str, difference: bool = False) -> str:
    """``os_4y`` -> "4-year OS (%)"; a difference of a "%" measure is in percentage points."""
    name, unit = MEASURE_LABELS.get(measure, (measure, ""))
    if difference and unit == "%":
        unit = "percentage points"
    return f"{name} ({unit})" if unit else name


def measure_scale(measure: str) -> tuple[float, int]:
    """(factor, decimals) to show a measure: proportions as percentages to 0.1, days whole."""
    return (1.0, 0) if MEASURE_LABELS.get(measure, ("", ""))[1] == "days" or measure.endswith("days") else (100.0, 1)


SUBGROUPS = ("all", "relapse_group", "risk_group", "age_band")


def age_band(age_years: pd.Series) -> pd.Series:
    return pd.cut(age_years, [0, 10, 18, np.inf], right=False, labels=["1-9", "10-17", "18+"]).astype(str)


def _survival_at(days: np.ndarray, events: np.ndarray, at_days: float) -> float:
    if len(days) == 0:
        return math.nan
    censored_before = (~events) & (days < at_days)
    if not censored_before.any():
        return float(np.mean(days > at_days))
    from lifelines import KaplanMeierFitter

    fitter = KaplanMeierFitter().fit(days, events)
    return float(fitter.survival_function_at_times(at_days).iloc[0])


def _rmst(days: np.ndarray, events: np.ndarray, limit_days: float) -> float:
    if len(days) == 0:
        return math.nan
    censored_before = (~events) & (days < limit_days)
    if not censored_before.any():
        return float(np.mean(np.minimum(days, limit_days)))
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    return float(restricted_mean_survival_time(KaplanMeierFitter().fit(days, events), t=limit_days))


def measures(group: pd.DataFrame) -> dict[str, float]:
    """Every outcome measure for one group of patients."""
    efs_days, efs_event = group["efs_days"].to_numpy(float), group["efs_event"].to_numpy(bool)
    os_days, os_event = group["os_days"].to_numpy(float), group["os_event"].to_numpy(bool)
    remission = ~group["block1_death"].astype(bool) & ~group["early_treatment_failure"].astype(bool)
    return {
        "reinduction_death": float(group["block1_death"].mean()),
        "grade3plus": float((group["block1_max_grade"] >= 3).mean()),
        "grade4plus": float((group["block1_max_grade"] >= 4).mean()),
        "infection_grade3plus": float((group["block1_infection_grade"] >= 3).mean()),
        "sepsis_grade3plus": float((group["block1_sepsis_grade"] >= 3).mean()),
        "mrd_negative_remission": float((remission & (group["eob1_mrd_percent"] < 0.01)).mean()),
        "hsct": float(group["hsct"].mean()),
        "relapse": float(group["relapse_day"].notna().mean()),
        "efs_2y": _survival_at(efs_days, efs_event, 2 * YEAR_DAYS),
        "efs_4y": _survival_at(efs_days, efs_event, 4 * YEAR_DAYS),
        "os_2y": _survival_at(os_days, os_event, 2 * YEAR_DAYS),
        "os_4y": _survival_at(os_days, os_event, 4 * YEAR_DAYS),
        "rmst_os_4y_days": _rmst(os_days, os_event, 4 * YEAR_DAYS),
        "inpatient_days": float(group["inpatient_days"].mean()),
    }


def per_replication(patients: pd.DataFrame) -> pd.DataFrame:
    """Long table: strategy, replication, subgroup, level, measure, value."""
    patients = patients.assign(all="all", age_band=age_band(patients["age_years"]),
                               risk_group=patients["risk_group"].fillna("not assigned"))
    rows = []
    for subgroup in SUBGROUPS:
        for (strategy, replication, level), group in patients.groupby(
            ["strategy", "replication", subgroup], sort=True, observed=True
        ):
            for measure, value in measures(group).items():
                rows.append((strategy, replication, subgroup, str(level), measure, value))
    return pd.DataFrame(rows, columns=["strategy", "replication", "subgroup", "level", "measure", "value"])


def _interval(values: pd.Series) -> tuple[float, float, float, float]:
    values = values.dropna()
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    se = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return mean, se, mean - Z95 * se, mean + Z95 * se


def summarise(per_rep: pd.DataFrame, strategies: list[str], reference: str) -> pd.DataFrame:
    """Means and differences from the reference with Monte Carlo 95% intervals.

    Columns: subgroup, level, measure, strategy, comparison ("value" or
    "difference"), mean, mc_se, ci_low, ci_high, replications, and for
    differences ``unpaired_se`` and ``variance_reduction``.
    """
    keys = ["subgroup", "level", "measure"]
    wide = per_rep.set_index(keys + ["replication", "strategy"])["value"].unstack("strategy")
    rows = []
    for key, table in wide.groupby(level=keys, sort=True):
        for strategy in strategies:
            if strategy not in table:
                continue
            mean, se, low, high = _interval(table[strategy])
            rows.append((*key, strategy, "value", mean, se, low, high, int(table[strategy].notna().sum()), math.nan, math.nan))
            if strategy == reference or reference not in table:
                continue
            both = table[[strategy, reference]].dropna()
            mean, se, low, high = _interval(both[strategy] - both[reference])
            n = len(both)
            unpaired_var = (both[strategy].var(ddof=1) + both[reference].var(ddof=1)) / n if n > 1 else math.nan
            unpaired_se = math.sqrt(unpaired_var) if unpaired_var == unpaired_var else math.nan
            reduction = 1 - (se**2) / unpaired_var if unpaired_var and unpaired_var > 0 else math.nan
            rows.append((*key, strategy, "difference", mean, se, low, high, n, unpaired_se, reduction))
    return pd.DataFrame(
        rows,
        columns=keys + ["strategy", "comparison", "mean", "mc_se", "ci_low", "ci_high", "replications",
                        "unpaired_se", "variance_reduction"],
    )
