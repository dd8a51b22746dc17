"""Sweeps, executors and resume, end to end through the `simulate` command.

Real processes throughout: a process pool, a Dask local cluster, and a run
killed with SIGKILL after its first task and resumed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SIMULATE = Path(sys.executable).parent / "simulate"
DATASETS = ("patients", "events", "replication_summary", "summary")


def simulate(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(SIMULATE), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def write(tmp_path: Path, name: str, body: str, base: str = "aall1331.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'extends = "{SCENARIOS / base}"\n{body}', encoding="utf-8")
    return path


def content(run_dir: Path, datasets=DATASETS) -> dict[str, pd.DataFrame]:
    """Every dataset, in a canonical row order (file layout and order do not matter)."""
    tables = {}
    for name in datasets:
        table = pd.read_parquet(run_dir / name)
        keys = [c for c in ("point", "strategy", "replication", "patient_id", "subgroup", "level", "measure",
                            "comparison", "outcome", "parameter", "statistic") if c in table.columns]
        if name == "events":  # keep each patient's log order, which is part of the content
            table = table.assign(order=table.groupby(["strategy", "replication", "patient_id"], observed=True).cumcount())
            keys.append("order")
        tables[name] = table.sort_values(keys, kind="stable").reset_index(drop=True)
    return tables


def assert_same_content(a: Path, b: Path, datasets=DATASETS) -> None:
    left, right = content(a, datasets), content(b, datasets)
    for name in datasets:
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)


SWEEP = """
strategies = ["r3_blina", "mitcl"]
[cohort]
n_patients = 60
[sweep]
design = "one_way"
replications = 4
[sweep.one_way]
"reinduction.mitcl.toxic_death_prob.*" = [0.0, 0.08]
"hsct.trm_prob" = [0.05, 0.2]
"""


@pytest.fixture(scope="module")
def sweep_runs(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("sweep")
    scenario = write(tmp, "sweep.toml", SWEEP, base="mitcl.toml")
    process = simulate(scenario, "--seed", 8, "--out", tmp / "process", "--workers", 2)
    assert process.returncode == 0, process.stderr
    dask = simulate(scenario, "--seed", 8, "--out", tmp / "dask", "--workers", 2, "--executor", "dask")
    assert dask.returncode == 0, dask.stderr
    return tmp / "process", tmp / "dask", process


def test_sweep_writes_points_summary_and_tornado(sweep_runs) -> None:
    run_dir, _, result = sweep_runs
    points = pd.read_parquet(run_dir / "points")
    assert len(points) == 5  # centre + low/high of two parameters
    assert set(points.columns) == {"point", "reinduction.mitcl.toxic_death_prob.*", "hsct.trm_prob"}
    sensitivity = pd.read_parquet(run_dir / "sensitivity")
    swings = sensitivity[sensitivity["statistic"] == "swing"]
    assert set(swings["parameter"]) == {"reinduction.mitcl.toxic_death_prob.*", "hsct.trm_prob"}
    assert set(swings["outcome"]) == {"os_4y", "efs_4y", "reinduction_death"}
    # MITCL's own induction death can only move reinduction deaths through that parameter.
    death = swings[swings["outcome"] == "reinduction_death"].set_index("parameter")["value"]
    assert death["reinduction.mitcl.toxic_death_prob.*"] > 0.03
    assert death["hsct.trm_prob"] == 0.0
    assert sensitivity.loc[sensitivity["statistic"] == "monte_carlo_share", "value"].notna().all()
    assert "Monte Carlo share of variance" in result.stdout
    summary = pd.read_parquet(run_dir / "summary")
    assert sorted(summary["point"].unique()) == [0, 1, 2, 3, 4]


def test_a_sweep_is_summarised_point_by_point_as_one_accumulator_would(sweep_runs, tmp_path) -> None:
    """The summary written a point at a time (a row group each, the driver's memory flat in points)
    is the one an accumulator over every replication of every point gives; a part of a point already
    summarised is refused rather than summarised twice."""
    import pyarrow.parquet as pq

    from sim.analysis.summary import SummaryAccumulator
    from sim.execution.run import summary_blocks

    run_dir = sweep_runs[0]
    whole = SummaryAccumulator(["r3_blina", "mitcl"], "r3_blina", by=["point"])
    whole.add(pd.read_parquet(run_dir / "replication_summary"))
    expected = whole.table()
    expected = expected[[c for c in expected.columns if c != "point"] + ["point"]]
    pd.testing.assert_frame_equal(pd.read_parquet(run_dir / "summary"), expected)
    assert pq.ParquetFile(next((run_dir / "summary").glob("*.parquet"))).num_row_groups == 5

    parts = sorted((run_dir / "replication_summary").glob("*.parquet"))
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for k, part in enumerate([parts[0], parts[1], parts[0]]):  # point 0, point 1, point 0 again
        (shuffled / f"part-{k}.parquet").write_bytes(part.read_bytes())
    with pytest.raises(RuntimeError, match="out of point order"):
        list(summary_blocks(shuffled, ["r3_blina", "mitcl"], "r3_blina", by_point=True))


def _part(directory: Path, point: int, values: list[float], level: str | None = "all") -> None:
    """A ``replication_summary`` part of one point, named as the runner names it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.DataFrame({"point": point, "strategy": ["ref", "x"] * 2, "replication": [0, 0, 1, 1],
                          "subgroup": "all", "level": level, "measure": "m", "value": values})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                   directory / f"part-p{point:06d}-r000000-000001.parquet")


