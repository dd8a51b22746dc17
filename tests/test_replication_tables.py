"""What a replication builds when a caller reads only part of it: no events (``events=False``),
or only some patient columns (``patient_columns``). Every patient, value and draw is the same
as in the full tables; a sweep's task writes the outcome measures a plain task writes, and a
run with ``--no-events`` (through the ``simulate`` command) what a run with events writes, but
its events."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim.analysis.economics import PATIENT_COLUMNS as ECONOMICS_INPUTS
from sim.analysis.notebook import RunError, open_run
from sim.analysis.summary import PATIENT_COLUMNS as SUMMARY_INPUTS
from sim.execution import runner
from sim.execution.runner import MARKER, Task, run_task
from sim.model.records import (
    MRD_COLUMNS,
    PATIENT_KEY_COLUMNS,
    PATIENT_SCHEMA,
    DiscardedEvents,
    patients_table,
)
from sim.model.replication import simulate_replication
from sim.scenario.load import load_scenario
from sim.scenario.trial import BINARY_ENDPOINTS, STRATA, SURVIVAL_ENDPOINTS
from sim.trial import simulate as trial_simulation
from sim.trial.design import build_design
from sim.trial.simulate import PATIENT_COLUMNS as TRIAL_INPUTS
from tests.conftest import SCENARIOS_DIR, SIMULATE

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
    with pytest.raises(ValueError, match="no patient column 'os_dayz'"):  # before anything is simulated
        simulate_replication(small("mitcl.toml"), 1, 0, patient_columns=["os_dayz"])
    with pytest.raises(TypeError, match="not one string"):
        patients_table("s", 0, [], 0.01, "os_days")


def test_a_discarded_event_log_keeps_nothing() -> None:
    record = simulate_replication  # any object: the log must not read it
    log = DiscardedEvents()
    log.add(record, "enrolment", "x", cycle=1, grade=3, mrd_percent=0.5, dose_gy=18.0, wait_days=2.0)
    log.add_at(record, 3.0, "block1_adverse_event", "sepsis", grade=4)
    assert log.rows == [] and log.event == []


@pytest.mark.parametrize("endpoint", SURVIVAL_ENDPOINTS + BINARY_ENDPOINTS)
def test_a_trial_reads_the_same_outcomes_from_its_columns_as_from_every_column(endpoint: str, monkeypatch) -> None:
    """Every endpoint and every stratum: the trial's PATIENT_COLUMNS hold all it reads."""
    scenario = load_scenario(SCENARIOS_DIR / "trial_reduced_vs_r3.toml").scenario
    test = "logrank" if endpoint in SURVIVAL_ENDPOINTS else "two_proportion"
    settings = scenario.trial.model_copy(update={"endpoint": endpoint, "test": test, "stratify_by": list(STRATA),
                                                 "n_patients": 40})
    design = build_design(scenario.model_copy(update={"trial": settings}))
    built = trial_simulation.potential_outcomes(design, 2, 0)
    monkeypatch.setattr(trial_simulation, "PATIENT_COLUMNS", None)  # every column
    full = trial_simulation.potential_outcomes(design, 2, 0)
    assert len(built.entry_day) > 0 and built.strata == full.strata
    np.testing.assert_array_equal(built.entry_day, full.entry_day)
    for arm in full.time:
        np.testing.assert_array_equal(built.time[arm], full.time[arm])
        np.testing.assert_array_equal(built.event[arm], full.event[arm])


@pytest.mark.parametrize("name", ["mitcl_sensitivity.toml", "economics_example.toml"])
def test_a_sweep_task_measures_what_a_plain_task_measures(tmp_path: Path, name: str, monkeypatch) -> None:
    """A sweep's task (``keep_patients=False``) logs no events and builds only the patient columns the
    outcome measures read; its measures are those of the same task with every table built."""
    scenario = small(name, 40)
    asked = []
    simulate = runner.simulate_replication
    monkeypatch.setattr(runner, "simulate_replication", lambda *args, **kwargs: asked.append(kwargs) or simulate(
        *args, **kwargs))
    for kept in (True, False):
        (tmp_path / str(kept)).mkdir()
        result = run_task(scenario, 11, Task(0, 3), tmp_path / str(kept), keep_patients=kept)
        assert (result.n_event_rows > 0) == kept
    plain, sweep = (pq.read_table(tmp_path / str(kept) / MARKER).to_pandas() for kept in (True, False))
    assert len(plain) > 0 and ("cost" in set(plain["measure"])) == (name == "economics_example.toml")
    pd.testing.assert_frame_equal(sweep, plain)
    assert not (tmp_path / "False" / "patients").exists() and not (tmp_path / "False" / "events").exists()
    inputs = list(SUMMARY_INPUTS) + (list(ECONOMICS_INPUTS) if name == "economics_example.toml" else [])
    assert asked == [{"events": True, "patient_columns": None}] * 3 + [{"events": False, "patient_columns": inputs}] * 3


