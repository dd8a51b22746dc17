"""Joint calibration: priors, the fitted-values file, the ensemble, the shipped fit, reproducibility.

* priors are read from the scenario's distributions and approximated on the
  fitting scale by a normal with the same 2.5% and 97.5% quantiles;
* ``fitted_toml`` writes a file that loads back exactly through a scenario;
* the shipped fit records the default seed and replications, at least 95% of
  in-sample targets within 2 trial SE, and its values simulated at that seed
  give the residuals it records; the shipped ensemble holds at least 100 sets
  inside the priors' support and ``parameter_mode = "calibrated"`` draws them;
* ``calibrate`` is a function of (seed, replications): run twice it gives
  the same values, whatever fitted values the scenario carries.

A full refit takes tens of minutes and is checked with
``simulate calibrate scenarios/aall1331.toml --check`` (see the README).
"""

from __future__ import annotations

import math
import re
import shutil
import tomllib
from concurrent.futures import Executor
from functools import reduce
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.analysis.calibrate import (
    DEFAULT_REPLICATIONS,
    DEFAULT_SEED,
    ENSEMBLE_MIN_SETS,
    FREE_PARAMETERS,
    CalibrationResult,
    calibrate,
    fitted_toml,
    prior_of,
    priors_of,
    simulate_patients,
)
from sim.analysis.validate import compare, load_targets
from sim.execution.runner import make_executor
from sim.model.replication import realised_parameters
from sim.model.survival import logit
from sim.scenario.distributions import parse_distribution
from sim.scenario.load import ScenarioError, load_scenario
from sim.scenario.schema import realise
from tests.conftest import AALL1331_TOML, SCENARIOS_DIR, write_scenario

FITTED_FILE = SCENARIOS_DIR / "aall1331.fitted.toml"
ENSEMBLE_FILE = SCENARIOS_DIR / "aall1331.ensemble.parquet"


def value_at(scenario, path: str) -> float:
    return reduce(getattr, path.split("."), scenario)


@pytest.fixture(scope="module")
def prior_scenario():
    return load_scenario(AALL1331_TOML, use_fitted=False).scenario


@pytest.fixture(scope="module")
def executor():
    made = make_executor(1)
    if isinstance(made, Executor):
        yield made
    else:
        with made as in_process:
            yield in_process


# --- priors ------------------------------------------------------------------------------

def test_prior_of_a_uniform_probability_by_hand() -> None:
    prior = prior_of("x", parse_distribution({"dist": "uniform", "low": 0.1, "high": 0.8}))
    q_low, q_high = 0.1 + 0.025 * 0.7, 0.1 + 0.975 * 0.7
    assert prior.logit_scale
    assert prior.mean == pytest.approx(0.5 * (logit(q_low) + logit(q_high)))
    assert prior.sd == pytest.approx((logit(q_high) - logit(q_low)) / (2 * 1.959963984540054))
    assert (prior.low, prior.high) == pytest.approx((logit(0.1), logit(0.8)))


def test_prior_of_a_normal_effect_is_itself() -> None:
    prior = prior_of("x", parse_distribution({"dist": "normal", "mean": 1.4, "sd": 0.4}))
    assert not prior.logit_scale
    assert (prior.mean, prior.sd) == pytest.approx((1.4, 0.4))
    assert (prior.low, prior.high) == (-math.inf, math.inf)


def test_every_free_parameter_has_a_prior_in_the_scenario(prior_scenario) -> None:
    priors = priors_of(prior_scenario)
    assert [p.path for p in priors] == list(FREE_PARAMETERS)
    assert all(p.sd > 0 and p.low < p.mean < p.high for p in priors)


def test_a_fitted_scenario_has_no_priors_left_and_says_how_to_get_them() -> None:
    with pytest.raises(ValueError, match="must carry its prior as a distribution.*use_fitted=False"):
        priors_of(load_scenario(AALL1331_TOML).scenario)


# --- the fitted-values file ---------------------------------------------------------------

def a_result(prior_scenario, values: dict[str, float]) -> CalibrationResult:
    priors = priors_of(prior_scenario)
    residuals = pd.DataFrame({"id": ["a", "b", "c"], "z": [0.1234, -2.5, 1.0]})
    return CalibrationResult(
        values=values, residuals=residuals, priors=priors, best_fit=np.array([p.mean for p in priors]),
        covariance=np.diag([(0.5 * p.sd) ** 2 for p in priors]), objective=12.5, evaluations=42,
        ensemble=pd.DataFrame([values] * 3), proposals=7,
    )


