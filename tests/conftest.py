"""Shared fixtures: where the scenarios are, small extending scenarios, and
replications run once per session (a small cohort, and the full AALL1331 cohort).

Under pytest-xdist (``-n 2 --dist loadgroup``, the default in pyproject.toml)
each test module runs whole on one worker, so a module-scoped fixture (a CLI
run, a fit) is computed once; the modules that read the session's
``full_run`` share one worker, so those forty full-cohort replications are
run once too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from sim.model.replication import run_replication
from sim.scenario.load import load_scenario
from sim.scenario.problems import ScenarioError
from sim.scenario.schema import Scenario

SCENARIOS_DIR = Path(__file__).parents[1] / "scenarios"
# The console script installed with the package, next to this interpreter.
SIMULATE = Path(sys.executable).parent / "simulate"
AALL1331_TOML = SCENARIOS_DIR / "aall1331.toml"

SMALL_RUN_SEED = 20240611
SMALL_RUN_PATIENTS = 80
SMALL_RUN_REPLICATIONS = 4

FULL_RUN_SEED = 7
FULL_RUN_REPLICATIONS = 40


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One xdist group per test module; the modules that use ``full_run`` form one group."""
    uses_full_run = {item.module.__name__ for item in items if "full_run" in getattr(item, "fixturenames", ())}
    for item in items:
        module = item.module.__name__
        item.add_marker(pytest.mark.xdist_group("full_run" if module in uses_full_run else module))


def write_scenario(directory: Path, body: str = "", name: str = "small.toml") -> Path:
    """Write ``name`` into ``directory``: extends the AALL1331 scenario, then ``body``."""
    path = directory / name
    path.write_text(f'extends = "{AALL1331_TOML.resolve().as_posix()}"\n{body}', encoding="utf-8")
    return path


def load_error(directory: Path, body: str) -> tuple[Path, ScenarioError]:
    """Write ``body`` as bad.toml (extending the AALL1331 scenario) and return the path and the refusal."""
    path = write_scenario(directory, body, name="bad.toml")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return path, caught.value


def small_cohort_body(n_patients: int, extra: str = "") -> str:
    return f"[cohort]\nn_patients = {n_patients}\n{extra}"


def run_frames(scenario: Scenario, seed: int, replications: range) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patients and events of the given replications as DataFrames.

    Events keep the log order of each replication; ``log_index`` numbers the
    rows of one (strategy, replication) in that order.
    """
    results = [run_replication(scenario, seed, r) for r in replications]
    patients = pa.concat_tables([p for p, _ in results]).to_pandas()
    events = pa.concat_tables([e for _, e in results]).to_pandas()
    events["log_index"] = events.groupby(["strategy", "replication"]).cumcount()
    return patients, events


@pytest.fixture(scope="session")
def base_scenario() -> Scenario:
    """The AALL1331 scenario as validated (distributions not yet realised)."""
    return load_scenario(AALL1331_TOML).scenario


@pytest.fixture(scope="session")
def small_scenario_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("small-scenario")
    return write_scenario(directory, small_cohort_body(SMALL_RUN_PATIENTS))


@pytest.fixture(scope="session")
def small_scenario(small_scenario_path: Path) -> Scenario:
    return load_scenario(small_scenario_path).scenario


@pytest.fixture(scope="session")
def small_run(small_scenario: Scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A few replications of a small cohort: (patients, events)."""
    return run_frames(small_scenario, SMALL_RUN_SEED, range(SMALL_RUN_REPLICATIONS))


@pytest.fixture(scope="session")
def full_run(base_scenario: Scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forty replications of the full 661-patient AALL1331 cohort at a fixed seed."""
    return run_frames(base_scenario, FULL_RUN_SEED, range(FULL_RUN_REPLICATIONS))
