"""End-to-end runs of the ``simulate`` console script, in a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.scenario import load_scenario
from sim.validate import load_targets

from .conftest import AALL1331_TOML, SIMULATE, small_cohort_body, write_scenario

SMALL_PATIENTS = 25

PATIENT_COLUMNS = {
    "strategy", "replication", "patient_id", "relapse_group", "relapse_site", "months_to_relapse",
    "age_years", "sex", "block1_max_grade", "block1_death", "early_treatment_failure",
    "eob1_mrd_percent", "risk_group", "randomized",
}
EVENT_COLUMNS = ["strategy", "replication", "patient_id", "time_days", "event", "detail", "value"]
MANIFEST_KEYS = {"seed", "scenario_sha256", "package_version", "replications", "command_line"}


def simulate(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SIMULATE), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def small_toml(workdir: Path) -> Path:
    return write_scenario(workdir, small_cohort_body(SMALL_PATIENTS))


@pytest.fixture(scope="module")
def seeded_run(workdir: Path, small_toml: Path) -> tuple[subprocess.CompletedProcess, Path]:
    out = workdir / "seeded"
    result = simulate(small_toml, "--reps", 2, "--seed", 3, "--out", out, "--workers", 1, "--quiet", cwd=workdir)
    return result, out


def test_console_script_is_installed() -> None:
    assert SIMULATE.exists(), f"no 'simulate' script next to {sys.executable}"


def test_run_succeeds_and_writes_three_outputs(seeded_run) -> None:
    result, out = seeded_run
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    names = {p.name for p in out.iterdir()}
    assert {"events", "manifest.json", "patients"} <= names
    assert ".staging" not in names  # nothing half-written left behind
    assert list((out / "patients").glob("*.parquet"))
    assert list((out / "events").glob("*.parquet"))
    assert result.stdout.strip().splitlines()[-1] == str(out)


def test_patients_dataset(seeded_run) -> None:
    _, out = seeded_run
    patients = pd.read_parquet(out / "patients")
    assert PATIENT_COLUMNS <= set(patients.columns)
    assert len(patients) == 2 * SMALL_PATIENTS
    assert sorted(patients["replication"].unique()) == [0, 1]
    assert set(patients["strategy"]) == {"aall1331"}
    for _, one in patients.groupby("replication"):
        assert sorted(one["patient_id"]) == list(range(SMALL_PATIENTS))


def test_events_dataset(seeded_run) -> None:
    _, out = seeded_run
    events = pd.read_parquet(out / "events")
    assert list(events.columns) == EVENT_COLUMNS
    patients = pd.read_parquet(out / "patients")
    keys = ["strategy", "replication", "patient_id"]
    assert set(map(tuple, events[keys].drop_duplicates().to_numpy())) == set(map(tuple, patients[keys].to_numpy()))


def test_manifest(seeded_run, small_toml: Path) -> None:
    _, out = seeded_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert MANIFEST_KEYS <= set(manifest)
    assert manifest["seed"] == 3
    assert manifest["replications"] == 2
    assert manifest["package_version"] == sim.__version__
    assert manifest["scenario_sha256"] == load_scenario(small_toml).sha256
    assert manifest["command_line"][1:] == [
        str(small_toml), "--reps", "2", "--seed", "3", "--out", str(out), "--workers", "1", "--quiet",
    ]
    assert manifest["patient_rows"] == 2 * SMALL_PATIENTS


def test_without_seed_a_seed_is_generated_recorded_and_reproduces(workdir: Path, small_toml: Path) -> None:
    first = workdir / "unseeded"
    result = simulate(small_toml, "--reps", 1, "--out", first, "--workers", 1, "--quiet", cwd=workdir)
    assert result.returncode == 0, result.stderr
    seed = json.loads((first / "manifest.json").read_text())["seed"]
    assert isinstance(seed, int) and 0 <= seed < 2**63
    assert f"seed {seed}" in result.stdout

    again = workdir / "reseeded"
    rerun = simulate(small_toml, "--reps", 1, "--seed", seed, "--out", again, "--workers", 1, "--quiet", cwd=workdir)
    assert rerun.returncode == 0, rerun.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(first / "patients"), pd.read_parquet(again / "patients"))
    pd.testing.assert_frame_equal(pd.read_parquet(first / "events"), pd.read_parquet(again / "events"))


def test_overwrite_replaces_a_previous_run(workdir: Path, small_toml: Path) -> None:
    out = workdir / "overwritten"
    assert simulate(small_toml, "--reps", 2, "--seed", 1, "--out", out, "--workers", 1, "--quiet", cwd=workdir).returncode == 0
    result = simulate(small_toml, "--reps", 1, "--seed", 2, "--out", out, "--workers", 1, "--quiet", "--overwrite", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2
    assert sorted(pd.read_parquet(out / "patients")["replication"].unique()) == [0]


# --- bad input: one clear line, non-zero exit, nothing written --------------------

def _bad_inputs(tmp: Path, small: Path) -> dict[str, tuple[list, str]]:
    """name -> (arguments, the one error line expected on stderr)."""
    unknown = write_scenario(tmp, "cohrt = 1\n", name="unknown.toml")
    missing = tmp / "missing.toml"
    return {
        "missing-file": ([missing], f"error: {missing}: file not found"),
        "unknown-key": ([unknown], f"error: {unknown}: cohrt: unknown key; did you mean 'cohort'?"),
        "reps-0": ([small, "--reps", 0], "Error: Invalid value for '--reps': 0 is not in the range x>=1."),
        "workers-0": ([small, "--workers", 0], "Error: Invalid value for '--workers': 0 is not in the range x>=1."),
    }


@pytest.mark.parametrize("case", ["missing-file", "unknown-key", "reps-0", "workers-0"])
@pytest.mark.parametrize("with_out", [True, False], ids=["with-out", "default-out"])
def test_bad_input_fails_cleanly(tmp_path: Path, case: str, with_out: bool) -> None:
    small = write_scenario(tmp_path, small_cohort_body(5))
    args, expected = _bad_inputs(tmp_path, small)[case]
    out = tmp_path / "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    result = simulate(*args, *(["--out", out] if with_out else []), "--quiet", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.lower().startswith("error")]
    assert error_lines == [expected], result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no out/, no outputs/


def test_non_empty_out_without_overwrite_is_refused(tmp_path: Path) -> None:
    small = write_scenario(tmp_path, small_cohort_body(5))
    out = tmp_path / "previous"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = simulate(small, "--reps", 1, "--out", out, "--quiet", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"error: --out {out}: directory is not empty; Suggestion: choose a new directory, "
        "pass --resume to finish the run it holds, or --overwrite to replace it"
    ]
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me"


def test_triangular_accrual_window_runs(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, small_cohort_body(
        30, 'accrual_days = { dist = "triangular", low = 1500, mode = 2098, high = 2400, assumption = "test" }\n'))
    result = simulate(scenario, "--reps", 1, "--seed", 2, "--out", tmp_path / "out", "--workers", 1, "--quiet",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    enrolment = pd.read_parquet(tmp_path / "out" / "patients")["enrolment_day"]
    assert 0 < enrolment.max() < 2098  # a plain run accrues over the central (mode) window


def test_accrual_window_centred_on_zero_is_one_clear_line(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, small_cohort_body(
        30, 'accrual_days = { dist = "triangular", low = 0, mode = 0, high = 100, assumption = "test" }\n'))
    result = simulate(scenario, "--reps", 1, "--out", tmp_path / "out", "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"error: {scenario}: cohort.accrual_days: must be > 0 when accrual = 'staggered' "
        "(got a triangular distribution centred on 0)\n"
    )
    assert not (tmp_path / "out").exists()


# --- validate -----------------------------------------------------------------------

def test_validate_small_scenario_prints_the_table(workdir: Path, small_toml: Path) -> None:
    result = simulate("validate", small_toml, "--reps", 2, "--seed", 5, "--workers", 1, "--quiet", cwd=workdir)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    assert "deaths during Block 1" in result.stdout
    assert result.stdout.strip().splitlines()[-1].endswith("targets within 2 trial SE")


@pytest.fixture(scope="module")
def calibration(workdir: Path) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """``simulate validate scenarios/aall1331.toml --reps 20 --seed 11 --quiet --json``."""
    scenario = AALL1331_TOML.relative_to(AALL1331_TOML.parents[1])
    result = simulate("validate", scenario, "--reps", 20, "--seed", 11, "--quiet", "--json", cwd=AALL1331_TOML.parents[1])
    assert "Traceback" not in result.stderr, result.stderr
    return result, json.loads(result.stdout)


# The in-sample targets of Block 1 and risk assignment (sections 3.1-3.3), set
# from evidence rather than fitted.
BLOCK1_SECTIONS = {"3.1", "3.2", "3.3"}


def test_validate_full_scenario_passes_every_target(calibration) -> None:
    result, rows = calibration
    failed = [row["id"] for row in rows if not row["passed"]]
    assert failed == []
    assert result.returncode == 0


def test_validate_covers_every_target_and_exits_by_the_result(calibration) -> None:
    result, rows = calibration
    targets = load_targets()
    assert [row["id"] for row in rows] == list(targets.loc[targets["strategy"] == "aall1331", "id"])
    failed = [row["id"] for row in rows if not row["passed"]]
    assert result.returncode == (1 if failed else 0)


def test_validate_block1_and_assignment_targets_pass(calibration) -> None:
    _, rows = calibration
    block1_rows = [row for row in rows if f"{row['section']}" in BLOCK1_SECTIONS]
    assert len(block1_rows) >= 80
    failed = {row["id"] for row in block1_rows if not row["passed"]}
    assert failed == set()


def test_version() -> None:
    result = subprocess.run([str(SIMULATE), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert sim.__version__ in result.stdout