def spread_values(prior_scenario) -> dict[str, float]:
    """Values inside each prior's support with many significant digits."""
    values = {}
    for k, p in enumerate(priors_of(prior_scenario)):
        x = p.mean + p.sd * math.sin(k + math.sqrt(2))
        values[p.path] = p.to_value(min(max(x, p.low), p.high))
    return values


def test_fitted_toml_round_trips_exactly(tmp_path: Path, prior_scenario) -> None:
    values = spread_values(prior_scenario)
    text = fitted_toml(a_result(prior_scenario, values), seed=123, replications=9, scenario_file="scenarios/x.toml")
    (tmp_path / "x.fitted.toml").write_text(text, encoding="utf-8")
    scenario = load_scenario(write_scenario(tmp_path, 'fitted = "x.fitted.toml"\n', name="x.toml")).scenario
    assert {path: value_at(scenario, path) for path in values} == values
    record = tomllib.loads(text)["calibration"]
    assert (record["seed"], record["replications"], record["evaluations"]) == (123, 9, 42)
    assert (record["targets"], record["targets_within_2_se"]) == (3, 2)
    assert record["residual_z"] == {"a": 0.123, "b": -2.5, "c": 1.0}
    assert record["posterior_to_prior_sd"] == {path: 0.5 for path in FREE_PARAMETERS}
    assert text.splitlines()[0] == "# Fitted by `simulate calibrate scenarios/x.toml --seed 123 --reps 9`."


# --- the shipped fit and ensemble ---------------------------------------------------------

@pytest.fixture(scope="module")
def shipped() -> dict:
    return tomllib.loads(FITTED_FILE.read_text(encoding="utf-8"))


def test_shipped_fit_records_how_it_was_obtained(shipped) -> None:
    record = shipped["calibration"]
    assert (record["seed"], record["replications"]) == (DEFAULT_SEED, DEFAULT_REPLICATIONS)
    assert record["targets"] == len(record["residual_z"]) >= 100
    assert record["targets_within_2_se"] >= 0.95 * record["targets"]
    assert record["targets_within_2_se"] == sum(abs(z) <= 2 for z in record["residual_z"].values())
    assert set(record["posterior_to_prior_sd"]) == set(FREE_PARAMETERS)


def test_shipped_values_give_the_recorded_residuals(shipped, base_scenario) -> None:
    """Simulated at the recorded seed and replications, the shipped scenario gives the recorded
    z of every target (to the three decimals written)."""
    record = shipped["calibration"]
    patients = simulate_patients(realise(base_scenario), record["seed"], record["replications"])
    z = compare(patients, load_targets().set_index("id").loc[list(record["residual_z"])].reset_index()).set_index("id")["z"]
    for target_id, recorded in record["residual_z"].items():
        assert z[target_id] == pytest.approx(recorded, abs=0.0015), (target_id, z[target_id], recorded)


def test_shipped_ensemble_holds_enough_sets_inside_the_priors(prior_scenario, shipped) -> None:
    ensemble = pq.read_table(ENSEMBLE_FILE).to_pandas()
    assert list(ensemble.columns) == list(FREE_PARAMETERS)
    assert len(ensemble) >= ENSEMBLE_MIN_SETS and len(ensemble) == shipped["calibration"]["ensemble_sets"]
    for prior in priors_of(prior_scenario):
        fit = ensemble[prior.path].map(prior.to_fit)
        assert fit.between(prior.low, prior.high).all(), prior.path
        assert fit.std() > 0, prior.path


def test_calibrated_mode_draws_a_set_per_replication(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, '[run]\nparameter_mode = "calibrated"\n')).scenario
    ensemble = scenario.calibration_ensemble
    rows = {tuple(values) for values in ensemble.values}
    drawn = []
    for replication in range(6):
        realised = realised_parameters(scenario, 11, replication)
        drawn.append(tuple(value_at(realised, path) for path in ensemble.paths))
        # Parameters outside the ensemble stay at their central values.
        assert realised.block1 == realise(scenario).block1
    assert set(drawn) <= rows and len(set(drawn)) > 1
    assert drawn == [tuple(value_at(realised_parameters(scenario, 11, r), p) for p in ensemble.paths) for r in range(6)]


def test_calibrated_mode_without_an_ensemble_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bare.toml"
    text = AALL1331_TOML.read_text(encoding="utf-8").replace('ensemble = "aall1331.ensemble.parquet"\n', "")
    text = text.replace('fitted = "aall1331.fitted.toml"\n', "").replace('parameter_mode = "central"', 'parameter_mode = "calibrated"')
    path.write_text(text, encoding="utf-8")
    with pytest.raises(Exception, match="'calibrated' needs the calibrated ensemble"):
        load_scenario(path)


