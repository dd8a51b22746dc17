"""Outcome summaries: the vectorised per-replication measures and the part-by-part intervals.

The Kaplan-Meier measures of every group are checked against lifelines; the
summary fed one part at a time is checked against pandas' two-pass mean,
standard deviation and paired differences on the whole table.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from sim.analysis.summary import (
    KEYS,
    YEAR_DAYS,
    SummaryAccumulator,
    per_replication,
    summarise,
)


def synthetic_patients(seed: int, replications: int = 3, n: int = 80) -> pd.DataFrame:
    """Patients with the columns the measures read, censoring at a staggered cut-off."""
    rng = np.random.default_rng(seed)
    rows = []
    for strategy in ("a", "b"):
        for replication in range(replications):
            follow_up = rng.uniform(200, 6 * YEAR_DAYS, n)
            efs = rng.exponential(900, n)
            os_ = efs + rng.exponential(600, n)
            rows.append(pd.DataFrame({
                "strategy": strategy, "replication": np.int32(replication), "patient_id": np.arange(n, dtype=np.int32),
                "age_years": rng.uniform(1, 30, n),
                "relapse_group": rng.choice(["bm_lt18", "bm_ge36", "iem_lt18"], n),
                "risk_group": rng.choice(["LR", "IR", "HR", None], n),
                "block1_death": rng.random(n) < 0.05, "early_treatment_failure": rng.random(n) < 0.05,
                "block1_max_grade": rng.choice([2.0, 3.0, 4.0, np.nan], n),
                "block1_infection_grade": rng.choice([3.0, 4.0, np.nan], n),
                "block1_sepsis_grade": rng.choice([3.0, np.nan], n),
                "eob1_mrd_status": np.where(rng.normal(-2, 1, n) < -2, "negative", "positive"),
                "hsct": rng.random(n) < 0.3,
                "relapse_day": np.where(rng.random(n) < 0.4, 300.0, np.nan), "inpatient_days": rng.uniform(20, 60, n),
                "blinatumomab_days": rng.uniform(0, 60, n), "on_therapy_days": rng.uniform(30, 200, n),
                "remission_days": rng.uniform(0, 900, n), "after_relapse_days": rng.uniform(0, 300, n),
                "efs_days": np.minimum(efs, follow_up), "efs_event": efs < follow_up,
                "os_days": np.minimum(os_, follow_up), "os_event": os_ < follow_up,
            }))
    return pd.concat(rows, ignore_index=True)


def test_survival_measures_match_lifelines_in_every_group() -> None:
    patients = synthetic_patients(3)
    table = per_replication(patients).set_index(["strategy", "replication", "subgroup", "level", "measure"])["value"]
    for (strategy, replication, group), frame in patients.groupby(["strategy", "replication", "relapse_group"]):
        for endpoint in ("efs", "os"):
            fitter = KaplanMeierFitter().fit(frame[f"{endpoint}_days"], frame[f"{endpoint}_event"])
            for years in (2, 4):
                expected = float(fitter.survival_function_at_times(years * YEAR_DAYS).iloc[0])
                got = table[(strategy, replication, "relapse_group", group, f"{endpoint}_{years}y")]
                assert got == pytest.approx(expected, abs=1e-12)
        fitter = KaplanMeierFitter().fit(frame["os_days"], frame["os_event"])
        expected = float(restricted_mean_survival_time(fitter, t=4 * YEAR_DAYS))
        assert table[(strategy, replication, "relapse_group", group, "rmst_os_4y_days")] == pytest.approx(expected, rel=1e-12)


def test_share_measures_are_group_means() -> None:
    patients = synthetic_patients(4)
    table = per_replication(patients).set_index(["strategy", "replication", "subgroup", "level", "measure"])["value"]
    frame = patients[(patients["strategy"] == "b") & (patients["replication"] == 1)]
    assert table[("b", 1, "all", "all", "hsct")] == pytest.approx(frame["hsct"].mean())
    assert table[("b", 1, "all", "all", "grade3plus")] == pytest.approx((frame["block1_max_grade"] >= 3).mean())
    not_assigned = frame[frame["risk_group"].isna()]
    assert table[("b", 1, "risk_group", "not assigned", "relapse")] == pytest.approx(not_assigned["relapse_day"].notna().mean())


def reference_summary(per_rep: pd.DataFrame, strategies: list[str], reference: str) -> pd.DataFrame:
    """The textbook computation, one key at a time, with pandas' two-pass statistics."""
    def se(values: pd.Series) -> float:
        return values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else math.nan

    wide = per_rep.set_index(KEYS + ["replication", "strategy"])["value"].unstack("strategy")
    rows = []
    for key, table in wide.groupby(level=KEYS, sort=True):
        for strategy in strategies:
            values = table[strategy].dropna()
            rows.append((*key, strategy, "value", values.mean(), se(values), len(values), math.nan))
            if strategy == reference:
                continue
            both = table[[strategy, reference]].dropna()
            difference = both[strategy] - both[reference]
            n = len(both)
            unpaired = (both[strategy].var(ddof=1) + both[reference].var(ddof=1)) / n if n > 1 else math.nan
            rows.append((*key, strategy, "difference", difference.mean(), se(difference), n, math.sqrt(unpaired)))
    return pd.DataFrame(rows, columns=KEYS + ["strategy", "comparison", "mean", "mc_se", "replications", "unpaired_se"])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), parts=st.integers(1, 6), missing=st.floats(0.0, 0.4))
