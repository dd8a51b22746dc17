"""Subgroup views and the gradient check (``sim.analysis.subgroups``), on hand-made patients.

* Kaplan-Meier and Greenwood's SE against a case computed by hand;
* the gradient check passes a gradient like Rheingold's and flags a reversed one;
* MRD bands and risk-by-randomisation cells put each patient where the README says.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.analysis.km import survival_with_greenwood_se
from sim.analysis.subgroups import (
    gradient_check,
    mrd_band,
    risk_by_randomisation,
    subgroup_views,
)

YEAR = 365.25


def test_kaplan_meier_and_greenwood_by_hand() -> None:
    # Times 1, 2, 2, 3+, 4, 5+: at t=1 d=1 n=6; t=2 d=2 n=5; t=4 d=1 n=2.
    durations = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0])
    events = np.array([True, True, True, False, True, False])
    survival, se = survival_with_greenwood_se(durations, events, 4.5)
    expected = (5 / 6) * (3 / 5) * (1 / 2)
    greenwood = expected * math.sqrt(1 / (6 * 5) + 2 / (5 * 3) + 1 / (2 * 1))
    assert survival == pytest.approx(expected) and se == pytest.approx(greenwood)
    assert survival_with_greenwood_se(durations, events, 0.5) == (1.0, 0.0)
    assert survival_with_greenwood_se(durations, ~events & False, 10.0) == (1.0, 0.0)  # all censored


def cohort(os_5y_by_months: dict[float, float], n: int = 200, replications: int = 3) -> pd.DataFrame:
    """Patients whose 5-year OS by months to relapse is exactly as given (deaths at 1 year)."""
    rows = []
    for replication in range(replications):
        for months, survival in os_5y_by_months.items():
            deaths = round(n * (1 - survival))
            for k in range(n):
                dies = k < deaths
                rows.append({"strategy": "s", "replication": replication, "months_to_relapse": months,
                             "os_days": YEAR if dies else 6 * YEAR, "os_event": dies,
                             "efs_days": YEAR if dies else 6 * YEAR, "efs_event": dies})
    return pd.DataFrame(rows)


def test_gradient_like_rheingold_passes() -> None:
    table = gradient_check(cohort({10.0: 0.26, 24.0: 0.50, 60.0: 0.665}))
    assert table["direction"].all() and table["size_within_range"].all()
    assert table["simulated_os_5y"].tolist() == pytest.approx([0.26, 0.50, 0.665])


def test_reversed_or_flat_gradient_is_flagged() -> None:
    reversed_ = gradient_check(cohort({10.0: 0.7, 24.0: 0.5, 60.0: 0.3}))
    assert not reversed_["direction"].any()
    flat = gradient_check(cohort({10.0: 0.6, 24.0: 0.6, 60.0: 0.62}))
    assert not flat.loc[flat["cell"].str.startswith("early"), "size_within_range"].item()


def test_mrd_bands_and_risk_cells() -> None:
    patients = pd.DataFrame({
        "eob1_mrd_percent": [None, 0.05, 0.5, 5.0, None, None],  # as recorded: a negative result has no value
        "eob1_mrd_status": ["negative", "positive", "positive", "positive", None, None],
        "eob1_day": [30.0, 30.0, 30.0, 30.0, 30.0, None],
        "block1_death": [False, False, False, False, False, True],
        "early_treatment_failure": [False, False, False, True, False, False],
        "risk_group": ["LR", "LR", "IR", None, None, None],
        "randomized": [True, False, True, False, False, False],
    })
    assert mrd_band(patients).tolist() == ["< 0.01%", "0.01-0.1%", "0.1-1%", ">= 1%", "unknown", None]
    assert risk_by_randomisation(patients).tolist() == [
        "LR, randomised", "LR, not randomised", "IR, randomised", "early treatment failure", "not risk-assigned",
        "died in reinduction",
    ]


def test_subgroup_views_on_a_real_run(small_run) -> None:
    patients, _ = small_run
    views = subgroup_views(patients)
    assert set(views) == {"relapse group", "time to first relapse", "risk group x randomisation", "EOB1 MRD",
                          "whole cohort"}
    whole = views["whole cohort"]
    assert set(whole["years"]) == {3, 4, 6} and set(whole["endpoint"]) == {"EFS", "OS"}
    assert whole["mean"].between(0, 1).all() and (whole["greenwood_se"] >= 0).all()
    # Each patient counts in exactly one cell of a view.
    by_group = views["relapse group"].drop_duplicates("cell")["patients_per_replication"].sum()
    assert by_group == pytest.approx(len(patients) / patients["replication"].nunique())