@pytest.mark.parametrize("damage, message", [
    (lambda table: table.slice(0, 0), "holds no parameter set"),
    (lambda table: table.set_column(0, table.column_names[0], pa.array([None] * table.num_rows, pa.float64())),
     "must hold a number in every row (got type double, "),
    (lambda table: table.set_column(0, table.column_names[0], pa.array(["x"] * table.num_rows)),
     "must hold a number in every row (got type string, 0 missing)"),
    (lambda table: table.set_column(0, table.column_names[0], pa.array([float("nan")] * table.num_rows)),
     "must hold a finite number in every row (got nan in row 1)"),
], ids=["no-rows", "missing-values", "text", "nan"])
def test_an_ensemble_without_numbers_in_every_cell_is_refused_naming_it(tmp_path: Path, damage, message) -> None:
    """One line naming the ensemble file, not an IndexError or a TypeError once the run draws from it."""
    shutil.copy(FITTED_FILE, tmp_path / FITTED_FILE.name)
    pq.write_table(damage(pq.read_table(ENSEMBLE_FILE)), tmp_path / ENSEMBLE_FILE.name)
    path = tmp_path / "aall1331.toml"
    path.write_text(AALL1331_TOML.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ScenarioError, match=re.escape(message)) as caught:
        load_scenario(path)
    assert ENSEMBLE_FILE.name in str(caught.value)


def test_an_ensemble_value_outside_its_rule_is_refused_naming_the_file_and_row(tmp_path: Path) -> None:
    shutil.copy(FITTED_FILE, tmp_path / FITTED_FILE.name)
    table = pq.read_table(ENSEMBLE_FILE)
    k = table.column_names.index("hsct.trm_prob")
    pq.write_table(table.set_column(k, "hsct.trm_prob", pa.array([1.5] * table.num_rows)), tmp_path / ENSEMBLE_FILE.name)
    path = tmp_path / "aall1331.toml"
    path.write_text(AALL1331_TOML.read_text(encoding="utf-8").replace(
        'parameter_mode = "central"', 'parameter_mode = "calibrated"'), encoding="utf-8")
    scenario = load_scenario(path).scenario
    with pytest.raises(ScenarioError) as caught:
        realised_parameters(scenario, 1, 0)
    assert re.fullmatch(rf"{re.escape(str(tmp_path / ENSEMBLE_FILE.name))}: parameter set \d+ \(row \d+\): "
                        r"hsct\.trm_prob: must be a probability in \[0, 1\] \(got 1\.5\)", str(caught.value)), caught.value


def test_a_scenario_naming_an_ensemble_not_yet_written_does_not_take_the_one_it_extends(tmp_path: Path) -> None:
    """A misspelt or not yet calibrated ``ensemble = "..."`` must not fall back, unseen, on the parent's."""
    path = tmp_path / "child.toml"
    path.write_text(f'extends = "{AALL1331_TOML.resolve().as_posix()}"\nensemble = "child.ensemble.parquet"\n',
                    encoding="utf-8")
    assert load_scenario(path).scenario.calibration_ensemble is None
    assert load_scenario(write_scenario(tmp_path)).scenario.calibration_ensemble is not None  # naming none inherits
    path.write_text(path.read_text(encoding="utf-8") + '[run]\nparameter_mode = "calibrated"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=re.escape(f"{path}: (top level): 'run.parameter_mode' = 'calibrated' "
                                                      "needs the calibrated ensemble")):
        load_scenario(path)


# --- reproduction with common random numbers -------------------------------------------------

def small_fit(scenario, executor: Executor) -> CalibrationResult:
    seen: list[float] = []
    result = calibrate(scenario, 31, 2, executor, max_iterations=1, ensemble=False,
                       on_evaluation=lambda i, objective: seen.append(objective))
    result.seen = seen  # type: ignore[attr-defined]
    return result


@pytest.fixture(scope="module")
def first_fit(prior_scenario, executor):
    return small_fit(prior_scenario, executor)


@pytest.mark.slow
def test_calibration_is_deterministic(first_fit, prior_scenario, executor) -> None:
    again = small_fit(prior_scenario, executor)
    assert first_fit.values == again.values
    assert first_fit.seen == again.seen
    pd.testing.assert_frame_equal(first_fit.residuals, again.residuals)
    # Not vacuous: a Jacobian's worth of different simulations.
    assert first_fit.evaluations > len(FREE_PARAMETERS)
    assert len(set(first_fit.seen)) > 1
    assert set(first_fit.values) == set(FREE_PARAMETERS)
