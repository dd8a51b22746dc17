"""``simulate trial``: bad input refused with one clear line and nothing written;
end-to-end runs (printed table, outputs, resume, sample-size search)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from sim.scenario.load import ScenarioError, load_scenario
from sim.trial.design import build_design
from tests.conftest import SCENARIOS_DIR, SIMULATE

BASE = f'extends = "{(SCENARIOS_DIR / "reduced_intensity.toml").as_posix()}"\nname = "trial_test"\n'


def trial_toml(directory: Path, name: str = "trial.toml", **changes: str) -> Path:
    """A small EFS trial; ``changes`` replace or add lines of the [trial] tables ('section.key': value)."""
    tables = {
        "trial": {
            "arms": '["r3_blina", "reduced_blina"]', "control": '"r3_blina"', "trials": "10",
            "assurance_trials": "10", "n_patients": "24", "accrual_per_year": "24", "endpoint": '"efs"',
            "test": '"logrank"', "alpha": "0.025",
        },
        "trial.eligibility": {},
        "trial.analysis": {"looks_days": "[400, 730]"},
    }
    for key, value in changes.items():
        table, _, field = key.rpartition(".")
        tables[table or "trial"][field] = value
    body = BASE + "".join(
        f"[{table}]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items()) for table, fields in tables.items()
    )
    path = directory / name
    path.write_text(body, encoding="utf-8")
    return path


BAD_INPUTS = [
    ({"arms": '["r3_blina", "mitcl"]'},
     "trial.arms: must be strategies of this scenario (r3_blina, reduced_blina): 'mitcl' is not "
     "(got ['r3_blina', 'mitcl'])"),
    ({"trial.eligibility.min_age_years": "100"},
     "trial.eligibility: no patient of the case-mix is eligible (got {'min_age_years': 100.0}); "
     "Suggestion: widen the filters"),
    ({"alpha": "0.6"}, "trial.alpha: must be in (0, 0.5] (got 0.6)"),
    ({"alpha": "0.0"}, "trial.alpha: must be in (0, 0.5] (got 0.0)"),
    ({"trial.analysis.looks_days": "[730, 400]"},
     "trial.analysis.looks_days: must be positive and strictly increasing (got [730.0, 400.0])"),
    ({"endpoint": '"mrd_negative"'},
     "trial.test: must be one of two_proportion, fisher for the binary endpoint 'mrd_negative' (got 'logrank')"),
    ({"endpoint": '"os"', "test": '"fisher"'},
     "trial.test: must be one of logrank, rmst for the survival endpoint 'os' (got 'fisher')"),
    ({"control": '"mitcl"'}, "trial.control: must be one of the arms ['r3_blina', 'reduced_blina'] (got 'mitcl')"),
    ({"block_size": "3"}, "trial.block_size: must be a multiple of the allocation total 2 (got 3)"),
    ({"trial.analysis.looks_events": "[10, 20]"},
     "trial.analysis.looks_days: must be given, or else looks_events, not both and not neither "
     "(got looks_days=[400.0, 730.0], looks_events=[10, 20])"),
    ({"trial.eligibility.risk_groups": '["LR"]'},
     "trial.eligibility.risk_groups: must be ['HR']: only HR (early marrow or early isolated extramedullary "
     "relapse) is known at relapse; IR and LR depend on end-of-reinduction MRD, after randomisation. "
     "Suggestion: select by relapse_groups (got ['LR'])"),
    ({"trial.analysis.looks_days": "[100, 200]"},
     "trial.analysis.looks_days: the last look must come after accrual ends (day 365 for 24 patients at 24 a year) "
     "(got 200); Suggestion: a later last look, faster accrual, or looks_from = 'last_enrolment'"),
    ({"trial.analysis.looks_days": "[400, nan]"}, "trial.analysis.looks_days: input should be a finite number (got nan)"),
    ({"accrual_per_year": "inf"}, "trial.accrual_per_year: input should be a finite number (got inf)"),
    ({"trial.analysis.futility_z": "[nan]"},
     "trial.analysis.futility_z: must be finite numbers, or -inf for no futility stop at a look (got [nan])"),
    ({"trial.eligibility.colour": '"red"'},
     "trial.eligibility.colour: unknown key; allowed: relapse_groups, relapse_sites, risk_groups, min_age_years, "
     "max_age_years"),
]


@pytest.mark.parametrize("changes, message", BAD_INPUTS)
def test_bad_trial_input_is_refused_naming_file_key_and_value(tmp_path: Path, changes, message) -> None:
    path = trial_toml(tmp_path, **changes)
    with pytest.raises(ScenarioError) as caught:
        build_design(load_scenario(path).scenario, source=str(path))
    assert str(caught.value) == f"{path}: {message}"


def simulate(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SIMULATE), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("changes", [BAD_INPUTS[0][0], BAD_INPUTS[2][0]])
def test_the_command_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, changes) -> None:
    path = trial_toml(tmp_path, **changes)
    result = simulate("trial", path, "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}: trial.") and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "outputs").exists()


@pytest.fixture(scope="module")
def trial_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    directory = tmp_path_factory.mktemp("trial")
    path = trial_toml(directory, **{"trial.analysis.spending": '"pocock"'})
    result = simulate("trial", path, "--seed", 5, "--workers", 1, "--out", directory / "run", "--quiet", cwd=directory)
    return result, directory / "run"


def test_trial_run_prints_the_operating_characteristics(trial_run) -> None:
    result, run_dir = trial_run
    assert result.returncode == 0, result.stderr
    for words in ("power / type I error / assurance", "null (control in every arm)", "assurance (sampled parameters)",
                  "expected patients", "expected events", "expected duration (years)", "coverage of the 95% interval"):
        assert words in result.stdout
    assert result.stdout.strip().endswith(str(run_dir))


def test_trial_run_writes_looks_summary_and_manifest(trial_run) -> None:
    _, run_dir = trial_run
    looks = pd.read_parquet(run_dir / "trial_looks")
    assert set(looks["kind"]) == {"alternative", "null", "assurance"}
    assert looks.groupby("kind")["trial"].nunique().to_dict() == {"alternative": 10, "null": 10, "assurance": 10}
    final = looks[looks["final"]]
    assert final.groupby(["kind", "trial"]).size().eq(1).all()  # every trial ends exactly once
    assert (looks["n_enrolled"] <= 24).all() and (looks["look_day"].isin([400.0, 730.0])).all()
    assert (looks.loc[looks["kind"] == "null", "true_effect"] == 1.0).all()
    summary = pd.read_parquet(run_dir / "trial_summary")
    assert {"reject_for_experimental", "expected_patients", "coverage_95"} <= set(summary["statistic"])
    assert (run_dir / "manifest.json").exists()


def test_resume_reruns_only_missing_trials_with_the_same_result(trial_run, tmp_path: Path) -> None:
    _, run_dir = trial_run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    parts = sorted((copy / "trial_looks").glob("*.parquet"))
    parts[0].unlink()
    (copy / "manifest.json").unlink()
    path = next(run_dir.parent.glob("trial.toml"))
    result = simulate("trial", path, "--resume", "--out", copy, "--workers", 1, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    before = pd.read_parquet(run_dir / "trial_summary").sort_values(["kind", "statistic"]).reset_index(drop=True)
    after = pd.read_parquet(copy / "trial_summary").sort_values(["kind", "statistic"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.slow
def test_target_power_search_and_unreachable_target(tmp_path: Path) -> None:
    changes = {"arms": '["reduced_blina", "r3_blina"]', "control": '"reduced_blina"', "endpoint": '"mrd_negative"',
               "test": '"two_proportion"', "accrual_per_year": "60", "trials": "20",
               "trial.analysis.looks_days": "[90]", "trial.analysis.looks_from": '"last_enrolment"'}
    path = trial_toml(tmp_path, **changes)
    result = simulate("trial", path, "--seed", 3, "--workers", 2, "--target-power", 0.1, "--max-n", 240,
                      "--assurance-trials", 0, "--out", tmp_path / "found", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    curve = pd.read_parquet(tmp_path / "found" / "power_curve")
    chosen = int(result.stdout.split("Sample size for power 0.1: N = ")[1].split()[0])
    assert curve.loc[curve["n_patients"] == chosen, "power"].iloc[0] >= 0.1
    below = curve[curve["n_patients"] == chosen - 1]
    assert below.empty or below["power"].iloc[0] < 0.1
    unreachable = simulate("trial", path, "--seed", 3, "--workers", 2, "--target-power", 0.99, "--max-n", 60,
                           "--out", tmp_path / "none", cwd=tmp_path)
    assert unreachable.returncode == 2
    assert "--target-power 0.99: not reached within the maximum N 60 (best power found" in unreachable.stderr
    assert not (tmp_path / "none").exists()


@pytest.mark.slow
def test_trial_notebook_executes_top_to_bottom(tmp_path: Path, monkeypatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    root = SCENARIOS_DIR.parent
    monkeypatch.setenv("SIM_NOTEBOOK_REPS", "4")
    monkeypatch.setenv("SIM_NOTEBOOK_OUT", str(tmp_path))
    book = nbformat.read(root / "notebooks" / "trial_design.ipynb", as_version=4)
    NotebookClient(book, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(root / "notebooks")}}).execute()
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_report_of_a_trial_run(trial_run) -> None:
    _, run_dir = trial_run
    result = simulate("report", run_dir, "--out", run_dir / "trial.html", cwd=run_dir)
    assert result.returncode == 0, result.stderr
    page = (run_dir / "trial.html").read_text()
    assert "Operating characteristics" in page and page.count("data:image/png") >= 3


def test_same_trials_whatever_the_number_of_workers(trial_run, tmp_path: Path) -> None:
    _, run_dir = trial_run
    path = next(run_dir.parent.glob("trial.toml"))
    result = simulate("trial", path, "--seed", 5, "--workers", 2, "--out", tmp_path / "two", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    keys = ["kind", "trial", "comparison", "look"]
    one = pd.read_parquet(run_dir / "trial_looks").sort_values(keys).reset_index(drop=True)
    two = pd.read_parquet(tmp_path / "two" / "trial_looks").sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(one, two)


def test_ctrl_c_keeps_the_finished_trials_and_says_how_to_resume(tmp_path: Path) -> None:
    """SIGINT, as a terminal's Ctrl-C sends it, while the trials run in the driver's own process."""
    import os
    import signal
    import time

    path = trial_toml(tmp_path, trials="2000", assurance_trials="0")
    out = tmp_path / "interrupted"
    process = subprocess.Popen([str(SIMULATE), "trial", str(path), "--seed", "1", "--out", str(out), "--workers", "1",
                                "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while not any((out / "trial_looks").glob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.splitlines()[-1] == \
        f"error: interrupted; finished parts are kept: rerun with --resume --out {out} to complete"
    assert any((out / "trial_looks").glob("*.parquet"))


def test_a_plain_resume_into_a_trial_directory_is_refused_and_a_broken_record_named(trial_run, tmp_path: Path) -> None:
    """``simulate SCENARIO --resume`` must not write a plain run among a trial run's datasets, and a
    run.json that is not a run's record is named, not a traceback; the directory is left as it was."""
    import json
    import shutil

    _, run_dir = trial_run
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    path = next(run_dir.parent.glob("trial.toml"))
    recorded = json.loads((copy / "run.json").read_text())
    before = sorted(p.name for p in copy.iterdir())
    result = simulate(path, "--resume", "--out", copy, "--seed", recorded["seed"], "--reps", recorded["replications"],
                      "--workers", 1, "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: --resume {copy}: the directory holds a trial run of `simulate trial`, "
                                    "not a run of `simulate SCENARIO`")
    assert sorted(p.name for p in copy.iterdir()) == before
    (copy / "run.json").write_text("[1, 2]")
    result = simulate("trial", path, "--resume", "--out", copy, "--workers", 1, "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == (f"error: --resume {copy}: run.json cannot be read (not a JSON object); Suggestion: "
                             "start a new --out directory, or --overwrite this one\n")


def test_minus_infinity_switches_futility_off_at_a_look(tmp_path: Path) -> None:
    """The one infinite number a scenario may hold: -inf as a look's futility bound (never crossed)."""
    path = trial_toml(tmp_path, **{"trial.analysis.futility_z": "[-inf]"})
    assert load_scenario(path).scenario.trial.analysis.futility_z == [float("-inf")]
