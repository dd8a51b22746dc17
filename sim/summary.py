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

Survival measures are Kaplan-Meier estimates from enrolment, and restricted
mean survival the area under that curve (``sim.km``, one grouped fit for all
groups).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .km import GroupedKaplanMeier

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
SUBGROUPS = ("all", "relapse_group", "risk_group", "age_band")


def age_band(age_years: pd.Series) -> pd.Series:
    return pd.cut(age_years, [0, 10, 18, np.inf], right=False, labels=["1-9", "10-17", "18+"]).astype(str)


# Kaplan-Meier measures: name -> (time column, event column, what, at or up to days).
SURVIVAL_MEASURES: dict[str, tuple[str, str, str, float]] = {
    "efs_2y": ("efs_days", "efs_event", "survival", 2 * YEAR_DAYS),
    "efs_4y": ("efs_days", "efs_event", "survival", 4 * YEAR_DAYS),
    "os_2y": ("os_days", "os_event", "survival", 2 * YEAR_DAYS),
    "os_4y": ("os_days", "os_event", "survival", 4 * YEAR_DAYS),
    "rmst_os_4y_days": ("os_days", "os_event", "rmst", 4 * YEAR_DAYS),
}


def _per_patient(patients: pd.DataFrame) -> pd.DataFrame:
    """Each share or mean measure as a per-patient column, whose group mean is the measure."""
    remission = ~patients["block1_death"].astype(bool) & ~patients["early_treatment_failure"].astype(bool)
    return pd.DataFrame({
        "reinduction_death": patients["block1_death"].astype(float),
        "grade3plus": (patients["block1_max_grade"] >= 3).astype(float),
        "grade4plus": (patients["block1_max_grade"] >= 4).astype(float),
        "infection_grade3plus": (patients["block1_infection_grade"] >= 3).astype(float),
        "sepsis_grade3plus": (patients["block1_sepsis_grade"] >= 3).astype(float),
        "mrd_negative_remission": (remission & (patients["eob1_mrd_percent"] < 0.01)).astype(float),
        "hsct": patients["hsct"].astype(float),
        "relapse": patients["relapse_day"].notna().astype(float),
        "inpatient_days": patients["inpatient_days"].astype(float),
    }, index=patients.index)


def _survival_measures(patients: pd.DataFrame, group: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    """Every Kaplan-Meier measure of every group, one fit per endpoint (``sim.km``)."""
    values = {}
    for endpoint in ("efs", "os"):
        model = GroupedKaplanMeier.fit(patients[f"{endpoint}_days"].to_numpy(float),
                                       patients[f"{endpoint}_event"].to_numpy(bool), group, n_groups)
        for name, (days, _, what, at_days) in SURVIVAL_MEASURES.items():
            if days != f"{endpoint}_days":
                continue
            values[name] = model.survival_at(at_days)[:, 0] if what == "survival" else model.restricted_mean(at_days)
    return values


def per_replication(patients: pd.DataFrame) -> pd.DataFrame:
    """Long table: strategy, replication, subgroup, level, measure, value.

    Every (strategy, replication, subgroup level) at once: shares and means
    by one grouped mean, Kaplan-Meier measures by one grouped fit per
    endpoint. Rows are ordered by subgroup (as in ``SUBGROUPS``), then
    strategy, replication and level, then measure (as in ``MEASURES``).
    """
    patients = patients.assign(all="all", age_band=age_band(patients["age_years"]),
                               risk_group=patients["risk_group"].fillna("not assigned"))
    columns = _per_patient(patients)
    tables = []
    for subgroup in SUBGROUPS:
        keys = [patients["strategy"], patients["replication"], patients[subgroup].astype(str).rename("level")]
        grouped = columns.groupby(keys, sort=True, observed=True)
        wide = grouped.mean()
        wide = wide.assign(**_survival_measures(patients, grouped.ngroup().to_numpy(), grouped.ngroups))
        long = wide[list(MEASURES)].stack(future_stack=True).rename("value").reset_index()
        tables.append(long.rename(columns={f"level_{3}": "measure"}).assign(subgroup=subgroup))
    result = pd.concat(tables, ignore_index=True)
    result.columns = [str(c) for c in result.columns]
    result = result.rename(columns={result.columns[3]: "measure"})
    return result[["strategy", "replication", "subgroup", "level", "measure", "value"]]


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
