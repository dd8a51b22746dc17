"""Calibration of the post-induction model to its in-sample targets.

Each free parameter is paired with the one target it mostly drives (below).
The fit is a damped secant iteration run on all pairs at once (Jacobi):
every iteration simulates the scenario once, with a fixed seed, so every
iteration sees the same patients and draws (common random numbers) and the
objective changes smoothly with the parameters. Probabilities are fitted on
the logit scale. The result is written to the scenario's fitted-values file
(``fitted = "..."`` in the scenario), with the seed, replications and final
residuals, so ``simulate calibrate`` reproduces it from a clean checkout.

Only rows of the calibration inputs are used; the validation targets the
model is later judged on are not in this package.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from .parameters import Scenario, realise, with_values
from .replication import run_replication
from .survival import expit, logit
from .validate import compare, load_targets


@dataclass(frozen=True)
class FreeParameter:
    path: str          # dotted key path in the scenario
    target: str        # id of the target it is fitted to
    low: float
    high: float
    logit_scale: bool  # fitted as a probability on the logit scale
    direction: int     # +1 when raising the parameter raises the target, -1 when it lowers it


FREE_PARAMETERS = (
    FreeParameter("consolidation.blinatumomab.mrd_log10_reduction", "hr_ir_B_mrd_negative_cycle1", 0.0, 8.0, False, 1),
    FreeParameter("consolidation.chemo.mrd_log10_reduction", "hr_ir_A_mrd_negative_cycle1", -2.0, 4.0, False, 1),
    FreeParameter("consolidation.blinatumomab.stop_after_cycle1_prob.mrd_negative", "hr_ir_B_cycle2", 0.001, 0.99, True, -1),
    FreeParameter("consolidation.blinatumomab.mrd_unassessed_after_cycle2_prob", "hr_ir_B_mrd_negative_cycle2", 0.001, 0.9, True, -1),
    FreeParameter("consolidation.chemo.stop_after_cycle1_prob.mrd_positive", "hr_ir_A_cycle2", 0.001, 0.99, True, -1),
    FreeParameter("consolidation.chemo.stop_after_cycle1_prob.mrd_negative", "hr_ir_A_mrd_negative_cycle2", 0.001, 0.99, True, -1),
    FreeParameter("consolidation.hsct_prob_mrd_negative", "hr_ir_B_hsct", 0.3, 0.999, True, 1),
    FreeParameter("consolidation.hsct_prob_mrd_positive", "hr_ir_A_hsct", 0.01, 0.99, True, 1),
    FreeParameter("consolidation.chemo.toxic_death_prob", "hr_ir_A_first_event_death", 0.001, 0.3, True, 1),
    FreeParameter("hsct.trm_prob", "hr_ir_B_first_event_death", 0.01, 0.3, True, 1),
    FreeParameter("consolidation.no_hsct_relapse_prob", "hr_ir_A_dfs_2y", 0.05, 0.99, True, -1),
    FreeParameter("hsct.relapse_log_odds_shift", "hr_ir_B_dfs_2y", -3.0, 3.0, False, -1),
    FreeParameter("second_relapse.survival_prob_after_hr_ir", "hr_ir_A_os_2y", 0.01, 0.9, True, 1),
    FreeParameter("second_relapse.survival_prob_after_hsct", "hr_ir_B_os_2y", 0.01, 0.9, True, 1),
    FreeParameter("low_risk.relapse_prob_marrow.chemo", "lr_C_dfs_4y_marrow", 0.02, 0.95, True, -1),
    FreeParameter("low_risk.relapse_prob_marrow.blinatumomab", "lr_D_dfs_4y_marrow", 0.02, 0.95, True, -1),
    FreeParameter("second_relapse.survival_prob_after_lr.chemo", "lr_C_os_4y_marrow", 0.01, 0.99, True, 1),
    FreeParameter("second_relapse.survival_prob_after_lr.blinatumomab", "lr_D_os_4y_marrow", 0.01, 0.999, True, 1),
    FreeParameter("second_relapse.extramedullary_after_lr_log_odds", "lr_os_4y", -4.0, 2.0, False, 1),
)
DEFAULT_SEED = 20261121
DEFAULT_REPLICATIONS = 60
_FIRST_STEP = 0.3  # on the fitting scale, before two iterates give a secant


@dataclass(frozen=True)
class CalibrationResult:
    values: dict[str, float]
    residuals: pd.DataFrame      # target, published, simulated, trial_se, z
    iterations: int
    converged: bool


class _Bracket:
    """One parameter's root search: expand until the residual changes sign, then
    regula falsi with the Illinois fix (robust to the small shifts that other
    parameters' moves cause between iterations)."""

    def __init__(self, p: FreeParameter) -> None:
        self.p = p
        self.below: tuple[float, float] | None = None  # (x, z) with z < 0
        self.above: tuple[float, float] | None = None  # (x, z) with z > 0
        self.step = _FIRST_STEP
        self.last_side = 0

    def next(self, x: float, z: float) -> float:
        side = 1 if z > 0 else -1
        if side > 0:
            self.above = (x, z)
        else:
            self.below = (x, z)
        if self.below is not None and self.above is not None:
            # Other parameters move too: an old end can fall on the wrong side.
            # Keep the bracket only if it is oriented as the parameter acts.
            if (self.above[0] - self.below[0]) * self.p.direction <= 0:
                if side > 0:
                    self.below = None
                else:
                    self.above = None
                self.step = _FIRST_STEP
        if self.below is None or self.above is None:
            # No sign change yet: move towards the target, doubling the step.
            move = -side * self.p.direction * self.step
            self.step *= 2
            return x + move
        (xb, zb), (xa, za) = self.below, self.above
        if side == self.last_side:  # Illinois: halve the stale end's weight
            if side > 0:
                zb /= 2
                self.below = (xb, zb)
            else:
                za /= 2
                self.above = (xa, za)
        self.last_side = side
        return xb - zb * (xa - xb) / (za - zb)


def _to_fit(p: FreeParameter, value: float) -> float:
    return logit(value) if p.logit_scale else value


def _from_fit(p: FreeParameter, x: float) -> float:
    value = expit(x) if p.logit_scale else x
    return min(max(value, p.low), p.high)


def simulate_trial(scenario: Scenario, seed: int, replications: int, executor: Executor) -> pd.DataFrame:
    """Patients of ``replications`` runs, in memory (no files)."""
    futures = [executor.submit(run_replication, scenario, seed, r) for r in range(replications)]
    return pd.concat([f.result()[0].to_pandas() for f in futures], ignore_index=True)


def calibrate(
    scenario: Scenario,
    seed: int,
    replications: int,
    executor: Executor,
    max_iterations: int = 30,
    tolerance_se: float = 0.75,
    on_iteration: Callable[[int, pd.DataFrame], None] | None = None,
) -> CalibrationResult:
    """Fit FREE_PARAMETERS until every paired target is within ``tolerance_se`` trial SEs.

    Returns the first iterate within tolerance, or else the iterate whose worst
    target was closest (``converged`` False).
    """
    base = realise(scenario)  # central values of everything not fitted
    targets = load_targets().set_index("id")
    chosen = targets.loc[[p.target for p in FREE_PARAMETERS]].reset_index()
    # Start from the middle of each parameter's bounds (on its fitting scale), not
    # from the shipped values, so the fit is a function of the seed and replications only.
    current = {p.path: _from_fit(p, 0.5 * (_to_fit(p, p.low) + _to_fit(p, p.high))) for p in FREE_PARAMETERS}
    brackets = {p.path: _Bracket(p) for p in FREE_PARAMETERS}
    best: CalibrationResult | None = None
    for iteration in range(1, max_iterations + 1):
        patients = simulate_trial(with_values(base, current), seed, replications, executor)
        residuals = compare(patients, chosen)[["id", "published", "simulated", "trial_se", "z"]]
        if on_iteration is not None:
            on_iteration(iteration, residuals)
        worst = float(residuals["z"].abs().max())
        if best is None or worst < float(best.residuals["z"].abs().max()):
            best = CalibrationResult(current, residuals, iteration, worst <= tolerance_se)
        if worst <= tolerance_se:
            return best
        z_by_target = dict(zip(residuals["id"], residuals["z"]))
        current = {
            p.path: _from_fit(p, brackets[p.path].next(_to_fit(p, current[p.path]), z_by_target[p.target]))
            for p in FREE_PARAMETERS
        }
    # Not within tolerance: keep the best iterate seen (the parameters jostle
    # each other near the optimum because patients' outcomes flip discretely).
    assert best is not None
    return best


def fitted_toml(result: CalibrationResult, seed: int, replications: int, scenario_file: str) -> str:
    """The fitted-values file: parameters by table, and how they were obtained."""
    lines = [
        f"# Fitted by `simulate calibrate {scenario_file} --seed {seed} --reps {replications}`.",
        "# Do not edit by hand: rerun the command to reproduce or update these values.",
        "",
        "[calibration]",
        f"seed = {seed}",
        f"replications = {replications}",
        f"best_iteration = {result.iterations}",
        f"converged = {str(result.converged).lower()}",
        "residual_z = { " + ", ".join(f'{row.id} = {row.z:.3f}' for row in result.residuals.itertuples()) + " }",
    ]
    tables: dict[str, list[str]] = {}
    for path, value in result.values.items():
        table, key = path.rsplit(".", 1)
        tables.setdefault(table, []).append(f"{key} = {value!r}")  # full precision: the values the fit checked
    for table, entries in tables.items():
        lines += ["", f"[{table}]", *entries]
    return "\n".join(lines) + "\n"
