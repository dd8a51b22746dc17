"""What a replication builds when a caller reads only part of it: no events (``events=False``),
or only some patient columns (``patient_columns``). Every patient, value and draw is the same
as in the full tables; a sweep's task writes the outcome measures a plain task writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim.analysis.economics import PATIENT_COLUMNS as ECONOMICS_INPUTS
from sim.analysis.summary import PATIENT_COLUMNS as SUMMARY_INPUTS
from sim.execution.runner import MARKER, Task, run_task
from sim.model.records import MRD_COLUMNS, PATIENT_KEY_COLUMNS, PATIENT_SCHEMA, patients_table
from sim.model.replication import simulate_replication
from sim.scenario.load import load_scenario
from sim.trial.simulate import PATIENT_COLUMNS as TRIAL_INPUTS
from tests.conftest import SCENARIOS_DIR

KEYS = [name for name, _ in PATIENT_KEY_COLUMNS]
STATUS = {level: level.replace("_percent", "_status") for level in MRD_COLUMNS}


def small(name: str, n_patients: int = 60):
    scenario = load_scenario(SCENARIOS_DIR / name).scenario
    return scenario.model_copy(update={"cohort": scenario.cohort.model_copy(update={"n_patients": n_patients})})


@pytest.mark.parametrize("name", ["aall1331.toml", "mitcl.toml", "capacity.toml", "economics_example.toml"])
def test_without_events_every_patient_is_the_same(name: str) -> None:
    scenario = small(name)
    for replication in (0, 1):
        full = simulate_replication(scenario, 3, replication)
        unlogged = simulate_replication(scenario, 3, replication, events=False)
        assert full.events.num_rows > 0 and unlogged.events is None
        assert unlogged.patients.equals(full.patients)
        assert (unlogged.occupancy is None) == (full.occupancy is None)
        if full.occupancy is not None:  # capacity: patients still meet at the same resources
            assert unlogged.occupancy.equals(full.occupancy)


COLUMN_CHOICES = [
    [],                                            # the key columns alone
    ["eob1_mrd_status"],                           # a status brings its value
    ["cycle2_mrd_percent", "os_days"],             # a value brings its status
    list(SUMMARY_INPUTS),
    list(SUMMARY_INPUTS) + list(ECONOMICS_INPUTS),
    list(TRIAL_INPUTS),
    ["os_event", "age_years", "patient_id", "strategy"],  # any order; key columns may be named
    list(PATIENT_SCHEMA.names),
]


@pytest.mark.parametrize("columns", COLUMN_CHOICES)
def test_patient_columns_are_those_of_the_full_table(columns: list[str]) -> None:
    scenario = small("mitcl.toml")
    full = simulate_replication(scenario, 5, 0).patients
    built = simulate_replication(scenario, 5, 0, events=False, patient_columns=columns).patients
    partners = {STATUS[level] for level in MRD_COLUMNS if level in columns} | {
        level for level in MRD_COLUMNS if STATUS[level] in columns}
    expected = [name for name in PATIENT_SCHEMA.names if name in KEYS or name in columns or name in partners]
    assert built.column_names == expected
    assert built.equals(full.select(expected))


def test_an_unknown_patient_column_names_every_column() -> None:
    with pytest.raises(ValueError, match=r"no patient column 'os_dayz' \(columns: strategy, replication, patient_id"):
        patients_table("s", 0, [], 0.01, ("os_days", "os_dayz"))


@pytest.mark.parametrize("name", ["mitcl_sensitivity.toml", "economics_example.toml"])
def test_a_sweep_task_measures_what_a_plain_task_measures(tmp_path: Path, name: str) -> None:
    """A sweep's task (``keep_patients=False``) logs no events and builds only the patient columns the
    outcome measures read; its measures are those of the same task with every table built."""
    scenario = small(name, 40)
    for kept in (True, False):
        (tmp_path / str(kept)).mkdir()
        result = run_task(scenario, 11, Task(0, 3), tmp_path / str(kept), keep_patients=kept)
        assert (result.n_event_rows > 0) == kept
    plain, sweep = (pq.read_table(tmp_path / str(kept) / MARKER).to_pandas() for kept in (True, False))
    assert len(plain) > 0 and ("cost" in set(plain["measure"])) == (name == "economics_example.toml")
    pd.testing.assert_frame_equal(sweep, plain)
    assert not (tmp_path / "False" / "patients").exists() and not (tmp_path / "False" / "events").exists()
