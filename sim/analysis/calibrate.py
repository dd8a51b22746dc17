"""Joint calibration of the post-induction model to every in-sample target.

The free parameters (``FREE_PARAMETERS``: baselines of each state and the
main effects of the prognostic layer) carry their priors in the scenario as
distributions. On a fitting scale (logit for probabilities, identity
otherwise) each prior is approximated by a normal with the same 2.5% and
97.5% quantiles, ``N(m_j, s_j)``, and bounded by the prior's support. The fit
minimises

    S(theta) = sum_k z_k(theta)^2 + sum_j ((theta_j - m_j) / s_j)^2,
    z_k = (simulated_k(theta) - published_k) / SE_k,

over every in-sample target ``k`` of the calibrated strategy (``SE_k`` the
trial's own standard error, ``sim.analysis.validate``), i.e. a normal likelihood of
the published figures times the priors (a posterior mode). Every evaluation
simulates the scenario with one fixed seed (common random numbers), so
``S`` changes smoothly with the parameters at the scale of the finite
differences. ``scipy.optimize.least_squares`` (trust-region reflective)
solves it from the prior means, with a forward-difference Jacobian whose
columns run in parallel on the executor.

The **ensemble** is the Laplace approximation of the posterior at the best
point, ``N(theta*, (J'J)^-1)`` (J the Jacobian of the residuals, prior rows
included), truncated to the bounds, refined by history matching: each of
``ENSEMBLE_PROPOSALS`` draws is simulated once, and draws whose second-largest
implausibility ``|sim_k - published_k| / sqrt(SE_k^2 + MC_k^2)`` exceeds 3 are
ruled out (if fewer than ``ENSEMBLE_MIN_SETS`` remain, the least implausible
``ENSEMBLE_MIN_SETS`` are kept, and the fitted file says so by its counts).
The posterior-to-prior spread of each parameter says which
parameters the targets pin down (ratio well below 1) and which stay at their
priors (ratio near 1).

Only rows of the calibration inputs are used; the validation targets the
model is later judged on are not in this package.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from sim.analysis.km import Z95
from sim.analysis.validate import compare, load_targets
from sim.model.replication import run_replication
from sim.model.streams import generator_for
from sim.model.survival import expit, logit
from sim.scenario.distributions import _Dist
from sim.scenario.schema import Scenario, realise, with_values
from sim.scenario.sweep import parameter_value

FREE_PARAMETERS = (
    "consolidation.blinatumomab.mrd_log10_reduction",
    "consolidation.chemo.mrd_log10_reduction",
    "consolidation.blinatumomab.stop_after_cycle1_prob.mrd_negative",
    "consolidation.blinatumomab.mrd_unassessed_after_cycle2_prob",
    "consolidation.chemo.stop_after_cycle1_prob.mrd_positive",
    "consolidation.chemo.stop_after_cycle1_prob.mrd_negative",
    "consolidation.hsct_prob_mrd_negative",
    "consolidation.hsct_prob_mrd_positive",
    "consolidation.chemo.toxic_death_prob",
    "hsct.trm_prob",
    "consolidation.no_hsct_relapse_prob",
    "hsct.relapse_prob",
    "second_relapse.survival_prob_after_hr_ir",
    "second_relapse.survival_prob_after_hsct",
    "low_risk.relapse_prob_marrow.chemo",
    "low_risk.relapse_prob_marrow.blinatumomab",
    "second_relapse.survival_prob_after_lr.chemo",
    "second_relapse.survival_prob_after_lr.blinatumomab",
    "second_relapse.extramedullary_after_lr_log_odds",
    "prognosis.relapse_lt18_months_log_odds",
    "prognosis.relapse_18_36_months_log_odds",
    "prognosis.mrd_positive_log_odds",
    "prognosis.mrd_per_log10_log_odds",
    "off_protocol.failure_survival_prob_no_hsct",
    "off_protocol.not_assigned_event_free_prob",
    "off_protocol.not_assigned_survival_prob",
)
DEFAULT_SEED = 20261121
DEFAULT_REPLICATIONS = 30
DIFF_STEP = 0.1             # forward-difference step on the fitting scale (outcomes flip discretely below it)
ENSEMBLE_PROPOSALS = 240
ENSEMBLE_REPLICATIONS = 10  # per proposal, for history matching
IMPLAUSIBILITY_CUTOFF = 3.0
ENSEMBLE_MIN_SETS = 100
_PROBABILITY_CLIP = 1e-4


@dataclass(frozen=True)
class Prior:
    """A free parameter's prior on its fitting scale: normal ``(mean, sd)`` within ``(low, high)``."""

    path: str
    logit_scale: bool
    mean: float
    sd: float
    low: float
    high: float

    def to_value(self, x: float) -> float:
        return expit(x) if self.logit_scale else x

    def to_fit(self, value: float) -> float:
        return logit(value) if self.logit_scale else value