def simulate(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(SIMULATE), *map(str, args)], capture_output=True, text=True, timeout=600)


def test_a_run_without_events_writes_the_same_patients_and_outcomes(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(f'extends = "{SCENARIOS_DIR / "mitcl.toml"}"\n[cohort]\nn_patients = 30\n', encoding="utf-8")
    runs = {}
    for name, flags in (("with", []), ("without", ["--no-events"])):
        runs[name] = tmp_path / name
        result = simulate(scenario, "--reps", 12, "--seed", 4, "--workers", 2, "--quiet", "--out", runs[name], *flags)
        assert result.returncode == 0, result.stderr
    assert (runs["with"] / "events").is_dir() and not (runs["without"] / "events").exists()
    for dataset in ("patients", "replication_summary", "summary"):
        left, right = (pd.read_parquet(runs[name] / dataset) for name in ("with", "without"))
        keys = [c for c in ("strategy", "replication", "patient_id", "subgroup", "level", "measure", "comparison")
                if c in left.columns]
        pd.testing.assert_frame_equal(left.sort_values(keys).reset_index(drop=True),
                                      right.sort_values(keys).reset_index(drop=True), obj=dataset)
    manifests = {name: json.loads((run / "manifest.json").read_text()) for name, run in runs.items()}
    assert (manifests["with"]["events"], manifests["without"]["events"]) == (True, False)
    assert manifests["with"]["event_rows"] > 0 and manifests["without"]["event_rows"] == 0
    assert len(open_run(runs["with"]).events) == manifests["with"]["event_rows"]
    with pytest.raises(RunError, match="has no 'events' dataset \\(it was run with --no-events\\)"):
        open_run(runs["without"]).events

    # --resume keeps the run's own choice; asking for the other is refused, naming it
    (runs["without"] / "manifest.json").unlink()
    last = sorted((runs["without"] / MARKER).glob("*.parquet"))[-1]
    last.unlink()
    resumed = simulate(scenario, "--resume", "--out", runs["without"], "--workers", 1, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert last.exists() and not (runs["without"] / "events").exists()
    refused = simulate(scenario, "--resume", "--no-events", "--out", runs["with"], "--workers", 1, "--quiet")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert (f"--resume {runs['with']}: run.json records events = True (the run logs events), not False; "
            "Suggestion: resume without --no-events") in refused.stderr

    # a run whose run.json predates the choice logged its events, and resumes so
    identity = runs["with"] / "run.json"
    identity.write_text(json.dumps({k: v for k, v in json.loads(identity.read_text()).items() if k != "events"}))
    (runs["with"] / "manifest.json").unlink()
    sorted((runs["with"] / MARKER).glob("*.parquet"))[-1].unlink()
    resumed = simulate(scenario, "--resume", "--out", runs["with"], "--workers", 1, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((runs["with"] / "manifest.json").read_text())["event_rows"] == manifests["with"]["event_rows"]

    # a run that logged events but lost its events/ is not said to have been run without them
    shutil.rmtree(runs["with"] / "events")
    with pytest.raises(RunError, match="has no 'events' dataset$"):
        open_run(runs["with"]).events


def test_a_sweep_records_events_whatever_the_flag_and_says_why_it_has_no_events(tmp_path: Path) -> None:
    """A sweep logs no events either way: --no-events changes nothing, so resuming with or without it
    is the same run, and a sweep's missing datasets are explained as a sweep's."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(f'extends = "{SCENARIOS_DIR / "mitcl_sensitivity.toml"}"\n[cohort]\nn_patients = 20\n'
                        "[sweep]\nreplications = 2\n", encoding="utf-8")
    run = tmp_path / "sweep"
    first = simulate(scenario, "--seed", 4, "--workers", 1, "--quiet", "--out", run)
    assert first.returncode == 0, first.stderr
    assert json.loads((run / "run.json").read_text())["events"] is True
    assert json.loads((run / "manifest.json").read_text())["events"] is False  # none written
    (run / "manifest.json").unlink()
    sorted((run / MARKER).glob("*.parquet"))[-1].unlink()
    resumed = simulate(scenario, "--resume", "--no-events", "--workers", 1, "--quiet", "--out", run)
    assert resumed.returncode == 0, resumed.stderr
    for name in ("events", "patients"):
        with pytest.raises(RunError, match=f"has no '{name}' dataset \\(a sweep keeps only the outcome measures\\)"):
            open_run(run).dataset(name)