def test_points_past_six_digits_and_a_point_without_a_complete_row_are_summarised(tmp_path) -> None:
    """Part names pad the point to six digits, so point 1,000,000 sorts after 999,999 only read as a
    number; a point whose rows all miss a key has no block, and the blocks after it are written."""
    from sim.execution.run import summary_blocks

    _part(tmp_path, 3, [1.0, 2.0, 3.0, 5.0], level=None)  # no complete row: no block
    for point in (999_999, 1_000_000, 1_000_001, 100_000):
        _part(tmp_path, point, [1.0, 2.0, 3.0, 5.0 + point])
    blocks = list(summary_blocks(tmp_path, ["ref", "x"], "ref", by_point=True))
    assert [block["point"].unique().tolist() for block in blocks] == [[100_000], [999_999], [1_000_000], [1_000_001]]
    difference = blocks[-1].query("comparison == 'difference'")["mean"].item()
    assert difference == pytest.approx(((2.0 - 1.0) + (5.0 + 1_000_001 - 3.0)) / 2)


def test_the_glob_key_sets_every_match(sweep_runs) -> None:
    run_dir, _, _ = sweep_runs
    per_rep = pd.read_parquet(run_dir / "replication_summary")
    deaths = per_rep[(per_rep["measure"] == "reinduction_death") & (per_rep["subgroup"] == "all")
                     & (per_rep["strategy"] == "mitcl")]
    assert deaths.loc[deaths["point"] == 1, "value"].max() == 0.0  # all five groups at 0: nobody dies of toxicity
    # ...except from progression, which the sweep leaves alone; point 2 (0.08 everywhere) has more deaths.
    assert deaths.loc[deaths["point"] == 2, "value"].mean() > deaths.loc[deaths["point"] == 0, "value"].mean()


def test_dask_local_cluster_gives_identical_content(sweep_runs) -> None:
    process, dask, _ = sweep_runs
    assert_same_content(process, dask, ("replication_summary", "summary", "points", "sensitivity"))


# Runs `simulate` in one process; every task after the first waits forever, so the
# run is certainly unfinished when the first task's marker part lands and is killed.
STOP_AFTER_FIRST_TASK = """
import sys, threading
import sim.execution.runner as runner
from sim.cli.main import main

run_task = runner.run_task

def first_task_only(scenario, seed, task, *args, **kwargs):
    if task.first > 0:
        threading.Event().wait()  # until killed
    return run_task(scenario, seed, task, *args, **kwargs)

runner.run_task = first_task_only
sys.argv = ["simulate", *sys.argv[1:]]
main()
"""


def test_killed_run_resumes_to_the_same_content(tmp_path: Path) -> None:
    scenario = write(tmp_path, "kill.toml", "[cohort]\nn_patients = 60\n")
    reference = tmp_path / "uninterrupted"
    result = simulate(scenario, "--reps", 30, "--seed", 21, "--out", reference, "--workers", 1, "--quiet")
    assert result.returncode == 0, result.stderr

    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-c", STOP_AFTER_FIRST_TASK, str(scenario), "--reps", "30",
                                "--seed", "21", "--out", str(killed), "--workers", "1", "--quiet"],
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first_part = killed / "replication_summary" / "part-r000000-000009.parquet"
    while not first_part.exists():  # the marker is moved into place whole, and last
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert [p.name for p in (killed / "replication_summary").iterdir()] == [first_part.name]
    assert not (killed / "manifest.json").exists()

    again = simulate(scenario, "--out", killed, "--resume", "--workers", 2, "--quiet")
    assert again.returncode == 0, again.stderr
    assert "resumed, 2 of 3 tasks run now" in again.stdout
    assert_same_content(reference, killed)
    assert not list(killed.rglob("*.tmp"))