def test_summary_fed_in_parts_equals_the_whole_table(seed: int, parts: int, missing: float) -> None:
    rng = np.random.default_rng(seed)
    replications = int(rng.integers(1, 12))
    rows = [
        (strategy, replication, subgroup, level, measure, rng.normal(0.5, 0.1) if rng.random() >= missing else np.nan)
        for replication in range(replications) for strategy in ("ref", "x", "y")
        for subgroup, level in (("all", "all"), ("risk_group", "LR"), ("risk_group", "HR"))
        for measure in ("os_4y", "hsct")
    ]
    per_rep = pd.DataFrame(rows, columns=["strategy", "replication", "subgroup", "level", "measure", "value"])
    accumulator = SummaryAccumulator(["ref", "x", "y"], "ref")
    for part in np.array_split(np.arange(replications), parts):
        accumulator.add(per_rep[per_rep["replication"].isin(part)])
    expected = reference_summary(per_rep, ["ref", "x", "y"], "ref")
    for got in (accumulator.table(), summarise(per_rep, ["ref", "x", "y"], "ref")):
        assert got[KEYS + ["strategy", "comparison"]].equals(expected[KEYS + ["strategy", "comparison"]])
        assert (got["replications"].to_numpy() == expected["replications"].to_numpy()).all()
        for column in ("mean", "mc_se", "unpaired_se"):
            np.testing.assert_allclose(got[column].to_numpy(float), expected[column].to_numpy(float), rtol=1e-9, atol=1e-12)


def test_the_accumulator_rejects_two_values_for_one_replication() -> None:
    columns = ["strategy", "replication", "subgroup", "level", "measure", "value"]
    per_rep = pd.DataFrame([("ref", 0, "all", "all", "os_4y", 0.5), ("ref", 0, "all", "all", "os_4y", 0.6)],
                           columns=columns)
    with pytest.raises(ValueError, match="more than one value for a"):
        SummaryAccumulator(["ref"], "ref").add(per_rep)
    SummaryAccumulator(["ref"], "ref").add(per_rep.iloc[:1])  # one value each: accepted


def test_the_accumulator_leaves_out_rows_with_a_missing_key() -> None:
    columns = ["strategy", "replication", "subgroup", "level", "measure", "value"]
    rows = [("ref", r, "all", "all", "os_4y", 0.5 + 0.1 * r) for r in range(3)]
    per_rep = pd.DataFrame(rows + [("ref", 1, "risk_group", None, "os_4y", 0.9)], columns=columns)
    with_missing, without = SummaryAccumulator(["ref"], "ref"), SummaryAccumulator(["ref"], "ref")
    with_missing.add(per_rep)
    without.add(pd.DataFrame(rows, columns=columns))
    pd.testing.assert_frame_equal(with_missing.table(), without.table())