def prior_of(path: str, dist: _Dist) -> Prior:
    """The normal approximation of a prior distribution on its fitting scale."""
    lo, hi = dist.support()
    logit_scale = lo >= 0.0 and hi <= 1.0
    if logit_scale:
        lo, hi = max(lo, _PROBABILITY_CLIP), min(hi, 1 - _PROBABILITY_CLIP)
    to_fit = logit if logit_scale else (lambda v: v)
    q_low = to_fit(min(max(dist.ppf(0.025), lo), hi))
    q_high = to_fit(min(max(dist.ppf(0.975), lo), hi))
    low, high = to_fit(lo), to_fit(hi)
    return Prior(path, logit_scale, 0.5 * (q_low + q_high), (q_high - q_low) / (2 * Z95), low, high)


def priors_of(scenario: Scenario, paths: tuple[str, ...] = FREE_PARAMETERS) -> list[Prior]:
    """Priors of the free parameters, read from the scenario without its fitted values."""
    priors = []
    for path in paths:
        value = parameter_value(scenario, path)
        if not isinstance(value, _Dist):
            raise ValueError(
                f"'{path}' must carry its prior as a distribution to be calibrated (got {value!r}); "
                "Suggestion: load the scenario without its fitted values (use_fitted=False)"
            )
        priors.append(prior_of(path, value))
    return priors


def simulate_patients(scenario: Scenario, seed: int, replications: int) -> pd.DataFrame:
    """Patients of ``replications`` runs, in memory (no files), in one process."""
    tables = [run_replication(scenario, seed, r, events=False)[0].to_pandas() for r in range(replications)]
    return pd.concat(tables, ignore_index=True)


def evaluate(base: Scenario, values: dict[str, float], seed: int, replications: int, target_ids: tuple[str, ...]) -> pd.DataFrame:
    """Simulated vs published for the given targets at one parameter set (picklable, pure)."""
    patients = simulate_patients(with_values(base, values), seed, replications)
    targets = load_targets().set_index("id").loc[list(target_ids)].reset_index()
    return compare(patients, targets)


@dataclass
class CalibrationResult:
    values: dict[str, float]
    residuals: pd.DataFrame            # compare() rows at the best point
    priors: list[Prior]
    best_fit: np.ndarray               # fitting scale
    covariance: np.ndarray             # Laplace, fitting scale
    objective: float
    evaluations: int
    ensemble: pd.DataFrame = field(default_factory=pd.DataFrame)   # one row per accepted set (values)
    proposals: int = 0

    def identification(self) -> pd.DataFrame:
        """Posterior vs prior spread on the fitting scale: small ratios are pinned by the targets."""
        posterior_sd = np.sqrt(np.diag(self.covariance))
        return pd.DataFrame({
            "parameter": [p.path for p in self.priors],
            "value": [self.values[p.path] for p in self.priors],
            "prior_sd": [p.sd for p in self.priors],
            "posterior_sd": posterior_sd,
            "ratio": posterior_sd / np.array([p.sd for p in self.priors]),
        })


class _Problem:
    """Residuals and their Jacobian, with every simulation on the executor."""

    def __init__(self, base, priors, seed, replications, target_ids, executor, on_evaluation) -> None:
        self.base, self.priors, self.seed, self.replications = base, priors, seed, replications
        self.target_ids, self.executor, self.on_evaluation = target_ids, executor, on_evaluation
        self.cache: dict[tuple[float, ...], np.ndarray] = {}
        self.tables: dict[tuple[float, ...], pd.DataFrame] = {}
        self.evaluations = 0

    def values(self, x: np.ndarray) -> dict[str, float]:
        return {p.path: p.to_value(float(v)) for p, v in zip(self.priors, x)}

    def _residuals(self, x: np.ndarray, table: pd.DataFrame) -> np.ndarray:
        z = table["z"].to_numpy(float)
        prior = np.array([(v - p.mean) / p.sd for p, v in zip(self.priors, x)])
        return np.concatenate([np.nan_to_num(z), prior])

    def many(self, points: list[np.ndarray]) -> list[np.ndarray]:
        missing = [x for x in points if tuple(x) not in self.cache]
        futures = [
            self.executor.submit(evaluate, self.base, self.values(x), self.seed, self.replications, self.target_ids)
            for x in missing
        ]
        for x, future in zip(missing, futures):
            table = future.result()
            self.cache[tuple(x)], self.tables[tuple(x)] = self._residuals(x, table), table
            self.evaluations += 1
            if self.on_evaluation is not None:
                self.on_evaluation(self.evaluations, float(np.sum(self.cache[tuple(x)] ** 2)))
        return [self.cache[tuple(x)] for x in points]

    def fun(self, x: np.ndarray) -> np.ndarray:
        return self.many([np.asarray(x, float)])[0]

    def jac(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, float)
        points, steps = [], []
        for j, prior in enumerate(self.priors):
            step = DIFF_STEP if x[j] + DIFF_STEP <= prior.high else -DIFF_STEP
            moved = x.copy()
            moved[j] += step
            points.append(moved)
            steps.append(step)
        centre, *columns = self.many([x, *points])
        return np.column_stack([(column - centre) / step for column, step in zip(columns, steps)])


