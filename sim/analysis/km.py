"""Kaplan-Meier survival and restricted mean survival for many groups at once.

The package's one Kaplan-Meier estimator. Outcome summaries, validation
targets and notebook curves all call it with every (strategy, replication,
subgroup) as a group of one flat array, so there is no Python loop over
groups. For group ``g`` with distinct event times ``t_1 < t_2 < ...``,
``n_j`` patients still at risk at ``t_j`` (time >= ``t_j``: a patient
censored at ``t_j`` counts as at risk there) and ``d_j`` events at ``t_j``:

    S_g(t) = prod_{t_j <= t} (1 - d_j / n_j)

computed as ``exp(sum_j [log(n_j - d_j) - log(n_j)])`` with the sum taken
in time order within the group, exactly as lifelines does, so the values are
bit for bit lifelines' (calibration, which fits to them, reproduces its
shipped fit), and a group whose last patients all have the event drops to
exactly 0. The
restricted mean survival time to ``tau`` is the area under the step curve:

    RMST_g(tau) = integral_0^tau S_g(u) du
                = tau - sum_{t_j <= tau} (S_g(t_{j-1}) - S_g(t_j)) (tau - t_j)

(each drop of the curve removes the area to its right up to ``tau``).
A group with no patients has NaN for both. lifelines is the test oracle
(``tests/test_km.py``) and stays for the notebooks' other estimators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Standard normal quantile for two-sided 95% intervals, shared by every interval in the analysis.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class GroupedKaplanMeier:
    """Kaplan-Meier curves of ``n_groups`` groups, fitted together.

    The event times of all groups sit in one array, sorted by (group, time);
    ``log_survival[j]`` is the group's running sum of ``log(1 - d/n)`` up to
    event time ``j`` (``-inf`` once the curve has reached 0).
    """

    n_groups: int
    group_sizes: np.ndarray      # patients per group
    event_group: np.ndarray      # group of each distinct (group, event time)
    event_days: np.ndarray       # its time
    log_survival: np.ndarray     # within each group, cumulative log(1 - d/n) at each event time
    group_start: np.ndarray      # first event index of each group (len n_groups + 1)

    @classmethod
    def fit(cls, durations: np.ndarray, observed: np.ndarray, group: np.ndarray | None = None,
            n_groups: int | None = None, time_order: np.ndarray | None = None) -> "GroupedKaplanMeier":
        """Fit every group's curve; ``group`` holds each patient's group index in ``0 .. n_groups-1``.

        ``time_order`` is :func:`time_order_of` ``durations``, for a caller that fits the same
        durations under several groupings (it is computed here when not given).
        """
        durations = np.asarray(durations, dtype=float)
        observed = np.asarray(observed, dtype=bool)
        group = np.zeros(len(durations), dtype=np.int64) if group is None else np.asarray(group, dtype=np.int64)
        n_groups = (int(group.max()) + 1 if len(group) else 0) if n_groups is None else n_groups
        if not (len(durations) == len(observed) == len(group)):
            raise ValueError(f"durations, observed and group must have one value per patient "
                             f"(got {len(durations)}, {len(observed)}, {len(group)})")
        if np.isnan(durations).any():
            raise ValueError(f"durations must not be NaN (got {int(np.isnan(durations).sum())} NaN); "
                             "Suggestion: drop the patients whose time is unknown before fitting")
        if len(group) and (group.min() < 0 or group.max() >= n_groups):
            raise ValueError(f"group indices must be in [0, {n_groups}) (got {group.min()} .. {group.max()})")

        # by (group, time), ties in table order: a stable sort by group of the patients in time order
        if time_order is not None and len(time_order) != len(durations):
            raise ValueError(f"time_order must order these durations (got {len(time_order)} indices "
                             f"for {len(durations)} durations); Suggestion: pass time_order_of(durations)")
        order = time_order_of(durations) if time_order is None else np.asarray(time_order)
        order = order[np.argsort(group[order], kind="stable")]
        days, died, groups = durations[order], observed[order], group[order]
        sizes = np.bincount(groups, minlength=n_groups)
        group_end = np.cumsum(sizes)  # one past each group's last patient, in sorted order

        # Blocks of tied (group, time); keep those with at least one event.
        new_block = np.ones(len(days), dtype=bool)
        new_block[1:] = (groups[1:] != groups[:-1]) | (days[1:] != days[:-1])
        block_first = np.flatnonzero(new_block)
        block_deaths = np.add.reduceat(died.astype(np.int64), block_first) if len(block_first) else block_first
        has_event = block_deaths > 0
        first = block_first[has_event]
        deaths = block_deaths[has_event].astype(float)
        event_group = groups[first]
        at_risk = (group_end[event_group] - first).astype(float)

        with np.errstate(divide="ignore"):
            factor_log = np.log(at_risk - deaths) - np.log(at_risk)
        group_start = np.zeros(n_groups + 1, dtype=np.int64)
        group_start[1:] = np.cumsum(np.bincount(event_group, minlength=n_groups))
        # A running sum per group, in the same order as lifelines: a global sum
        # minus its value at the group's start would differ in the last bits.
        log_survival = np.empty_like(factor_log)
        for start, stop in zip(group_start[:-1].tolist(), group_start[1:].tolist()):
            if stop > start:
                log_survival[start:stop] = np.cumsum(factor_log[start:stop])
        return cls(n_groups, sizes, event_group, days[first], log_survival, group_start)

    def _survival_after(self, index: np.ndarray, group: np.ndarray) -> np.ndarray:
        """S just after event ``index`` of ``group``; 1 where ``index`` is before the group's first event."""
        inside = index >= self.group_start[group]
        if not len(self.log_survival):
            return np.ones(len(index))
        return np.where(inside, np.exp(self.log_survival[np.where(inside, index, 0)]), 1.0)

    def survival_at(self, times: np.ndarray | float) -> np.ndarray:
        """``S_g(t)`` for every group and time: shape ``(n_groups, len(times))``; NaN for empty groups."""
        times = np.atleast_1d(np.asarray(times, dtype=float))
        groups = np.repeat(np.arange(self.n_groups), len(times))
        last = self._last_event_at_or_before(times)
        survival = self._survival_after(last.ravel(), groups).reshape(self.n_groups, len(times))
        survival[self.group_sizes == 0] = np.nan
        return survival

    def restricted_mean(self, limit_days: float) -> np.ndarray:
        """``RMST_g(limit_days)`` for every group: shape ``(n_groups,)``; NaN for empty groups."""
        index = np.arange(len(self.event_days))
        after = self._survival_after(index, self.event_group)
        before = self._survival_after(index - 1, self.event_group)
        lost = (before - after) * np.maximum(limit_days - self.event_days, 0.0)
        rmst = limit_days - np.bincount(self.event_group, weights=lost, minlength=self.n_groups)
        rmst[self.group_sizes == 0] = np.nan
        return rmst

    def _last_event_at_or_before(self, times: np.ndarray) -> np.ndarray:
        """Index of each group's last event time <= each of ``times`` (the group's start - 1 when there is
        none): shape ``(n_groups, len(times))``.

        A group's event times ascend, so those at or before a time are its first ones: for a few times
        (the outcome summary's), their count per group, one pass over the events per time; for a grid
        (a notebook's curves), a search of (group, time) keys, times replaced by their rank among all
        event and query times so that a key is an exact integer.
        """
        if not len(times):
            return np.zeros((self.n_groups, 0), dtype=np.int64)
        if len(times) <= _FEW_TIMES:
            passed = [np.bincount(self.event_group[self.event_days <= at], minlength=self.n_groups)
                      for at in times.tolist()]
            return self.group_start[:-1, None] + np.stack(passed, axis=1).reshape(self.n_groups, len(times)) - 1
        universe = np.unique(np.concatenate([self.event_days, times]))
        width = len(universe) + 1
        event_key = self.event_group * width + np.searchsorted(universe, self.event_days)
        query_key = np.arange(self.n_groups)[:, None] * width + np.searchsorted(universe, times)[None, :]
        return np.searchsorted(event_key, query_key.ravel(), side="right").reshape(self.n_groups, len(times)) - 1


