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
mean survival the area under that curve (``sim.analysis.km``, one grouped fit for all
groups).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.analysis.km import Z95, GroupedKaplanMeier, time_order_of
from sim.clinical import YEAR_DAYS
from sim.scenario.measures import MEASURE_LABELS, MEASURES, measure_label, measure_scale  # noqa: F401 (re-exported)

SUBGROUPS = ("all", "relapse_group", "risk_group", "age_band")
# The patient columns :func:`per_replication` reads (a run converts only these to pandas).
PATIENT_COLUMNS = (
    "strategy", "replication", "relapse_group", "risk_group", "age_years", "block1_death", "early_treatment_failure",
    "block1_max_grade", "block1_infection_grade", "block1_sepsis_grade", "eob1_mrd_status", "hsct", "relapse_day",
    "inpatient_days", "blinatumomab_days", "on_therapy_days", "remission_days", "after_relapse_days",
    "efs_days", "efs_event", "os_days", "os_event",
)


# Outcome subgroups by age: upper bounds (excluded) and labels (not the cohort's AGE_BANDS, which draw ages)
_OUTCOME_AGE_BANDS = ((10.0, "1-9"), (18.0, "10-17"), (np.inf, "18+"))


def age_band(age_years: pd.Series | np.ndarray) -> np.ndarray:
    """Each age's band label ("1-9", "10-17", "18+"); "nan" for a missing or negative age."""
    ages = np.asarray(age_years, dtype=float)
    bands = np.full(len(ages), "nan", dtype=object)
    lower = 0.0
    for upper, label in _OUTCOME_AGE_BANDS:
        bands[(ages >= lower) & (ages < upper)] = label
        lower = upper
    return bands


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
    # null (follow-up ended inside reinduction) is neither a death nor a remission
    remission = patients["block1_death"].eq(False) & patients["early_treatment_failure"].eq(False)
    return pd.DataFrame({
        "reinduction_death": patients["block1_death"].astype(float),
        "grade3plus": (patients["block1_max_grade"] >= 3).astype(float),
        "grade4plus": (patients["block1_max_grade"] >= 4).astype(float),
        "infection_grade3plus": (patients["block1_infection_grade"] >= 3).astype(float),
        "sepsis_grade3plus": (patients["block1_sepsis_grade"] >= 3).astype(float),
        "mrd_negative_remission": (remission & (patients["eob1_mrd_status"] == "negative")).astype(float),
        "hsct": patients["hsct"].astype(float),
        "relapse": patients["relapse_day"].notna().astype(float),
        **{name: patients[name].astype(float) for name in
           ("inpatient_days", "blinatumomab_days", "on_therapy_days", "remission_days", "after_relapse_days")},
    }, index=patients.index)