def calibrate(
    scenario: Scenario,
    seed: int,
    replications: int,
    executor: Executor,
    max_iterations: int = 12,
    target_ids: tuple[str, ...] | None = None,
    start: dict[str, float] | None = None,
    ensemble: bool = True,
    on_evaluation: Callable[[int, float], None] | None = None,
    on_proposal: Callable[[int, int], None] | None = None,
) -> CalibrationResult:
    """Fit FREE_PARAMETERS jointly; ``scenario`` carries the priors (loaded without fitted values).

    ``target_ids`` defaults to every target of the scenario's strategies;
    ``start`` (values) defaults to the prior means.
    """
    from scipy.optimize import least_squares

    priors = priors_of(scenario)
    base = realise(scenario)  # central values of everything not fitted
    if target_ids is None:
        targets = load_targets()
        target_ids = tuple(targets.loc[targets["strategy"].isin(scenario.strategies), "id"])
    problem = _Problem(base, priors, seed, replications, target_ids, executor, on_evaluation)
    x0 = np.array([p.mean if start is None else p.to_fit(start[p.path]) for p in priors])
    low, high = np.array([p.low for p in priors]), np.array([p.high for p in priors])
    x0 = np.clip(x0, low + 1e-9, high - 1e-9)
    solution = least_squares(
        problem.fun, x0, jac=problem.jac, bounds=(low, high), method="trf",
        x_scale=np.array([p.sd for p in priors]), max_nfev=max_iterations,
    )
    best = solution.x
    jacobian = problem.jac(best)  # also evaluates the best point itself
    covariance = np.linalg.pinv(jacobian.T @ jacobian)
    result = CalibrationResult(
        values=problem.values(best),
        residuals=problem.tables[tuple(best)],
        priors=priors,
        best_fit=best,
        covariance=covariance,
        objective=float(np.sum(problem.fun(best) ** 2)),
        evaluations=problem.evaluations,
    )
    if ensemble:
        result.ensemble, result.proposals = _history_matched_ensemble(
            result, base, seed, target_ids, executor, on_proposal
        )
    return result


def _history_matched_ensemble(
    result: CalibrationResult, base: Scenario, seed: int, target_ids: tuple[str, ...], executor: Executor,
    on_proposal: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, int]:
    """Laplace draws around the best point, ruled out by implausibility > 3 (second largest)."""
    priors = result.priors
    rng = generator_for(seed, 0, "calibration.ensemble")
    low, high = np.array([p.low for p in priors]), np.array([p.high for p in priors])
    draws = []
    while len(draws) < ENSEMBLE_PROPOSALS:
        x = rng.multivariate_normal(result.best_fit, result.covariance, method="eigh")
        if np.all(x >= low) and np.all(x <= high):
            draws.append(x)
    values = [{p.path: p.to_value(float(v)) for p, v in zip(priors, x)} for x in draws]
    # Each proposal gets its own seed: the check must not reuse the fit's luck.
    futures = [
        executor.submit(evaluate, base, v, seed + 1 + i, ENSEMBLE_REPLICATIONS, target_ids)
        for i, v in enumerate(values)
    ]
    scored = []
    for k, (v, future) in enumerate(zip(values, futures), start=1):
        table = future.result().dropna(subset=["simulated"])
        if on_proposal is not None:
            on_proposal(k, len(futures))
        mc_se = table["mc_se"].fillna(0.0).to_numpy()
        implausibility = np.abs(table["simulated"] - table["published"]).to_numpy() / np.sqrt(
            table["trial_se"].to_numpy() ** 2 + mc_se**2
        )
        scored.append((float(np.sort(implausibility)[-2]) if len(implausibility) > 1 else 0.0, v))
    accepted = [v for score, v in scored if score <= IMPLAUSIBILITY_CUTOFF]
    if len(accepted) < ENSEMBLE_MIN_SETS:
        # Too few pass the cut: keep the least implausible sets and say so (fitted file, README).
        accepted = [v for _, v in sorted(scored, key=lambda pair: pair[0])[:ENSEMBLE_MIN_SETS]]
    return pd.DataFrame(accepted, columns=[p.path for p in priors]), len(draws)


