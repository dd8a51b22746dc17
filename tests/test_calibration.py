"""Calibration: the fitted-values file, the shipped fit, and reproducibility.

* ``fitted_toml`` writes a file that loads back through a scenario into the
  fitted values (to the six significant digits it writes) and records how
  the fit was obtained;
* the shipped ``scenarios/aall1331.fitted.toml`` records the default seed and
  replications, a converged fit and every residual within the tolerance; its
  values, simulated at that seed, give the residuals it records;
* ``calibrate`` is a function of (seed, replications): run twice it gives the
  same values, and the fitted values already in the scenario do not matter.

A full refit takes minutes and is run separately (``simulate calibrate --check``).
"""

from __future__ import annotations

import math
import tomllib
from concurrent.futures import Executor
from functools import reduce
from pathlib import Path

import pandas as pd
import pytest

from sim.calibrate import (
    DEFAULT_REPLICATIONS,
    DEFAULT_SEED,
    FREE_PARAMETERS,
    CalibrationResult,
    calibrate,
    fitted_toml,
    simulate_trial,
)
from sim.parameters import realise, with_values
from sim.runner import make_executor
from sim.scenario import load_scenario
from sim.validate import compare, load_targets

from .conftest import SCENARIOS_DIR, write_scenario

FITTED_FILE = SCENARIOS_DIR / "aall1331.fitted.toml"
TOLERANCE_SE = 0.75          # calibrate's default
PATHS = [p.path for p in FREE_PARAMETERS]
TARGET_IDS = [p.target for p in FREE_PARAMETERS]


def value_at(scenario, path: str) -> float:
    return reduce(getattr, path.split("."), scenario)


def nested(document: dict, path: str):
    return reduce(lambda table, key: table[key], path.split("."), document)


@pytest.fixture(scope="module")
def executor():
    """``make_executor(1)``: one worker, in-process (an executor, or a context manager giving one)."""
    made = make_executor(1)
    if isinstance(made, Executor):
        yield made
    else:
        with made as in_process:
            yield in_process


def residuals(z_values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"id": TARGET_IDS, "published": 0.5, "simulated": 0.5, "trial_se": 0.05, "z": z_values})


# --- (a) fitted_toml round-trips ------------------------------------------------------------

def spread_values() -> dict[str, float]:
    """Values inside each parameter's bounds with many significant digits."""
    return {p.path: p.low + (p.high - p.low) * (k + math.sqrt(2)) / (len(FREE_PARAMETERS) + 2)
            for k, p in enumerate(FREE_PARAMETERS)}


def awkward_values() -> dict[str, float]:
    """Whole numbers (written as TOML integers), tiny and negative values."""
    values = {p.path: p.low for p in FREE_PARAMETERS}
    values["consolidation.blinatumomab.mrd_log10_reduction"] = 3.0
    values["hsct.relapse_log_odds_shift"] = -2.0
    values["hsct.trm_prob"] = 1.234567891e-5
    return values


@pytest.mark.parametrize("values", [spread_values(), awkward_values()], ids=["spread", "awkward"])
def test_fitted_toml_loads_back_through_a_scenario(tmp_path: Path, values: dict[str, float]) -> None:
    z_values = [0.1234, -0.5, 0.0, 0.75] + [0.001 * k for k in range(len(FREE_PARAMETERS) - 4)]
    result = CalibrationResult(values=values, residuals=residuals(z_values), iterations=7, converged=False)
    text = fitted_toml(result, seed=123, replications=9, scenario_file="scenarios/x.toml")
    (tmp_path / "x.fitted.toml").write_text(text, encoding="utf-8")
    scenario = load_scenario(write_scenario(tmp_path, 'fitted = "x.fitted.toml"\n', name="x.toml")).scenario
    for path, value in values.items():
        loaded = value_at(scenario, path)
        assert loaded == value, path  # written at full precision: the values the fit checked
    # Parameters that are not fitted keep the scenario's values.
    shipped = load_scenario(SCENARIOS_DIR / "aall1331.toml").scenario
    assert scenario.block1 == shipped.block1 and scenario.follow_up == shipped.follow_up

    document = tomllib.loads(text)
    assert text.splitlines()[0] == "# Fitted by `simulate calibrate scenarios/x.toml --seed 123 --reps 9`."
    record = document["calibration"]
    assert (record["seed"], record["replications"], record["best_iteration"], record["converged"]) == (123, 9, 7, False)
    assert record["residual_z"] == dict(zip(TARGET_IDS, [round(z, 3) for z in z_values]))
    # Nothing but the fitted parameters and the record.
    assert parameter_paths(document) == set(PATHS)


