"""Costs and QALYs per patient, and decision analysis over parameter draws.

**Per patient** (``patient_economics``, from the ``patients`` columns and the
replication's realised ``[economics]`` table). Time ``t`` is in years from
the patient's enrolment; an annual discount rate ``r`` is applied in
continuous time with the equivalent force of interest ``d = ln(1 + r)``, so a
flow at time ``t`` is weighted ``exp(-d t) = (1 + r)^-t`` and the discounted
length of a span ``[a, b]`` has the closed form

    D(a, b) = (exp(-d a) - exp(-d b)) / d        (D = b - a when r = 0).

* life-years: ``D_e(0, T)``, ``T`` the end of follow-up (``os_days``);
* QALYs: ``u_therapy D_e(0, t1) + u_remission D_e(t1, t2) + u_relapse D_e(t2, T)``
  with the states of ``sim.model.phases.common.close_states``
  (``t1 = on_therapy_days``, ``t2 = t1 + remission_days``);
* costs (rate ``r_c``): bed-days and blinatumomab days, spread evenly over
  the on-therapy span ``[0, t1]`` (cost x ``D_c(0, t1) / t1``); HSCT at
  ``hsct_day``; salvage at the start of the after-relapse state ``t2``;
  follow-up per year alive off therapy, ``D_c(t1, T)``;
* net monetary benefit: ``willingness_to_pay x QALYs - cost``.

Follow-up ends at the scenario's horizon, so these are totals to the horizon
(no extrapolation beyond it).

**Decision analysis** over draws: each draw is one parameter set (a point of
a PSA sweep, averaged over its replications; or one replication of a run
with ``parameter_mode = "sampled"``). From the draws' mean cost and QALYs per
strategy: the ICER against the reference (with a bootstrap interval over
draws), the cost-effectiveness acceptability curve, the expected value of
perfect information (EVPI), and the expected value of partial perfect
information (EVPPI) of a group of parameters by Gaussian-process regression
of each strategy's incremental net benefit on the group's values (Strong,
Oakley and Brennan 2014), not nested Monte Carlo.
"""

from __future__ import annotations

import fnmatch
import math

import numpy as np
import pandas as pd

from sim.analysis.km import Z95
from sim.clinical import YEAR_DAYS
from sim.model.streams import generator_for, library_seed
from sim.scenario.measures import ECONOMICS_MEASURES  # noqa: F401 (re-exported)

BOOTSTRAP_RESAMPLES = 2000


class EconomicsError(ValueError):
    """An economics analysis that cannot be done with what the run holds."""


# --- discounting --------------------------------------------------------------------


def force_of_interest(annual_rate) -> np.ndarray:
    """``ln(1 + r)``: the continuous rate equivalent to an annual rate ``r``."""
    return np.log1p(np.asarray(annual_rate, dtype=float))


def discount_factor(days, annual_rate) -> np.ndarray:
    """``(1 + r)^-t`` at ``t = days / 365.25`` years."""
    return np.exp(-force_of_interest(annual_rate) * np.asarray(days, dtype=float) / YEAR_DAYS)


