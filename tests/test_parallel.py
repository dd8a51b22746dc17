"""A run does not depend on the executor: one in-process worker or a real pool of two.

Twelve replications make two batches (10 + 2, two part files), so with two
workers the batches run in different processes (the manifest records each
task's process) and may finish in either order.
"""

from __future__ import annotations

import json
import pickle
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import sim.execution.runner as runner
from sim.execution.runner import Task, run_task
from sim.model.replication import replication_models
from sim.scenario.load import load_scenario
from tests.conftest import SCENARIOS_DIR, SIMULATE, small_cohort_body, write_scenario

REPS = 12
PATIENTS = 20
SEED = 2024
KEYS = ["strategy", "replication", "patient_id"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    directory = tmp_path_factory.mktemp("parallel")
    scenario = write_scenario(directory, small_cohort_body(PATIENTS))
    outputs = {}
    for workers in (1, 2):
        out = directory / f"workers-{workers}"
        result = subprocess.run(
            [str(SIMULATE), str(scenario), "--reps", str(REPS), "--seed", str(SEED), "--out", str(out),
             "--workers", str(workers), "--quiet"],
            capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stderr
        outputs[workers] = out
    return outputs


def _patients(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "patients").sort_values(KEYS, kind="stable").reset_index(drop=True)


def _events(out: Path) -> pd.DataFrame:
    # A stable sort by patient keeps each patient's events in log order.
    return pd.read_parquet(out / "events").sort_values(KEYS, kind="stable").reset_index(drop=True)


def test_the_pool_ran_the_tasks_in_two_other_processes(runs) -> None:
    one = json.loads((runs[1] / "manifest.json").read_text())
    two = json.loads((runs[2] / "manifest.json").read_text())
    assert one["worker_pids"] == [one["driver_pid"]]  # one worker: in-process
    assert len(two["worker_pids"]) == 2 and two["driver_pid"] not in two["worker_pids"]


def test_same_part_files(runs) -> None:
    for dataset in ("patients", "events"):
        names = [sorted(p.name for p in (runs[w] / dataset).iterdir()) for w in (1, 2)]
        assert names[0] == names[1] == ["part-r000000-000009.parquet", "part-r000010-000011.parquet"]


def test_identical_patients(runs) -> None:
    one, two = _patients(runs[1]), _patients(runs[2])
    assert len(one) == REPS * PATIENTS
    assert sorted(one["replication"].unique()) == list(range(REPS))
    pd.testing.assert_frame_equal(one, two)


def test_identical_events(runs) -> None:
    one, two = _events(runs[1]), _events(runs[2])
    assert len(one) > REPS * PATIENTS
    pd.testing.assert_frame_equal(one, two)


def test_workers_beyond_the_cores_are_capped_at_the_tasks_with_a_warning(tmp_path: Path) -> None:
    import os

    scenario = write_scenario(tmp_path, small_cohort_body(PATIENTS))
    out = tmp_path / "many"
    asked = 4 * (os.cpu_count() or 1) + 10
    result = subprocess.run(
        [str(SIMULATE), str(scenario), "--reps", str(REPS), "--seed", str(SEED), "--out", str(out),
         "--workers", str(asked), "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    cores = os.cpu_count() or 1
    assert result.stderr == (f"warning: --workers {asked} is more than the {cores} core{'s' if cores > 1 else ''} "
                             "of this machine; running 2 workers (at most one per task)\n")
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["workers"], manifest["workers_requested"], manifest["tasks"]) == (2, asked, 2)
    assert len(manifest["worker_pids"]) == 2
    assert "(2 workers, process)" in result.stdout
    assert result.stdout.splitlines()[-1] == str(out.resolve())


def test_a_task_whose_scenario_equals_the_last_tasks_reuses_its_models(tmp_path: Path, monkeypatch) -> None:
    """A worker unpickles each task's scenario as a new object; one equal to the last task's is
    replaced by that object, so the phase models cached for it are used again, not rebuilt. A
    scenario that differs is kept and gets its own models (the same content either way: the
    tests above)."""
    monkeypatch.setattr(runner, "_LAST_TASK", [])  # whatever tasks ran before in this process
    base = load_scenario(SCENARIOS_DIR / "aall1331.toml").scenario
    base = base.model_copy(update={"cohort": base.cohort.model_copy(update={"n_patients": 20})})
    first, second = (pickle.loads(pickle.dumps(base)) for _ in range(2))
    assert first == second and first is not second
    for name in ("first", "second", "other"):
        (tmp_path / name).mkdir()
    run_task(first, 1, Task(0, 1), tmp_path / "first")
    models = replication_models(first, 1, 0)[1]
    run_task(second, 1, Task(1, 2), tmp_path / "second")
    assert replication_models(first, 1, 0)[1] is models  # the equal copy ran on the first's models
    other = first.model_copy(update={"cohort": first.cohort.model_copy(update={"n_patients": 21})})
    run_task(other, 1, Task(2, 3), tmp_path / "other")
    assert replication_models(first, 1, 0)[1] is not models  # the different scenario replaced them