def session_processes(session: int) -> dict[int, str]:
    """Live processes (not zombies) of a session, by /proc: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        state, _parent, _group, sid = stat.rsplit(")", 1)[1].split()[:4]
        if int(sid) == session and state != "Z":
            found[int(entry.name)] = command
    return found


def wait_until(condition, seconds: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not within {seconds} s: {what}")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="walks /proc")
def test_sigkill_on_the_driver_ends_its_workers_and_resume_completes(tmp_path: Path) -> None:
    """kill -9 on the driver: no process of the run outlives it by 5 s, no part appears after, and
    ``--resume`` (refused while the run is alive) completes it to the content of an uninterrupted run.

    The killed run's workers (forked, so they share the driver's stand-in for ``run_task``) finish
    the first task and block in every later one: the run is certainly alive, with its two workers,
    whatever the machine's load, and a small cohort keeps the reference and the resume cheap.
    """
    scenario, reps, seed = write(tmp_path, "kill.toml", "[cohort]\nn_patients = 40\n", base="mitcl.toml"), "30", "5"
    reference = tmp_path / "uninterrupted"
    result = simulate(scenario, "--reps", reps, "--seed", seed, "--out", reference, "--workers", 2, "--quiet")
    assert result.returncode == 0, result.stderr

    killed = tmp_path / "killed"
    driver = subprocess.Popen([sys.executable, "-c", STOP_AFTER_FIRST_TASK, str(scenario), "--reps", reps,
                               "--seed", seed, "--out", str(killed), "--workers", "2", "--quiet"],
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def first_part():
            assert driver.poll() is None, driver.stderr.read().decode()
            return list((killed / "patients").glob("*.parquet")) if (killed / "patients").is_dir() else []

        wait_until(first_part, 120, "the first part file")
        workers = session_processes(driver.pid)
        assert driver.pid in workers and len(workers) >= 3, workers  # the driver and its two workers
        assert (killed / "run.lock").read_text().split()[0] == str(driver.pid)

        for flag in ("--resume", "--overwrite"):
            refused = simulate(scenario, "--reps", reps, "--seed", seed, "--out", killed, flag, "--workers", 1)
            assert refused.returncode == 2
            assert refused.stderr == (
                f"error: {flag} {killed}: process {driver.pid} is still writing this run (run.lock); "
                f"Suggestion: wait for it to finish or stop it (kill {driver.pid}), then try again\n")
        assert driver.poll() is None  # the refused commands left the live run alone
    finally:
        os.kill(driver.pid, signal.SIGKILL)  # the driver alone: its workers must end by themselves
        driver.wait()
    wait_until(lambda: not session_processes(driver.pid), 5, f"the run's processes end: {session_processes(driver.pid)}")
    parts = sorted(p.name for p in killed.rglob("*.parquet"))
    time.sleep(1.0)
    assert sorted(p.name for p in killed.rglob("*.parquet")) == parts  # nothing writes any more
    assert not (killed / "manifest.json").exists()

    again = simulate(scenario, "--out", killed, "--resume", "--workers", 2, "--quiet")  # the stale lock is ignored
    assert again.returncode == 0, again.stderr
    assert "; resumed, " in again.stdout
    assert_same_content(reference, killed)
    assert not (killed / "run.lock").exists()


@pytest.mark.parametrize(
    "body, base, message",
    [
        ('[sweep]\ndesign = "grid"\ngrid = { "hsct.trm_prb" = [0.1, 0.2] }\n', "mitcl.toml",
         "sweep.grid: must name parameters of this scenario: 'hsct.trm_prb' is not one; did you mean 'hsct.trm_prob'? "
         "(got 'hsct.trm_prb')"),
        ('[sweep]\ndesign = "one_way"\none_way = { "hsct.trm_prob" = [0.3, 0.1] }\n', "mitcl.toml",
         "sweep.one_way: must give [low, high] with low <= high for 'hsct.trm_prob' (got [0.3, 0.1])"),
        ('[sweep]\ndesign = "latin_hypercube"\nsamples = 1\nparameters = ["mitcl.second_cycle_cr_prob"]\n', "mitcl.toml",
         "sweep.samples: must be at least 2 for design = 'latin_hypercube' (got 1)"),
        ('[sweep]\ndesign = "sobol"\nsamples = 6\nparameters = ["mitcl.second_cycle_cr_prob"]\n', "mitcl.toml",
         "sweep.samples: must be a power of 2 for design = 'sobol' (Saltelli) (got 6)"),
    ],
    ids=["unknown-parameter", "low-above-high", "too-few-samples", "sobol-not-power-of-2"],
)
def test_bad_sweeps_fail_at_load(tmp_path: Path, body: str, base: str, message: str) -> None:
    scenario = write(tmp_path, "bad.toml", body, base=base)
    result = simulate(scenario, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr == f"error: {scenario}: {message}\n"
    assert not (tmp_path / "out").exists()


# Sweep values are validated as the scenarios they make: one line per bad value,
# naming the sweep key, the point and the value, before anything runs.
BAD_SWEEP_VALUES = [
    pytest.param(
        '[sweep]\ndesign = "grid"\n[sweep.grid]\n"hsct.trm_prob" = [-0.5, 1.7]\n', "mitcl.toml",
        ['sweep.grid."hsct.trm_prob": point 0 sets hsct.trm_prob = -0.5: must be a probability in [0, 1] (got -0.5)',
         'sweep.grid."hsct.trm_prob": point 1 sets hsct.trm_prob = 1.7: must be a probability in [0, 1] (got 1.7)'],
        id="probability-outside-0-1",
    ),
    pytest.param(
        '[sweep]\ndesign = "one_way"\n[sweep.one_way]\n"block1.toxic_death_prob.bm_lt18" = [0, 3.0]\n', "aall1331.toml",
        ['sweep.one_way."block1.toxic_death_prob.bm_lt18": point 2 sets block1.toxic_death_prob.bm_lt18 = 3: '
         "must be a probability in [0, 1] (got 3.0)"],
        id="one-way-high-above-1",
    ),
    pytest.param(
        '[sweep]\ndesign = "grid"\n[sweep.grid]\n"cohort.n_patients" = [30.5]\n', "aall1331.toml",
        ['sweep.grid."cohort.n_patients": point 0 sets cohort.n_patients = 30.5: input should be a valid integer (got 30.5)'],
        id="fractional-patient-count",
    ),
    pytest.param(
        '[sweep]\ndesign = "one_way"\n[sweep.one_way]\n"reinduction.mitcl.toxic_death_prob.*" = [0.0, 1.5]\n',
        "mitcl.toml",
        ['sweep.one_way."reinduction.mitcl.toxic_death_prob.*": point 2 sets reinduction.mitcl.toxic_death_prob.bm_lt18 = 1.5: '
         "must be a probability in [0, 1] (got 1.5)"],
        id="glob-key-names-the-parameter",
    ),
    pytest.param(
        '[sweep]\ndesign = "grid"\n[sweep.grid]\n"block1.grade3plus_given_survival" = [0.1, 0.8]\n', "aall1331.toml",
        ['sweep.grid."block1.grade3plus_given_survival": point 0 sets block1.grade3plus_given_survival = 0.1: '
         "block1.grade4plus_given_survival: must not exceed 'grade3plus_given_survival' (got 0.249608 > 0.1)"],
        id="rule-across-keys",
    ),
    pytest.param(
        '[sweep]\ndesign = "grid"\n[sweep.grid]\n"block1.grade3plus_given_survival" = [0.3, 0.8]\n'
        '"block1.grade4plus_given_survival" = [0.2, 0.5]\n', "aall1331.toml",
        ["sweep.grid: point 1 sets block1.grade3plus_given_survival = 0.3, block1.grade4plus_given_survival = 0.5: "
         "block1.grade4plus_given_survival: must not exceed 'grade3plus_given_survival' (got 0.5 > 0.3)"],
        id="grid-point-breaks-a-rule-only-in-combination",
    ),
]


@pytest.mark.parametrize("body, base, lines", BAD_SWEEP_VALUES)
def test_bad_sweep_values_fail_at_load(tmp_path: Path, body: str, base: str, lines: list[str]) -> None:
    scenario = write(tmp_path, "bad.toml", body, base=base)
    result = simulate(scenario, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr == "".join(f"error: {scenario}: {line}\n" for line in lines)
    assert not (tmp_path / "out").exists()


def test_a_sampled_point_that_breaks_a_rule_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    # Central grade 3+ (0.35) is above grade 4+ (0.25), so the file loads; the
    # lowest Latin hypercube stratum, [0.2, 0.2375), draws below it.
    scenario = write(tmp_path, "lhs.toml", (
        '[block1]\ngrade3plus_given_survival = { dist = "uniform", low = 0.2, high = 0.5, assumption = "test" }\n'
        '[sweep]\ndesign = "latin_hypercube"\nsamples = 8\nparameters = ["block1.grade3plus_given_survival"]\n'
    ))
    result = simulate(scenario, "--seed", 3, "--reps", 2, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert re.fullmatch(
        r"error: sweep point \d \(block1\.grade3plus_given_survival = 0\.2\d*\): block1\.grade4plus_given_survival: "
        r"must not exceed 'grade3plus_given_survival' \(got 0\.249608 > 0\.2\d*\)\n", result.stderr), result.stderr
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


def test_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    scenario = write(tmp_path, "s.toml", "[cohort]\nn_patients = 20\n")
    result = simulate(scenario, "--reps", 2, "--out", tmp_path / "out", "--executor", "dask",
                      "--scheduler", "tcp://127.0.0.1:9", timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: --scheduler tcp://127.0.0.1:9: no Dask scheduler answered within 5 s")


def test_resume_refuses_another_run_and_keeps_it(tmp_path: Path) -> None:
    scenario = write(tmp_path, "s.toml", "[cohort]\nn_patients = 20\n")
    run_dir = tmp_path / "run"
    assert simulate(scenario, "--reps", 2, "--seed", 1, "--out", run_dir, "--workers", 1, "--quiet").returncode == 0
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}

    other_seed = simulate(scenario, "--reps", 2, "--seed", 2, "--out", run_dir, "--resume", "--workers", 1)
    assert other_seed.returncode == 2
    assert "different seed (1, not 2)" in other_seed.stderr and "Traceback" not in other_seed.stderr

    other = write(tmp_path, "other.toml", "[cohort]\nn_patients = 21\n")
    other_scenario = simulate(other, "--reps", 2, "--out", run_dir, "--resume", "--workers", 1)
    assert other_scenario.returncode == 2
    assert "different scenario_sha256" in other_scenario.stderr

    again = simulate(scenario, "--reps", 2, "--seed", 1, "--out", run_dir, "--workers", 1)
    assert again.returncode == 2 and "--resume" in again.stderr and "--overwrite" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()} == before


# Sampled designs (psa, and Sobol or Morris without a parameter list) take the scenario's
# distribution-valued parameters as their columns in schema order: reordering the schema's fields
# would silently give every parameter other values for the same seed. A change that does so on
# purpose updates these fingerprints and says so.
DISTRIBUTION_ORDER = {
    "aall1331.toml": (67, "d004126d22dea99f"),
    "economics_example.toml": (113, "58011cd9fd87a9ca"),
    "mitcl.toml": (102, "aaecc7eb8106515e"),
    "reduced_intensity.toml": (108, "73ac1a5d63c2bf55"),
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTION_ORDER))
def test_sampled_designs_keep_their_column_order(name: str) -> None:
    import hashlib

    from sim.scenario.load import load_scenario
    from sim.scenario.schema import distribution_paths

    paths = distribution_paths(load_scenario(f"scenarios/{name}").scenario)
    fingerprint = hashlib.sha256("\n".join(paths).encode()).hexdigest()[:16]
    assert (len(paths), fingerprint) == DISTRIBUTION_ORDER[name]


def test_a_table_written_in_blocks_is_their_concatenation_and_nothing_without_one(tmp_path) -> None:
    """Blocks land as row groups of one file under the first block's schema (a later block's null
    column cast to it) with the metadata added; with no block, an error and no file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sim.execution.output import write_part_in_blocks

    blocks = [pa.table({"point": [0, 0], "level": ["a", "b"]}), pa.table({"point": [1], "level": pa.nulls(1)})]
    write_part_in_blocks(tmp_path, "summary", "part-0", iter(blocks), {"sim.seed": "3"})
    written = pq.ParquetFile(tmp_path / "summary" / "part-0.parquet")
    assert written.num_row_groups == 2 and written.schema_arrow.metadata[b"sim.seed"] == b"3"
    assert written.read().to_pydict() == {"point": [0, 0, 1], "level": ["a", "b", None]}
    with pytest.raises(ValueError, match="no block"):
        write_part_in_blocks(tmp_path, "points", "part-0", iter([]))
    assert not (tmp_path / "points").exists()


def test_a_write_that_fails_leaves_no_file(tmp_path) -> None:
    """A block that cannot be made (here: the summary raising) leaves neither the part nor a staged file."""
    import pyarrow as pa

    from sim.execution.output import STAGING, write_part_in_blocks

    def blocks():
        yield pa.table({"point": [0]})
        raise RuntimeError("parts out of point order")

    with pytest.raises(RuntimeError, match="out of point order"):
        write_part_in_blocks(tmp_path, "summary", "part-0", blocks())
    assert not (tmp_path / "summary").exists() and not any((tmp_path / STAGING).iterdir())
