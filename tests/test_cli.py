"""End-to-end runs of the ``simulate`` console script, in a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.analysis.validate import load_targets
from sim.scenario.load import load_scenario
from tests.conftest import AALL1331_TOML, SIMULATE, small_cohort_body, write_scenario

SMALL_PATIENTS = 25

PATIENT_COLUMNS = {
    "strategy", "replication", "patient_id", "relapse_group", "relapse_site", "months_to_relapse",
    "age_years", "sex", "block1_max_grade", "block1_death", "early_treatment_failure",
    "eob1_mrd_percent", "risk_group", "randomized",
}
EVENT_COLUMNS = ["strategy", "replication", "patient_id", "time_days", "event", "detail", "cycle", "grade",
                 "mrd_percent", "mrd_status", "dose_gy", "wait_days"]
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
    out = workdir / "seeded"  # given relative to the working directory; printed absolute
    result = simulate(small_toml, "--reps", 2, "--seed", 3, "--out", "seeded", "--workers", 1, "--quiet", cwd=workdir)
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


def test_parquet_storage_labels_metadata_and_typed_event_columns(seeded_run, small_toml: Path) -> None:
    """Labels are dictionary-encoded; every part names its seed, scenario and units; numbers never hide in text."""

    import pyarrow as pa
    import pyarrow.parquet as pq

    _, out = seeded_run
    sha256 = load_scenario(small_toml).sha256
    for dataset in ("patients", "events"):
        for part in (out / dataset).glob("*.parquet"):
            schema = pq.read_schema(part)
            for name in ("strategy", "event", "detail", "mrd_status") if dataset == "events" else (
                    "strategy", "relapse_group", "arm", "risk_group", "eob1_mrd_status", "death_cause"):
                assert pa.types.is_dictionary(schema.field(name).type), (dataset, name, schema.field(name).type)
            metadata = {k.decode(): v.decode() for k, v in schema.metadata.items()}
            assert metadata["sim.seed"] == "3" and metadata["sim.scenario_sha256"] == sha256
            units = json.loads(metadata["sim.units"])
            assert units["time_days" if dataset == "events" else "efs_days"] == "days since the patient's enrolment"
            assert units["mrd_percent" if dataset == "events" else "eob1_mrd_percent"].startswith("% of marrow")
    events = pd.read_parquet(out / "events")  # plain pandas: labels come back as categoricals
    assert events["event"].dtype == "category"
    details = events["detail"].dropna().astype(str)
    numeric = details[details.str.contains(r"\d\s*(?:%|Gy)|cycle \d|grade \d|^[\d.e+-]+$", regex=True)]
    assert numeric.empty, numeric.unique()
    assert events.loc[events["event"] == "block1_adverse_event", "grade"].between(3, 5).all()
    mrd = events[events["event"] == "eob1_mrd"]
    assert not mrd.empty and (mrd["mrd_status"].isna() | mrd["mrd_status"].isin(["negative", "positive"])).all()
    assert (mrd["mrd_percent"].notna() == (mrd["mrd_status"] == "positive")).all()


def test_manifest(seeded_run, small_toml: Path) -> None:
    _, out = seeded_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert MANIFEST_KEYS <= set(manifest)
    assert manifest["seed"] == 3
    assert manifest["replications"] == 2
    assert manifest["package_version"] == sim.__version__
    assert manifest["scenario_sha256"] == load_scenario(small_toml).sha256
    assert manifest["command_line"][1:] == [
        str(small_toml), "--reps", "2", "--seed", "3", "--out", "seeded", "--workers", "1", "--quiet",
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


def test_a_cohort_too_large_for_memory_fails_in_one_line_and_leaves_no_directory(tmp_path: Path) -> None:
    huge = write_scenario(tmp_path, small_cohort_body(10**15))  # beyond any address space
    out = tmp_path / "out"
    result = simulate(huge, "--reps", 1, "--seed", 1, "--out", out, "--workers", 1, "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: not enough memory for this run (") and result.stderr.count("\n") == 1
    assert "Suggestion: fewer patients, replications or samples" in result.stderr
    assert not out.exists()


def test_a_damaged_part_or_manifest_is_named_in_one_line(seeded_run, tmp_path: Path, small_toml: Path) -> None:
    """A part that is not Parquet stops a --resume with one line naming it and saying what to do (and the
    resume then completes once it is deleted); a manifest that is not JSON stops `simulate report` likewise."""
    import shutil

    _, run_dir = seeded_run
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    part = sorted((copy / "replication_summary").glob("*.parquet"))[0]
    part.write_text("junk")
    result = simulate(small_toml, "--resume", "--out", copy, "--workers", 1, "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {part}: cannot be read as Parquet (")
    assert result.stderr.rstrip().endswith("Suggestion: if a part is damaged, delete it and rerun with --resume: "
                                           "its task runs again")
    part.unlink()
    assert simulate(small_toml, "--resume", "--out", copy, "--workers", 1, "--quiet", cwd=tmp_path).returncode == 0
    pd.testing.assert_frame_equal(pd.read_parquet(run_dir / "summary"), pd.read_parquet(copy / "summary"))
    (copy / "manifest.json").write_text("not json")
    result = simulate("report", copy, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {copy}: manifest.json cannot be read (JSONDecodeError: ")


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


# --- unwritable outputs: one line naming the path and the reason, exit 2, nothing left ---------
#
# The tests run as root in CI, where chmod-made read-only directories are still writable; so
# they use paths that give a real OSError whoever runs them: a path under /proc (no directory
# can be made there), a path under a regular file, and an empty /sys directory that refuses new
# files even to root (when the machine has one). A chmod case runs only for a non-root user.

def _unwritable_out_cases(tmp: Path) -> dict[str, tuple[Path, str]]:
    a_file = tmp / "a_file"
    a_file.write_text("not a directory")
    return {
        "under-proc": (Path("/proc/relapse-sim-test/run"),
                       "cannot create the directory (No such file or directory)"),
        "under-a-file": (a_file / "run", "cannot create the directory (Not a directory)"),
    }


@pytest.mark.parametrize("case", ["under-proc", "under-a-file"])
def test_unwritable_out_gives_one_line(tmp_path: Path, case: str) -> None:
    small = write_scenario(tmp_path, small_cohort_body(5))
    out, reason = _unwritable_out_cases(tmp_path)[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    result = simulate(small, "--reps", 1, "--out", out, "--workers", 1, "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: --out {out}: {reason}"]
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def _read_only_empty_directory(tmp_path: Path) -> Path:
    """An existing empty directory where no file can be created, for whoever runs the test."""
    if os.geteuid() != 0:
        directory = tmp_path / "read-only"
        directory.mkdir()
        directory.chmod(0o555)
        return directory
    for candidate in (Path("/sys/kernel/software_nodes"), Path("/sys/kernel/security")):
        if candidate.is_dir() and not any(candidate.iterdir()):
            try:
                (candidate / "probe").touch()
            except OSError:
                return candidate
            (candidate / "probe").unlink()
    pytest.skip("running as root and no empty read-only directory on this machine")


def test_read_only_empty_out_gives_one_line(tmp_path: Path) -> None:
    small = write_scenario(tmp_path, small_cohort_body(5))
    out = _read_only_empty_directory(tmp_path)
    result = simulate(small, "--reps", 1, "--out", out, "--workers", 1, "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: --out {out}: cannot write in the directory (Permission denied)"]
    assert list(out.iterdir()) == []


def test_report_into_an_unwritable_place_gives_one_line(seeded_run, tmp_path: Path) -> None:
    _, run = seeded_run
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory")
    for out, reason in ((Path("/proc/relapse-sim-report.html"), "No such file or directory"),
                        (a_file / "report.html", "Not a directory")):
        result = simulate("report", run, "--out", out, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [f"error: --out {out}: cannot write ({reason})"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


@pytest.mark.parametrize("address, message", [
    ("tcp://127.0.0.1:9", "error: --scheduler tcp://127.0.0.1:9: no Dask scheduler answered"),
    ("notaurl", "error: --scheduler notaurl: not a scheduler address (missing port number"),
], ids=["unreachable", "not-an-address"])
def test_unreachable_scheduler_leaves_no_out_directory(tmp_path: Path, address: str, message: str) -> None:
    small = write_scenario(tmp_path, small_cohort_body(5))
    out = tmp_path / "new" / "run"
    result = simulate(small, "--reps", 1, "--out", out, "--executor", "dask", "--scheduler", address,
                      "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith(message)
    assert not (tmp_path / "new").exists()


def test_overwrite_removes_what_the_former_run_wrote(workdir: Path, small_toml: Path) -> None:
    out = workdir / "overwritten-with-report"
    assert simulate(small_toml, "--reps", 2, "--seed", 1, "--out", out, "--workers", 1, "--quiet", cwd=workdir).returncode == 0
    assert simulate("report", out, cwd=workdir).returncode == 0
    assert (out / "report.html").exists()
    (out / "notes.txt").write_text("the user's own file")
    result = simulate(small_toml, "--reps", 1, "--seed", 2, "--out", out, "--workers", 1, "--quiet", "--overwrite",
                      cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert not (out / "report.html").exists()  # a report of the former run would describe other results
    assert (out / "notes.txt").read_text() == "the user's own file"
    assert not (out / ".previous").exists()  # the former run, set aside while the new one ran


def _files(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}


def test_an_overwrite_that_fails_once_running_leaves_the_former_run_as_it_was(workdir: Path, small_toml: Path) -> None:
    """Bad input found only once the run has started (here a sampled parameter draw whose grade 4+
    rate exceeds its grade 3+ rate, which central values cannot show: at seed 4, replication 11,
    after the first task of 10 has written its parts) must not cost the run that --overwrite was to
    replace: it comes back, byte for byte, and nothing of the failed run stays."""
    out = workdir / "kept-after-failure"
    assert simulate(small_toml, "--reps", 2, "--seed", 1, "--out", out, "--workers", 1, "--quiet", cwd=workdir).returncode == 0
    (out / "notes.txt").write_text("the user's own file")
    before = _files(out)
    crossing = write_scenario(workdir, small_cohort_body(SMALL_PATIENTS, (
        '[run]\nparameter_mode = "sampled"\n[block1]\n'
        'grade3plus_given_survival = { dist = "uniform", low = 0.2, high = 0.9, assumption = "test" }\n'
        'grade4plus_given_survival = { dist = "uniform", low = 0.1, high = 0.4, assumption = "test" }\n')),
        name="crossing.toml")
    result = simulate(crossing, "--reps", 20, "--seed", 4, "--out", out, "--workers", 1, "--quiet", "--overwrite",
                      cwd=workdir)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "the parameter draw of replication 11: block1.grade4plus_given_survival" in result.stderr
    assert _files(out) == before


def test_replacing_puts_the_former_run_back_only_for_the_overwrite_that_set_it_aside(tmp_path: Path) -> None:
    """The former run comes back after an error, and after an interruption before the new run wrote
    a dataset; it goes after an interruption once one is written (those parts are the resumable
    ones), after success, and on --resume (a stale one that a killed --overwrite left), and a run
    that is not an --overwrite never touches it."""
    from sim.execution.output import PREVIOUS, prepare_run_dir, replacing

    def former(directory: Path) -> Path:
        (directory / "patients").mkdir(parents=True)
        (directory / "patients" / "part-0.parquet").write_text("former")
        (directory / "manifest.json").write_text("former")
        return directory

    def new_run(directory: Path, dataset: bool) -> None:
        (directory / "run.json").write_text("new")
        if dataset:
            (directory / "events").mkdir()

    for exc, dataset, kept in ((ValueError("bad"), True, True), (KeyboardInterrupt(), False, True),
                               (KeyboardInterrupt(), True, False), (None, True, False)):
        run = former(tmp_path / f"{type(exc).__name__}-{dataset}")
        prepare_run_dir(run, overwrite=True)
        assert sorted(p.name for p in run.iterdir()) == [PREVIOUS]
        try:
            with replacing(run, True):
                new_run(run, dataset)
                if exc is not None:
                    raise exc
        except (ValueError, KeyboardInterrupt):
            pass
        names = sorted(p.name for p in run.iterdir())
        if kept:
            assert names == ["manifest.json", "patients"], (exc, dataset)
            assert (run / "patients" / "part-0.parquet").read_text() == "former"
        else:
            assert PREVIOUS not in names and "manifest.json" not in names and "run.json" in names, (exc, dataset)
    stale = former(tmp_path / "stale")
    prepare_run_dir(stale, overwrite=True)  # then killed: .previous stays
    new_run(stale, True)
    with pytest.raises(ValueError), replacing(stale, False):  # a --resume that fails
        raise ValueError("bad")
    assert (stale / PREVIOUS).is_dir() and (stale / "run.json").read_text() == "new"
    prepare_run_dir(stale, overwrite=False, resume=True)
    assert not (stale / PREVIOUS).exists() and (stale / "run.json").read_text() == "new"


# --- the terminal ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def three_strategy_run(workdir: Path) -> Path:
    scenario = workdir / "three.toml"
    scenario.write_text(f'extends = "{(AALL1331_TOML.parent / "mitcl.toml").as_posix()}"\n[cohort]\nn_patients = 20\n')
    out = workdir / "three"
    result = simulate(scenario, "--reps", 2, "--seed", 4, "--out", out, "--workers", 1, "--quiet", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return scenario


def _run_with_columns(scenario: Path, out: Path, columns: int | None, *extra: object) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run([str(SIMULATE), str(scenario), "--reps", "2", "--seed", "4", "--out", str(out),
                           "--workers", "1", "--overwrite", *map(str, extra)],
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("columns", [80, 60, 120])
def test_comparison_table_fits_the_terminal(three_strategy_run: Path, workdir: Path, columns: int) -> None:
    result = _run_with_columns(three_strategy_run, workdir / f"cols{columns}", columns, "--quiet")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    table = lines[:-2]  # then the one-line run summary and the output path
    assert max(len(line.rstrip()) for line in table) <= columns
    # nothing dropped: every strategy, every difference and every outcome is shown
    for header in ("r3_blina", "mitcl", "r3_chemo", "− r3_blina", "4-year OS (%)", "Inpatient stay, mean (days)"):
        assert header in result.stdout, header


def test_quiet_hides_only_the_progress_and_piped_output_is_not_cut(three_strategy_run: Path, workdir: Path) -> None:
    result = _run_with_columns(three_strategy_run, workdir / "piped", None, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "Outcomes, and paired differences from r3_blina (mean [Monte Carlo 95% interval])" in result.stdout
    assert "pairing removed a median" in result.stdout and "% to " in result.stdout  # "range 9% to 100%"
    assert "2 replications x 20 patients x 3 strategies in" in result.stdout
    assert "(1 worker, process)" in result.stdout


def test_one_replication_says_why_there_is_no_interval(workdir: Path, small_toml: Path) -> None:
    result = simulate(small_toml, "--reps", 1, "--seed", 3, "--out", workdir / "one-rep", "--workers", 1, "--quiet",
                      cwd=workdir)
    assert result.returncode == 0, result.stderr
    words = " ".join(result.stdout.split())  # titles wrap at the table's width
    assert "aall1331: outcomes over 1 replication (one replication: values, no interval)" in words
    assert "no Monte Carlo SE or interval; they need --reps 2 or more" in words
    assert "nan" not in result.stdout and "differences" not in result.stdout.lower()
    assert "1 replication x 25 patients x 1 strategy in" in result.stdout


def test_usage_errors_name_the_command_the_readme_uses(small_toml: Path, workdir: Path) -> None:
    result = simulate(small_toml, "--reps", "x", cwd=workdir)
    assert result.returncode == 2
    assert "Try 'simulate --help' for help." in result.stderr and "simulate run" not in result.stderr
    help_text = simulate("--help", cwd=workdir).stdout
    for option in ("--executor", "--scheduler", "--resume", "--overwrite", "--quiet"):
        assert option in help_text


def test_ctrl_c_says_stopping_and_exits_within_two_seconds(workdir: Path) -> None:
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it, while workers compute."""
    out = workdir / "interrupted"
    process = subprocess.Popen(
        [str(SIMULATE), str(AALL1331_TOML), "--reps", "200", "--seed", "1", "--out", str(out), "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (out / "run.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # workers started and computing
    sent = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    elapsed = time.monotonic() - sent
    assert process.returncode == 130
    lines = stderr.splitlines()  # a worker caught starting may add its own traceback (see sim.cli.main)
    assert "stopping…" in lines
    assert lines[lines.index("stopping…") + 1] == \
        f"error: interrupted; finished parts are kept: rerun with --resume --out {out} to complete"
    assert elapsed < 2.5 + 1.0  # the grace period, and the time to start the interpreter's exit
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # the terminated workers and the resource tracker follow
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("a process of the interrupted run is still alive 3 s after the driver exited")