def fitted_toml(result: CalibrationResult, seed: int, replications: int, scenario_file: str) -> str:
    """The fitted-values file: parameters by table, and how they were obtained."""
    residuals = result.residuals.dropna(subset=["z"])
    within = int((residuals["z"].abs() <= 2).sum())
    ident = result.identification()
    lines = [
        f"# Fitted by `simulate calibrate {scenario_file} --seed {seed} --reps {replications}`.",
        "# Do not edit by hand: rerun the command to reproduce or update these values.",
        "",
        "[calibration]",
        f"seed = {seed}",
        f"replications = {replications}",
        f"evaluations = {result.evaluations}",
        f"objective = {result.objective:.6g}",
        f"targets = {len(residuals)}",
        f"targets_within_2_se = {within}",
        f"ensemble_sets = {len(result.ensemble)}",
        f"ensemble_proposals = {result.proposals}",
        "residual_z = { " + ", ".join(f"{row.id} = {row.z:.3f}" for row in residuals.itertuples()) + " }",
        "posterior_to_prior_sd = { "
        + ", ".join(f'"{row.parameter}" = {row.ratio:.3f}' for row in ident.itertuples()) + " }",
    ]
    tables: dict[str, list[str]] = {}
    for path, value in result.values.items():
        table, key = path.rsplit(".", 1)
        tables.setdefault(table, []).append(f"{key} = {value!r}")  # full precision: the values the fit checked
    for table, entries in tables.items():
        lines += ["", f"[{table}]", *entries]
    return "\n".join(lines) + "\n"


# --- the project's own out-of-sample check -------------------------------------------------

TARGET_GROUPS = {
    "HR/IR arms": ("4.1",),
    "LR arms": ("4.2",),
    "off-protocol outcomes": ("3.4",),
}
CROSS_VALIDATION_ITERATIONS = 2


def cross_validate(
    scenario: Scenario,
    fitted: dict[str, float],
    seed: int,
    replications: int,
    executor: Executor,
    on_group: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Refit with one group of targets left out; z of the left-out targets at the refit.

    ``scenario`` carries the priors (loaded without fitted values); each refit
    starts from ``fitted`` (the full fit) and takes at most
    ``CROSS_VALIDATION_ITERATIONS`` optimiser steps. Returns one row per
    left-out target with its z at the full fit and at the refit without it.
    """
    targets = load_targets()
    targets = targets[targets["strategy"].isin(scenario.strategies)]
    all_ids = tuple(targets["id"])
    base = realise(scenario)
    full = evaluate(base, fitted, seed, replications, all_ids).set_index("id")
    rows = []
    for group, sections in TARGET_GROUPS.items():
        if on_group is not None:
            on_group(group)
        left_out = tuple(targets.loc[targets["section"].isin(sections), "id"])
        kept = tuple(i for i in all_ids if i not in left_out)
        refit = calibrate(scenario, seed, replications, executor, CROSS_VALIDATION_ITERATIONS,
                          target_ids=kept, start=fitted, ensemble=False)
        predicted = evaluate(base, refit.values, seed, replications, left_out).set_index("id")
        for target_id in left_out:
            rows.append({"group": group, "id": target_id, "published": predicted.at[target_id, "published"],
                         "trial_se": predicted.at[target_id, "trial_se"],
                         "in_sample_z": full.at[target_id, "z"], "left_out_z": predicted.at[target_id, "z"]})
    return pd.DataFrame(rows)


def cross_validation_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per group: targets, mean |z| and share within 2 SE, in sample and left out."""
    def summarise(group: pd.DataFrame) -> pd.Series:
        return pd.Series({
            "targets": len(group),
            "in_sample_mean_abs_z": group["in_sample_z"].abs().mean(),
            "left_out_mean_abs_z": group["left_out_z"].abs().mean(),
            "in_sample_within_2se": (group["in_sample_z"].abs() <= 2).mean(),
            "left_out_within_2se": (group["left_out_z"].abs() <= 2).mean(),
            "left_out_max_abs_z": group["left_out_z"].abs().max(),
        })
    return table.groupby("group", sort=False).apply(summarise).reset_index()
