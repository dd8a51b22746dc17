"""The tests and estimates a simulated trial computes at each look, on arrays.

Every function compares an experimental arm with the control and returns a
:class:`TestResult` whose ``z`` is positive when the experimental arm does
better, so one efficacy boundary serves every endpoint.

* **Log-rank** test (the Cox score test at beta = 0, hypergeometric variance)
  and the **Cox hazard ratio** for the arm indicator, both stratified by the
  randomisation strata when there are any (Breslow ties; Newton's
  method on the one-parameter partial likelihood, Wald interval). With one
  binary covariate both need only the numbers at risk and the events of each
  arm at each event time, so they cost microseconds; they agree with
  lifelines' ``logrank_test`` and ``CoxPHFitter`` to 1e-6 on data without
  ties (``tests/test_trial_statistics.py``), which are the reference. lifelines
  itself takes tens of milliseconds a call, too slow for thousands of trials.
* **RMST difference** up to ``tau`` from Kaplan-Meier curves, with the
  Greenwood-type variance ``sum_j A_j^2 d_j / (n_j (n_j - d_j))``, ``A_j`` the
  area under the curve from event time ``t_j`` to ``tau`` (Klein & Moeschberger
  2003, 4.5).
* **Two-proportion** z test (pooled variance) with a Wald interval for the
  risk difference, and **Fisher's exact** test (``scipy.stats.fisher_exact``),
  whose one-sided p-value is turned into ``z = Phi^-1(1 - p)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import fisher_exact, norm

Z95 = float(norm.isf(0.025))


@dataclass(frozen=True)
class TestResult:
    z: float              # positive favours the experimental arm
    estimate: float       # HR, risk difference or RMST difference (experimental - control)
    ci_low: float
    ci_high: float
    information: float    # events (survival), patients observed (binary), 1/SE^2 (RMST)


NAN_RESULT = TestResult(math.nan, math.nan, math.nan, math.nan, 0.0)


def _risk_sets(time: np.ndarray, event: np.ndarray, experimental: np.ndarray):
    """Per distinct event time: events and numbers at risk in each arm."""
    event_times = np.unique(time[event])
    if len(event_times) == 0:
        empty = np.zeros(0)
        return empty, empty, empty, empty
    control_times = np.sort(time[~experimental])
    experimental_times = np.sort(time[experimental])
    at_risk_c = len(control_times) - np.searchsorted(control_times, event_times, side="left")
    at_risk_e = len(experimental_times) - np.searchsorted(experimental_times, event_times, side="left")
    index = np.searchsorted(event_times, time[event])
    deaths_e = np.bincount(index, weights=experimental[event], minlength=len(event_times))
    deaths = np.bincount(index, minlength=len(event_times)).astype(float)
    return deaths, deaths_e, at_risk_c.astype(float), at_risk_e.astype(float)


def logrank_cox(
    time: np.ndarray, event: np.ndarray, experimental: np.ndarray, strata: np.ndarray | None = None
) -> TestResult:
    """Log-rank z (positive: fewer events on the experimental arm) and the Cox HR.

    With ``strata`` (an integer code per patient), the stratified log-rank test
    (observed minus expected and variances summed over strata) and the
    stratified Cox model (a baseline hazard per stratum): the analysis that
    matches a stratified randomisation, which an unstratified test would make
    conservative when the strata are prognostic.
    """
    event = event.astype(bool)
    experimental = experimental.astype(bool)
    if event.sum() == 0 or experimental.all() or not experimental.any():
        return NAN_RESULT
    if strata is None:
        strata = np.zeros(len(time), dtype=np.int64)
    pieces = [_risk_sets(time[strata == code], event[strata == code], experimental[strata == code])
              for code in np.unique(strata)]
    deaths, deaths_e, n_c, n_e = (np.concatenate(column) for column in zip(*pieces))
    keep = (n_c > 0) & (n_e > 0)  # event times where one arm has nobody at risk carry no information
    deaths, deaths_e, n_c, n_e = deaths[keep], deaths_e[keep], n_c[keep], n_e[keep]
    if len(deaths) == 0:
        return NAN_RESULT
    n = n_c + n_e
    expected_e = deaths * n_e / n
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.where(n > 1, deaths * (n_c * n_e / n**2) * (n - deaths) / (n - 1), 0.0).sum()
    score = float(deaths_e.sum() - expected_e.sum())
    z = -score / math.sqrt(variance) if variance > 0 else math.nan
    beta, se = _cox_binary(deaths, deaths_e, n_c, n_e)
    return TestResult(
        z, math.exp(beta), math.exp(beta - Z95 * se), math.exp(beta + Z95 * se), float(event.sum())
    )


def _cox_binary(deaths, deaths_e, n_c, n_e) -> tuple[float, float]:
    """Maximum partial likelihood for one binary covariate (Breslow ties), and its SE."""
    observed = deaths_e.sum()
    if observed == 0 or observed == deaths.sum():
        return (-math.inf if observed == 0 else math.inf), math.inf
    beta = 0.0
    for _ in range(50):
        risk = n_e * math.exp(beta)
        share = risk / (n_c + risk)
        score = observed - (deaths * share).sum()
        information = (deaths * share * (1.0 - share)).sum()
        step = score / information
        beta += max(min(step, 2.0), -2.0)
        if abs(step) < 1e-10:
            break
    risk = n_e * math.exp(beta)
    share = risk / (n_c + risk)
    return beta, 1.0 / math.sqrt((deaths * share * (1.0 - share)).sum())


def _rmst(time: np.ndarray, event: np.ndarray, tau: float) -> tuple[float, float]:
    """Kaplan-Meier RMST up to ``tau`` and its variance."""
    event_times = np.unique(time[event & (time <= tau)])
    if len(event_times) == 0:
        return float(tau), 0.0
    sorted_times = np.sort(time)
    at_risk = (len(time) - np.searchsorted(sorted_times, event_times, side="left")).astype(float)
    deaths = np.bincount(np.searchsorted(event_times, time[event & (time <= tau)]), minlength=len(event_times))
    survival = np.cumprod(1.0 - deaths / at_risk)
    edges = np.append(event_times, tau)
    # Area from each event time to tau: the curve is survival[j] on [t_j, t_{j+1}).
    pieces = survival * np.diff(edges)
    area_after = np.cumsum(pieces[::-1])[::-1]
    rmst = event_times[0] + pieces.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(at_risk > deaths, area_after**2 * deaths / (at_risk * (at_risk - deaths)), 0.0)
    return float(rmst), float(terms.sum())


def rmst_difference(time: np.ndarray, event: np.ndarray, experimental: np.ndarray, tau: float) -> TestResult:
    """RMST(experimental) - RMST(control) up to ``tau`` days; positive favours experimental."""
    event = event.astype(bool)
    experimental = experimental.astype(bool)
    if experimental.all() or not experimental.any():
        return NAN_RESULT
    rmst_e, var_e = _rmst(time[experimental], event[experimental], tau)
    rmst_c, var_c = _rmst(time[~experimental], event[~experimental], tau)
    difference, variance = rmst_e - rmst_c, var_e + var_c
    if variance <= 0:
        return TestResult(math.nan, difference, math.nan, math.nan, 0.0)
    se = math.sqrt(variance)
    return TestResult(difference / se, difference, difference - Z95 * se, difference + Z95 * se, 1.0 / variance)


def proportions(
    success: np.ndarray, experimental: np.ndarray, higher_is_better: bool, test: str
) -> TestResult:
    """Risk difference (experimental - control); two-proportion z or Fisher's exact test."""
    success = success.astype(bool)
    experimental = experimental.astype(bool)
    n_e, n_c = int(experimental.sum()), int((~experimental).sum())
    if n_e == 0 or n_c == 0:
        return NAN_RESULT
    x_e, x_c = int(success[experimental].sum()), int(success[~experimental].sum())
    p_e, p_c = x_e / n_e, x_c / n_c
    difference = p_e - p_c
    direction = 1.0 if higher_is_better else -1.0
    wald = math.sqrt(p_e * (1 - p_e) / n_e + p_c * (1 - p_c) / n_c)
    if test == "fisher":
        alternative = "greater" if higher_is_better else "less"
        p_value = fisher_exact([[x_e, n_e - x_e], [x_c, n_c - x_c]], alternative=alternative).pvalue
        z = float(norm.isf(min(max(p_value, 1e-300), 1.0 - 1e-12)))  # finite z when p = 1
    else:
        pooled = (x_e + x_c) / (n_e + n_c)
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_e + 1 / n_c))
        z = direction * difference / se0 if se0 > 0 else math.nan
    return TestResult(z, difference, difference - Z95 * wald, difference + Z95 * wald, float(n_e + n_c))