def discounted_years(start_days, end_days, annual_rate) -> np.ndarray:
    """Discounted length in years of the span ``[start, end]`` (days): ``(e^-da - e^-db) / d``."""
    a = np.asarray(start_days, dtype=float) / YEAR_DAYS
    b = np.asarray(end_days, dtype=float) / YEAR_DAYS
    d = np.broadcast_to(force_of_interest(annual_rate), np.broadcast(a, b).shape)
    length = np.maximum(b - a, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        discounted = np.exp(-d * a) * -np.expm1(-d * length) / d
    return np.where(d > 0, discounted, length)


# --- per patient --------------------------------------------------------------------


def _by_replication(replications: np.ndarray, economics: dict, read) -> np.ndarray:
    values = {r: float(read(params)) for r, params in economics.items()}
    return np.array([values[r] for r in replications], dtype=float)


# The patient columns :func:`patient_economics` reads, besides the summary's.
PATIENT_COLUMNS = ("hsct_day", "salvage")


def patient_economics(patients: pd.DataFrame, economics: dict) -> pd.DataFrame:
    """Discounted cost, life-years, QALYs and net benefit of each patient (module docstring).

    ``economics`` maps each replication in ``patients`` to its realised
    ``EconomicsParams`` (numbers, not distributions).
    """
    reps = patients["replication"].to_numpy()

    def param(read):
        return _by_replication(reps, economics, read)

    r_cost, r_effect = param(lambda e: e.discount_rate_costs), param(lambda e: e.discount_rate_effects)
    end = patients["os_days"].to_numpy(float)
    t1 = patients["on_therapy_days"].to_numpy(float)
    t2 = t1 + patients["remission_days"].to_numpy(float)
    life_years = discounted_years(0.0, end, r_effect)
    qalys = (param(lambda e: e.utilities.on_therapy) * discounted_years(0.0, t1, r_effect)
             + param(lambda e: e.utilities.remission) * discounted_years(t1, t2, r_effect)
             + param(lambda e: e.utilities.after_relapse) * discounted_years(t2, end, r_effect))

    therapy = (param(lambda e: e.unit_costs.bed_day) * patients["inpatient_days"].to_numpy(float)
               + param(lambda e: e.unit_costs.blinatumomab_day) * patients["blinatumomab_days"].to_numpy(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.where(t1 > 0, discounted_years(0.0, t1, r_cost) / (t1 / YEAR_DAYS), 1.0)
    hsct = patients["hsct"].to_numpy(bool)
    hsct_cost = np.where(hsct, param(lambda e: e.unit_costs.hsct)
                         * discount_factor(np.nan_to_num(patients["hsct_day"].to_numpy(float)), r_cost), 0.0)
    salvage_cost = np.zeros(len(patients))
    salvage = patients["salvage"].to_numpy(object)
    for therapy_name in ("car_t", "inotuzumab", "blinatumomab", "second_hsct"):
        given = salvage == therapy_name
        if given.any():
            unit = param(lambda e, name=therapy_name: getattr(e.unit_costs.salvage, name))
            salvage_cost = salvage_cost + np.where(given, unit * discount_factor(t2, r_cost), 0.0)
    follow_up = param(lambda e: e.unit_costs.follow_up_year) * discounted_years(t1, end, r_cost)
    cost = therapy * spread + hsct_cost + salvage_cost + follow_up
    net_benefit = param(lambda e: e.willingness_to_pay) * qalys - cost
    return pd.DataFrame({"cost": cost, "life_years": life_years, "qalys": qalys, "net_benefit": net_benefit},
                        index=patients.index)


# --- draws --------------------------------------------------------------------------


def draws_from(per_replication: pd.DataFrame) -> pd.DataFrame:
    """Mean cost and QALYs per (draw, strategy) from ``replication_summary`` rows.

    A draw is a sweep point (averaged over its replications) when the rows
    carry ``point``, else a replication. Columns: draw, strategy, cost,
    qalys, life_years.
    """
    rows = per_replication[(per_replication["subgroup"] == "all")
                           & per_replication["measure"].isin(["cost", "qalys", "life_years"])]
    if rows.empty:
        raise EconomicsError("the run has no cost or QALY measures: its scenario has no [economics] table")
    draw = "point" if "point" in rows.columns else "replication"
    wide = rows.pivot_table(index=[draw, "strategy"], columns="measure", values="value", aggfunc="mean")
    wide = wide.reset_index().rename(columns={draw: "draw"})
    wide.columns.name = None
    return wide[["draw", "strategy", "cost", "qalys", "life_years"]]


def net_benefit(draws: pd.DataFrame, strategies: list[str], willingness_to_pay: float) -> pd.DataFrame:
    """Net monetary benefit, one row per draw, one column per strategy (in ``strategies`` order)."""
    values = draws.assign(nb=willingness_to_pay * draws["qalys"] - draws["cost"])
    return values.pivot(index="draw", columns="strategy", values="nb")[strategies]


def ceac(draws: pd.DataFrame, strategies: list[str], willingness_to_pay: np.ndarray) -> pd.DataFrame:
    """Cost-effectiveness acceptability curve: for each willingness to pay, the share of
    draws in which each strategy has the highest net benefit (ties go to the first listed).

    Long table: willingness_to_pay, strategy, probability; the probabilities of a
    willingness to pay sum to 1.
    """
    rows = []
    for wtp in np.asarray(willingness_to_pay, dtype=float):
        nb = net_benefit(draws, strategies, wtp).to_numpy()
        best = np.bincount(np.argmax(nb, axis=1), minlength=len(strategies)) / len(nb)
        rows += [(wtp, strategy, float(p)) for strategy, p in zip(strategies, best)]
    return pd.DataFrame(rows, columns=["willingness_to_pay", "strategy", "probability"])


def default_wtp_grid(willingness_to_pay: float, points: int = 41) -> np.ndarray:
    """0 to three times the scenario's willingness to pay."""
    return np.linspace(0.0, 3.0 * max(willingness_to_pay, 1.0), points)


def evpi(draws: pd.DataFrame, strategies: list[str], willingness_to_pay: float) -> float:
    """Expected value of perfect information per patient: ``E[max_d NB_d] - max_d E[NB_d]``."""
    nb = net_benefit(draws, strategies, willingness_to_pay).to_numpy()
    return max(0.0, float(nb.max(axis=1).mean() - nb.mean(axis=0).max()))  # >= 0 but for rounding


def _gp_fit(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Fitted values of a Gaussian-process regression of ``y`` on ``x`` (standardised,
    anisotropic squared-exponential kernel plus white noise, hyperparameters by maximum
    marginal likelihood, length scales bounded below by ``sqrt(d)``)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    if np.ptp(y) == 0:
        return y.copy()
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    scale = y.std()
    centre = y.mean()
    # Length scales of at least sqrt(d) standard deviations: with few draws in d dimensions, a
    # shorter one makes the smooth kernel a white-noise kernel in disguise, which interpolates
    # the Monte Carlo noise and sends EVPPI up to EVPI.
    shortest = math.sqrt(x.shape[1])
    kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * RBF(np.full(x.shape[1], 2 * shortest), (shortest, 1e3 * shortest))
              + WhiteKernel(0.5, (1e-6, 1e1)))
    model = GaussianProcessRegressor(kernel, normalize_y=False, n_restarts_optimizer=0, random_state=seed)
    with warnings.catch_warnings():  # a length scale at its bound means "this input does not matter"
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, (y - centre) / scale)
    noiseless = model.kernel_.k1  # the fitted mean: the signal part of the kernel, without the noise
    k = noiseless(x)
    alpha = model.alpha_
    return centre + scale * (k @ alpha)


def evppi(
    draws: pd.DataFrame, parameters: pd.DataFrame, groups: dict[str, list[str]], strategies: list[str],
    reference: str, willingness_to_pay: float, seed: int = 0,
) -> pd.DataFrame:
    """EVPPI of each parameter group by Gaussian-process regression (module docstring).

    ``parameters``: one row per draw (index ``draw``), one column per parameter
    path. A group is a list of paths or glob patterns. For each strategy, its
    net benefit minus the reference's is regressed on the group's values; with
    fitted values ``g_d`` (``g`` of the reference is 0),
    ``EVPPI = mean_i max_d g_d(i) - max_d mean_i g_d(i)``, which is >= 0.
    Columns: group, parameters, n_parameters, draws, evppi, evpi.

    With few draws for a group of many parameters the regression can follow
    the Monte Carlo noise and EVPPI drifts up towards EVPI: trust a group's
    figure when draws are many times its parameters (hundreds of draws).
    """
    nb = net_benefit(draws, strategies, willingness_to_pay)
    parameters = parameters.loc[nb.index]
    total = evpi(draws, strategies, willingness_to_pay)
    rows = []
    for name, patterns in groups.items():
        paths = [p for p in parameters.columns if any(fnmatch.fnmatchcase(p, pat) for pat in patterns)]
        if not paths:
            raise EconomicsError(
                f"EVPPI group {name!r}: {patterns} names no parameter the run varied; "
                f"varied: {', '.join(parameters.columns)}"
            )
        x = parameters[paths].to_numpy(float)
        fitted = np.zeros((len(nb), len(strategies)))
        for k, strategy in enumerate(strategies):
            if strategy != reference:
                incremental = (nb[strategy] - nb[reference]).to_numpy()
                fitted[:, k] = _gp_fit(x, incremental, library_seed(seed, f"economics.evppi.{name}.{strategy}"))
        value = max(0.0, float(fitted.max(axis=1).mean() - fitted.mean(axis=0).max()))  # >= 0 but for rounding
        rows.append((name, ", ".join(paths), len(paths), len(nb), value, total))
    return pd.DataFrame(rows, columns=["group", "parameters", "n_parameters", "draws", "evppi", "evpi"])


def default_groups(paths: list[str]) -> dict[str, list[str]]:
    """One group per parameter table (``hsct``, ``economics.unit_costs``, ``reinduction.mitcl``, ...)."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        parts = path.split(".")
        depth = 2 if parts[0] in ("reinduction", "economics", "consolidation") and len(parts) > 2 else 1
        groups.setdefault(".".join(parts[:depth]), []).append(path)
    return groups


def _mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    mean = float(np.mean(values))
    half = Z95 * float(np.std(values, ddof=1)) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return mean, mean - half, mean + half


def cost_effectiveness(
    draws: pd.DataFrame, strategies: list[str], reference: str, willingness_to_pay: float, seed: int = 0,
) -> pd.DataFrame:
    """Per strategy: mean discounted cost, life-years, QALYs and net benefit over draws,
    each with a Monte Carlo 95% interval (mean +/- 1.96 sd / sqrt(draws)), the increments
    over the reference and the ICER with a 95% bootstrap interval over draws (percentile,
    ``BOOTSTRAP_RESAMPLES`` resamples; null when the QALY increment's interval holds 0, as
    the ratio is then unbounded). ``icer`` is null for the reference and when QALYs are equal.
    """
    wide = {m: draws.pivot(index="draw", columns="strategy", values=m)[strategies]
            for m in ("cost", "qalys", "life_years")}
    nb = net_benefit(draws, strategies, willingness_to_pay)
    n = len(nb)
    rng = generator_for(seed, 0, "economics.icer_bootstrap")  # its own named stream of the root seed
    resamples = rng.integers(n, size=(BOOTSTRAP_RESAMPLES, n))
    rows = []
    for strategy in strategies:
        row = {"strategy": strategy, "draws": n}
        for measure, values in (*wide.items(), ("net_benefit", nb)):
            row[measure], row[f"{measure}_ci_low"], row[f"{measure}_ci_high"] = _mean_interval(values[strategy].to_numpy())
        delta_cost = (wide["cost"][strategy] - wide["cost"][reference]).to_numpy()
        delta_qalys = (wide["qalys"][strategy] - wide["qalys"][reference]).to_numpy()
        row["incremental_cost"], row["incremental_qalys"] = float(delta_cost.mean()), float(delta_qalys.mean())
        icer = low = high = math.nan
        if strategy != reference and row["incremental_qalys"] != 0:
            icer = row["incremental_cost"] / row["incremental_qalys"]
            boot_cost, boot_qalys = delta_cost[resamples].mean(axis=1), delta_qalys[resamples].mean(axis=1)
            q_low, q_high = np.quantile(boot_qalys, [0.025, 0.975])
            if q_low > 0 or q_high < 0:
                low, high = (float(v) for v in np.quantile(boot_cost / boot_qalys, [0.025, 0.975]))
        row.update(icer=icer, icer_ci_low=low, icer_ci_high=high, status=_status(strategy, reference, row))
        rows.append(row)
    return pd.DataFrame(rows)


def _status(strategy: str, reference: str, row: dict) -> str:
    if strategy == reference:
        return "reference"
    dc, de = row["incremental_cost"], row["incremental_qalys"]
    if dc <= 0 and de >= 0:
        return "dominant"
    if dc >= 0 and de <= 0:
        return "dominated"
    return "more costly, more effective" if de > 0 else "cheaper, less effective"


def parameter_draws(points: pd.DataFrame | None) -> pd.DataFrame | None:
    """The varied parameters, one row per draw (a sweep's ``points`` table), or None."""
    if points is None or points.empty:
        return None
    return points.set_index("point").rename_axis("draw")


def analyse(
    per_replication: pd.DataFrame, points: pd.DataFrame | None, strategies: list[str], reference: str,
    willingness_to_pay: float, seed: int, groups: dict[str, list[str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every economics output of a run: ``economics`` (per strategy, with the ICER),
    ``ceac`` and, with two or more strategies and parameter draws (a sampled sweep),
    ``value_of_information`` (EVPI, and EVPPI per group: ``groups`` or one per table)."""
    draws = draws_from(per_replication)
    outputs = {
        "economics": cost_effectiveness(draws, strategies, reference, willingness_to_pay, seed),
        "ceac": ceac(draws, strategies, default_wtp_grid(willingness_to_pay)),
    }
    parameters = parameter_draws(points)
    if parameters is not None and len(strategies) > 1 and len(parameters) >= 4:
        varied = [c for c in parameters.columns if parameters[c].nunique() > 1]
        outputs["value_of_information"] = evppi(
            draws, parameters[varied], groups or default_groups(varied), strategies, reference,
            willingness_to_pay, seed,
        ).assign(willingness_to_pay=willingness_to_pay)
    return outputs