# Up to this many times, survival_at counts each group's events at or before each time (no sort).
_FEW_TIMES = 8


def time_order_of(durations: np.ndarray) -> np.ndarray:
    """The patients in order of time, ties in table order (what :meth:`GroupedKaplanMeier.fit` sorts by
    within each group)."""
    return np.argsort(np.asarray(durations, dtype=float), kind="stable")


def survival_at(durations, observed, times, group=None, n_groups=None) -> np.ndarray:
    """Kaplan-Meier survival of each group at ``times``: shape ``(n_groups, len(times))``."""
    return GroupedKaplanMeier.fit(durations, observed, group, n_groups).survival_at(times)


def restricted_mean(durations, observed, limit_days: float, group=None, n_groups=None) -> np.ndarray:
    """Restricted mean survival time of each group to ``limit_days``."""
    return GroupedKaplanMeier.fit(durations, observed, group, n_groups).restricted_mean(limit_days)


def survival_with_greenwood_se(durations, observed, at_days: float) -> tuple[float, float]:
    """One group's Kaplan-Meier survival at ``at_days`` and its Greenwood standard error,

        SE = S(t) * sqrt(sum_{t_j <= t} d_j / (n_j (n_j - d_j)))

    (0 when no event falls before ``at_days``; the sum stops where the curve reaches 0)."""
    durations = np.asarray(durations, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    if len(durations) == 0:
        return float("nan"), float("nan")
    survival = float(survival_at(durations, observed, at_days)[0, 0])
    event_days, deaths = np.unique(durations[observed & (durations <= at_days)], return_counts=True)
    at_risk = len(durations) - np.searchsorted(np.sort(durations), event_days, side="left")
    alive = at_risk > deaths
    variance_sum = float(np.sum(deaths[alive] / (at_risk[alive] * (at_risk[alive] - deaths[alive]))))
    return survival, survival * float(np.sqrt(variance_sum))