def test_fitted_toml_round_trips_exactly(tmp_path: Path) -> None:
    values = spread_values()
    result = CalibrationResult(values=values, residuals=residuals([0.0] * len(TARGET_IDS)), iterations=1, converged=True)
    (tmp_path / "x.fitted.toml").write_text(fitted_toml(result, 1, 1, "x.toml"), encoding="utf-8")
    scenario = load_scenario(write_scenario(tmp_path, 'fitted = "x.fitted.toml"\n', name="x.toml")).scenario
    assert {path: value_at(scenario, path) for path in values} == values


def parameter_paths(document: dict, prefix: str = "") -> set[str]:
    """Dotted paths of every value in a fitted-values file, outside its [calibration] record."""
    paths = set()
    for key, value in document.items():
        if not prefix and key == "calibration":
            continue
        if isinstance(value, dict):
            paths |= parameter_paths(value, f"{prefix}{key}.")
        else:
            paths.add(f"{prefix}{key}")
    return paths


# --- (b) the shipped fit ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped() -> dict:
    return tomllib.loads(FITTED_FILE.read_text(encoding="utf-8"))


def test_shipped_fit_records_how_it_was_obtained(shipped) -> None:
    record = shipped["calibration"]
    assert record["seed"] == DEFAULT_SEED and record["replications"] == DEFAULT_REPLICATIONS
    assert record["converged"] is True
    assert 1 <= record["best_iteration"] <= 30
    assert set(record["residual_z"]) == set(TARGET_IDS)
    worst = max(record["residual_z"].items(), key=lambda item: abs(item[1]))
    assert abs(worst[1]) <= TOLERANCE_SE, worst
    first_line = FITTED_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == (
        f"# Fitted by `simulate calibrate scenarios/aall1331.toml --seed {DEFAULT_SEED} --reps {DEFAULT_REPLICATIONS}`."
    )


def test_shipped_fit_holds_every_free_parameter_inside_its_bounds(shipped, base_scenario) -> None:
    for p in FREE_PARAMETERS:
        value = nested(shipped, p.path)
        assert p.low <= value <= p.high, (p.path, value)
        assert value_at(base_scenario, p.path) == value, p.path  # the scenario runs with it
    assert parameter_paths(shipped) == set(PATHS)


def test_shipped_values_give_the_recorded_residuals(shipped, base_scenario, executor) -> None:
    """Simulated at the recorded seed and replications, the shipped scenario's paired targets
    sit where the fitted file says. One patient's outcome flipping moves a z by about
    1 / (n R SE_trial), about 0.004 here; 0.01 allows for the six-digit rounding of the
    written values and nothing more."""
    record = shipped["calibration"]
    patients = simulate_trial(base_scenario, record["seed"], record["replications"], executor)
    chosen = load_targets().set_index("id").loc[TARGET_IDS].reset_index()
    z = compare(patients, chosen).set_index("id")["z"]
    for target_id, recorded in record["residual_z"].items():
        assert abs(z[target_id]) <= TOLERANCE_SE, (target_id, z[target_id])
        assert z[target_id] == pytest.approx(recorded, abs=0.01), (target_id, z[target_id], recorded)


# --- (c) reproduction with common random numbers -----------------------------------------------

SMALL_FIT = {"seed": 31, "replications": 2, "max_iterations": 2}


def small_fit(scenario, executor: Executor) -> tuple[CalibrationResult, list[pd.DataFrame]]:
    seen: list[pd.DataFrame] = []
    result = calibrate(scenario, executor=executor, on_iteration=lambda i, r: seen.append(r.copy()), **SMALL_FIT)
    return result, seen


@pytest.fixture(scope="module")
def first_fit(base_scenario, executor):
    return small_fit(base_scenario, executor)


def test_calibration_is_deterministic(first_fit, base_scenario, executor) -> None:
    (result, seen), (again, seen_again) = first_fit, small_fit(base_scenario, executor)
    assert result.values == again.values
    assert result.iterations == again.iterations and result.converged == again.converged
    pd.testing.assert_frame_equal(result.residuals, again.residuals)
    for one, two in zip(seen, seen_again, strict=True):
        pd.testing.assert_frame_equal(one, two)
    # Not vacuous: two real iterations, and the second simulated different parameters.
    assert len(seen) == 2
    assert not seen[0]["z"].equals(seen[1]["z"])
    assert set(result.values) == set(PATHS)
    assert all(math.isfinite(z) for z in result.residuals["z"])


def test_calibration_does_not_start_from_the_shipped_values(first_fit, base_scenario, executor) -> None:
    """The fit starts from the middle of each parameter's bounds, so the values already in
    the scenario (here moved to the lower bounds) cannot change the result."""
    moved = with_values(realise(base_scenario), {p.path: p.low for p in FREE_PARAMETERS})
    assert value_at(moved, "hsct.trm_prob") != value_at(base_scenario, "hsct.trm_prob")
    result, _ = first_fit
    other, _ = small_fit(moved, executor)
    assert other.values == result.values
    pd.testing.assert_frame_equal(other.residuals, result.residuals)