def _survival_measures(patients: pd.DataFrame, group: np.ndarray, n_groups: int,
                       time_orders: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every Kaplan-Meier measure of every group, one fit per endpoint (``sim.analysis.km``);
    ``time_orders`` holds each endpoint's :func:`~sim.analysis.km.time_order_of`, shared by the subgroups."""
    values = {}
    for endpoint in ("efs", "os"):
        model = GroupedKaplanMeier.fit(patients[f"{endpoint}_days"].to_numpy(float),
                                       patients[f"{endpoint}_event"].to_numpy(bool), group, n_groups,
                                       time_orders[endpoint])
        for name, (days, _, what, at_days) in SURVIVAL_MEASURES.items():
            if days != f"{endpoint}_days":
                continue
            values[name] = model.survival_at(at_days)[:, 0] if what == "survival" else model.restricted_mean(at_days)
    return values


def per_replication(patients: pd.DataFrame, economics: dict | None = None) -> pd.DataFrame:
    """Long table: strategy, replication, subgroup, level, measure, value.

    Every (strategy, replication, subgroup level) at once: shares and means
    by one grouped mean, Kaplan-Meier measures by one grouped fit per
    endpoint. Rows are ordered by subgroup (as in ``SUBGROUPS``), then
    strategy, replication and level, then measure (as in ``MEASURES``, then
    ``sim.analysis.economics.ECONOMICS_MEASURES`` when ``economics`` is given).

    ``economics`` maps each replication to its realised
    :class:`~sim.scenario.post_induction.EconomicsParams` (None: no economics).
    """
    columns = _per_patient(patients)
    measures = list(MEASURES)
    if economics:
        from sim.analysis.economics import ECONOMICS_MEASURES, patient_economics

        columns = columns.join(patient_economics(patients, economics))
        measures += list(ECONOMICS_MEASURES)
    levels = {
        "all": np.full(len(patients), "all", dtype=object),
        "relapse_group": patients["relapse_group"].astype(str).to_numpy(),
        "risk_group": patients["risk_group"].fillna("not assigned").astype(str).to_numpy(),
        "age_band": age_band(patients["age_years"]),
    }
    strategy, replication = patients["strategy"].to_numpy(), patients["replication"].to_numpy()
    time_orders = {endpoint: time_order_of(patients[f"{endpoint}_days"].to_numpy(float)) for endpoint in ("efs", "os")}
    groups, keys, labels, survival = [], [], [], []
    numbered = 0  # groups of the earlier subgroups: a subgroup's groups are numbered after them
    for subgroup in SUBGROUPS:
        group, subgroup_keys = _groups(strategy, replication, levels[subgroup])
        n_groups = len(subgroup_keys[0])
        groups.append(group + numbered)
        numbered += n_groups
        keys.append(subgroup_keys)
        labels.append(np.full(n_groups, subgroup, dtype=object))
        survival.append(_survival_measures(patients, group, n_groups, time_orders))
    # pandas' grouped mean (compensated sums, rows in table order) of every subgroup's groups in one call:
    # the per-patient columns once per subgroup, each row in its group of that subgroup
    stacked = pd.DataFrame(np.tile(columns.to_numpy(float), (len(SUBGROUPS), 1)), columns=columns.columns)
    wide = stacked.groupby(np.concatenate(groups), sort=True).mean()
    means = {name: wide[name].to_numpy(float) for name in wide.columns}
    values = {**means, **{name: np.concatenate([s[name] for s in survival]) for name in survival[0]}}
    return _long([np.concatenate(key) for key in zip(*keys)], values, measures, np.concatenate(labels))


def _groups(*keys: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each row's group, numbered in the sorted order of the key combinations present (as a sorted
    ``groupby`` numbers them), and each group's value of every key."""
    codes, uniques = [], []
    for key in keys:
        code, unique = pd.factorize(key, sort=True)  # by hashing: sorting strings row by row costs far more
        codes.append(code)
        uniques.append(np.asarray(unique))
    sizes = [len(unique) for unique in uniques]
    combined = np.ravel_multi_index(codes, sizes) if len(codes[0]) else np.zeros(0, np.intp)
    present = np.flatnonzero(np.bincount(combined, minlength=math.prod(sizes)))
    group = np.searchsorted(present, combined)
    return group, [unique[code] for unique, code in zip(uniques, np.unravel_index(present, sizes))]


def _long(keys: list[np.ndarray], values: dict[str, np.ndarray], measures: list[str],
          subgroup: np.ndarray) -> pd.DataFrame:
    """One row per (group, measure), groups in order and each group's measures in ``measures`` order;
    ``subgroup`` holds each group's subgroup."""
    strategy, replication, level = keys
    repeated = np.repeat(np.arange(len(strategy)), len(measures))
    return pd.DataFrame({
        "strategy": strategy[repeated],
        "replication": replication[repeated],
        "subgroup": subgroup[repeated],
        "level": level[repeated],
        "measure": np.tile(np.asarray(measures, dtype=object), len(strategy)),
        "value": np.column_stack([values[name] for name in measures]).ravel() if len(strategy) else np.zeros(0),
    })


KEYS = ["subgroup", "level", "measure"]
SUMMARY_COLUMNS = KEYS + ["strategy", "comparison", "mean", "mc_se", "ci_low", "ci_high", "replications",
                          "unpaired_se", "variance_reduction"]


_STATISTICS = ("n", "mean", "m2")


def _moments(values: np.ndarray, group: np.ndarray) -> dict[str, np.ndarray]:
    """Count, mean and sum of squared deviations of each column of ``values`` per ``group`` (rows in
    order of group, NaN values left out): shape (groups, columns) each.

    pandas' grouped mean and sum (compensated, over each group's rows in order), both for every
    column at once: the same values as grouping each column alone.
    """
    frame = pd.DataFrame(values)
    mean = frame.groupby(group, sort=True).mean().to_numpy(float)
    deviation = values - mean[group]  # each row less its group's mean (what a grouped transform gives)
    return {"n": np.stack([np.bincount(group, weights=~np.isnan(column), minlength=len(mean))
                           for column in values.T], axis=1),
            "mean": mean,
            "m2": pd.DataFrame(deviation**2).groupby(group, sort=True).sum().to_numpy(float)}


def _merge_moments(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Moments of two disjoint sets of replications combined (Chan, Golub and LeVeque):
    ``n = na + nb``, ``mean = ma + d nb / n``, ``m2 = m2a + m2b + d^2 na nb / n`` with ``d = mb - ma``;
    NaN statistics mean "not seen" (n counts as 0)."""
    na, nb = np.nan_to_num(a["n"]), np.nan_to_num(b["n"])
    n = na + nb
    delta = b["mean"] - a["mean"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(na == 0, b["mean"], np.where(nb == 0, a["mean"], a["mean"] + delta * nb / n))
        m2 = np.where(na == 0, b["m2"], np.where(nb == 0, a["m2"], a["m2"] + b["m2"] + delta**2 * na * nb / n))
    return {"n": n, "mean": mean, "m2": m2}


def _padded(values: np.ndarray, n: int) -> np.ndarray:
    """A statistic over the first keys, extended with NaN ("not seen") to ``n`` keys."""
    padded = np.full(n, np.nan)
    padded[:len(values)] = values
    return padded


class SummaryAccumulator:
    """Means and paired differences over replications, fed one part of ``replication_summary`` at a time.

    Holds only running moments per (``by`` keys, subgroup, level, measure,
    strategy), never the per-replication rows, so a driver's memory does not
    grow with replications. It grows with the keys (a sweep's points): a
    sweep is summarised one point at a time
    (:func:`sim.execution.run.summary_blocks`). Inside a part, each statistic is
    computed in two passes, over each key's replications in order; parts are
    combined by :func:`_merge_moments`. Moments are arrays over the keys seen
    so far (in the order first seen), NaN for a key a statistic has not seen.
    """

    def __init__(self, strategies: list[str], reference: str, by: list[str] | None = None) -> None:
        self.strategies, self.reference, self.by = list(strategies), reference, list(by or [])
        self.present: set[str] = set()
        self.keys: dict[tuple, int] = {}  # each key seen -> its position in the moments' arrays
        self.moments: dict[tuple[str, str], dict[str, np.ndarray]] = {}  # (strategy, statistic) -> moments

    def add(self, per_rep: pd.DataFrame) -> None:
        keys = self.by + KEYS
        complete = per_rep[keys + ["replication", "strategy"]].notna().all(axis=1).to_numpy()
        if not complete.all():
            per_rep = per_rep[complete]  # a row with a missing key is left out, as grouping by the key would
        if per_rep.empty:
            return
        # Each row's key, numbered in sorted order of the keys of this part, then each (key,
        # replication) pair in that order and by replication: the order the sums run in.
        key, key_values = _groups(*(per_rep[name].to_numpy() for name in keys))
        replication = pd.factorize(per_rep["replication"].to_numpy(), sort=True)[0]
        strategy, strategies = pd.factorize(per_rep["strategy"].to_numpy(), sort=True)
        width = int(replication.max()) + 1
        pairs, pair = np.unique(key * width + replication, return_inverse=True)
        if len(np.unique(pair * len(strategies) + strategy)) < len(per_rep):
            raise ValueError("per_rep has more than one value for a (key, replication, strategy)")
        # one row per (key, replication), a column per strategy (NaN: no value)
        wide = np.full((len(pairs), len(strategies)), np.nan)
        wide[pair, strategy] = per_rep["value"].to_numpy(float)
        pair_key = pairs // width
        strategies = [str(s) for s in strategies]
        self.present.update(strategies)

        columns = {(s, "value"): wide[:, k] for k, s in enumerate(strategies)}
        if self.reference in strategies:
            reference = wide[:, strategies.index(self.reference)]
            for k, s in enumerate(strategies):
                if s == self.reference:
                    continue
                both = ~np.isnan(wide[:, k]) & ~np.isnan(reference)  # replications with both: paired
                columns[(s, "difference")] = np.where(both, wide[:, k] - reference, np.nan)
                columns[(s, "paired")] = np.where(both, wide[:, k], np.nan)
                columns[(s, "paired_reference")] = np.where(both, reference, np.nan)
        part = _moments(np.column_stack(list(columns.values())), pair_key)

        # where this part's keys sit in the moments' arrays (new keys appended)
        slots = np.array([self.keys.setdefault(values, len(self.keys))
                          for values in zip(*(column.tolist() for column in key_values))], dtype=np.int64)
        for k, name in enumerate(columns):
            ours = {statistic: np.full(len(self.keys), np.nan) for statistic in _STATISTICS}
            for statistic in _STATISTICS:
                ours[statistic][slots] = part[statistic][:, k]
            seen = self.moments.get(name)
            if seen is None:
                self.moments[name] = ours
                continue
            grown = {statistic: _padded(seen[statistic], len(self.keys)) for statistic in _STATISTICS}
            self.moments[name] = _merge_moments(grown, ours)

    def table(self) -> pd.DataFrame:
        """Columns ``by`` + ``SUMMARY_COLUMNS``; rows by key (sorted), then strategy, value before difference."""
        strategies = [s for s in self.strategies if s in self.present]
        index = sorted(self.keys)
        slots = np.array([self.keys[key] for key in index], dtype=np.int64)
        compared = self.reference in self.present
        blocks = [self._columns(slots, strategy, comparison) for strategy in strategies
                  for comparison in ("value", "difference")
                  if comparison == "value" or (strategy != self.reference and compared)]
        if not blocks:
            return pd.DataFrame(columns=self.by + SUMMARY_COLUMNS)
        # Each key's rows together, a row per block in block order: a (keys, blocks) array read by row.
        keys = pd.DataFrame(index, columns=self.by + KEYS)
        columns = {name: np.repeat(keys[name].to_numpy(), len(blocks)) for name in keys.columns}
        for name in blocks[0]:
            columns[name] = np.column_stack([block[name] for block in blocks]).ravel()
        return pd.DataFrame(columns)

    def _statistic(self, slots: np.ndarray, strategy: str, comparison: str, statistic: str) -> np.ndarray:
        """One statistic of the keys at ``slots`` (NaN where not seen, also for keys first seen later)."""
        values = self.moments.get((strategy, comparison), {}).get(statistic, np.zeros(0))
        return _padded(values, len(self.keys))[slots]

    def _columns(self, slots: np.ndarray, strategy: str, comparison: str) -> dict[str, np.ndarray]:
        """The summary columns after the keys, for the keys at ``slots``, of one strategy's values or differences."""
        n = np.nan_to_num(self._statistic(slots, strategy, comparison, "n"))
        mean = np.where(n > 0, self._statistic(slots, strategy, comparison, "mean"), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = np.where(n > 1, self._statistic(slots, strategy, comparison, "m2") / (n - 1), np.nan)
            se = np.sqrt(variance / n)
            unpaired_se = reduction = np.full(len(n), np.nan)
            if comparison == "difference":
                paired = self._statistic(slots, strategy, "paired", "m2")
                paired_reference = self._statistic(slots, strategy, "paired_reference", "m2")
                unpaired_var = np.where(n > 1, (paired / (n - 1) + paired_reference / (n - 1)) / n, np.nan)
                unpaired_se = np.sqrt(unpaired_var)
                reduction = np.where(unpaired_var > 0, 1 - se**2 / unpaired_var, np.nan)
        return {"strategy": np.full(len(n), strategy, dtype=object),
                "comparison": np.full(len(n), comparison, dtype=object), "mean": mean, "mc_se": se,
                "ci_low": mean - Z95 * se, "ci_high": mean + Z95 * se, "replications": n.astype(int),
                "unpaired_se": unpaired_se, "variance_reduction": reduction}


def summarise(per_rep: pd.DataFrame, strategies: list[str], reference: str) -> pd.DataFrame:
    """Means and differences from the reference with Monte Carlo 95% intervals.

    Columns: subgroup, level, measure, strategy, comparison ("value" or
    "difference"), mean, mc_se, ci_low, ci_high, replications, and for
    differences ``unpaired_se`` and ``variance_reduction``. The same as
    feeding ``per_rep`` to a :class:`SummaryAccumulator` in parts.
    """
    accumulator = SummaryAccumulator(strategies, reference)
    accumulator.add(per_rep)
    return accumulator.table()
