"""The grouped Kaplan-Meier estimator against lifelines, the oracle.

Random censored data with many ties (integer days), groups where everyone is
censored, groups where everyone dies, empty groups, and query times on, before
and after the event times.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from sim.analysis.km import GroupedKaplanMeier, restricted_mean, survival_at

TOLERANCE = 1e-10


def lifelines_curve(durations: np.ndarray, observed: np.ndarray, times: np.ndarray, limit: float) -> tuple:
    fitter = KaplanMeierFitter().fit(durations, observed)
    at = fitter.survival_function_at_times(times).to_numpy()
    return at, float(restricted_mean_survival_time(fitter, t=limit))


@st.composite
def censored_groups(draw):
    """Seeded random data: per group a size, an event share and a time range (few distinct days: ties)."""
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    n_groups = draw(st.integers(min_value=1, max_value=8))
    rng = np.random.default_rng(seed)
    durations, observed, group = [], [], []
    for g in range(n_groups):
        size = int(rng.integers(0, 40))
        kind = rng.choice(["mixed", "all_censored", "all_events"])
        event_share = {"mixed": rng.uniform(0.1, 0.9), "all_censored": 0.0, "all_events": 1.0}[kind]
        distinct_days = int(rng.integers(1, 15))
        durations.append(rng.integers(0, distinct_days, size) * 30.0)
        observed.append(rng.random(size) < event_share)
        group.append(np.full(size, g))
    return n_groups, np.concatenate(durations), np.concatenate(observed), np.concatenate(group)


@settings(max_examples=150, deadline=None)
@given(censored_groups(), st.floats(min_value=0.0, max_value=500.0))
def test_matches_lifelines_in_every_group(data, limit: float) -> None:
    n_groups, durations, observed, group = data
    times = np.array([0.0, 15.0, 30.0, 60.0, 90.0, 150.0, 299.0, 300.0, 1e6, limit])
    model = GroupedKaplanMeier.fit(durations, observed, group, n_groups)
    at, rmst = model.survival_at(times), model.restricted_mean(limit)
    for g in range(n_groups):
        mine = group == g
        if not mine.any():
            assert np.isnan(at[g]).all() and np.isnan(rmst[g])
            continue
        expected_at, expected_rmst = lifelines_curve(durations[mine], observed[mine], times, limit)
        np.testing.assert_array_equal(at[g], expected_at)  # bit for bit: calibration fits to these values
        assert rmst[g] == pytest.approx(expected_rmst, abs=TOLERANCE * max(limit, 1.0))


@settings(max_examples=100, deadline=None)
@given(censored_groups())
def test_a_few_times_and_a_grid_give_the_same_values(data) -> None:
    """``survival_at`` counts each group's events for a few times (the summary's) and searches
    ranked keys for a grid (a notebook's): the same values, bit for bit, ties and empty groups included."""
    n_groups, durations, observed, group = data
    grid = np.array([0.0, 15.0, 30.0, 60.0, 90.0, 150.0, 299.0, 300.0, 1e6])
    model = GroupedKaplanMeier.fit(durations, observed, group, n_groups)
    curves = model.survival_at(grid)
    for k in range(len(grid)):
        np.testing.assert_array_equal(model.survival_at(grid[k]), curves[:, [k]])
    np.testing.assert_array_equal(model.survival_at(grid[[1, 7]]), curves[:, [1, 7]])
    assert model.survival_at(np.array([])).shape == (n_groups, 0)


def test_continuous_times_with_a_shared_censoring_horizon() -> None:
    """Simulator-like data: continuous event times, everyone else censored at one horizon."""
    rng = np.random.default_rng(11)
    n = 661 * 3
    horizon = 6 * 365.25
    event_days = rng.exponential(900.0, n)
    observed = event_days < horizon
    durations = np.where(observed, event_days, horizon)
    group = rng.integers(0, 3, n)
    times = np.array([2 * 365.25, 4 * 365.25])
    at = survival_at(durations, observed, times, group, 3)
    rmst = restricted_mean(durations, observed, 4 * 365.25, group, 3)
    for g in range(3):
        expected_at, expected_rmst = lifelines_curve(durations[group == g], observed[group == g], times, 4 * 365.25)
        np.testing.assert_array_equal(at[g], expected_at)
        assert rmst[g] == pytest.approx(expected_rmst, rel=1e-12)


def test_hand_computed_curve() -> None:
    """Times 1, 2, 2 (censored), 3, 3, 5: S = 5/6 after 1, then 5/6 * 2/3 at 3 (3 at risk, 2 die... )."""
    durations = np.array([1.0, 2.0, 2.0, 3.0, 3.0, 5.0])
    observed = np.array([True, False, False, True, True, False])
    at = survival_at(durations, observed, [0.5, 1.0, 2.0, 3.0, 10.0])[0]
    # at 3: 3 at risk (3, 3, 5), 2 events -> factor 1/3
    np.testing.assert_allclose(at, [1.0, 5 / 6, 5 / 6, 5 / 18, 5 / 18])
    # area: 1 x 1 + 5/6 x 2 + 5/18 x 1 to tau = 4
    assert restricted_mean(durations, observed, 4.0)[0] == pytest.approx(1 + 5 / 3 + 5 / 18)


def test_all_die_reaches_exactly_zero_and_stays() -> None:
    at = survival_at([1.0, 2.0, 2.0], [True, True, True], [1.5, 2.0, 9.0])[0]
    assert at.tolist() == [pytest.approx(2 / 3), 0.0, 0.0]


def test_unknown_time_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match=r"durations must not be NaN \(got 1 NaN\); Suggestion: drop"):
        GroupedKaplanMeier.fit(np.array([1.0, np.nan]), np.array([True, False]))


def test_group_index_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"group indices must be in \[0, 2\) \(got 0 .. 2\)"):
        GroupedKaplanMeier.fit(np.array([1.0, 2.0]), np.array([True, False]), np.array([0, 2]), 2)
