"""Strategies compared with common random numbers (scenarios/mitcl.toml, reduced_intensity.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.analysis.summary import per_replication, summarise
from sim.model.replication import run_replication
from sim.scenario.load import ScenarioError, load_scenario
from sim.scenario.schema import with_values

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SIMULATE = Path(sys.executable).parent / "simulate"
COVARIATES = ["relapse_group", "relapse_site", "months_to_relapse", "age_years", "sex", "ethnicity",
              "obese", "cns_status", "testicular_disease", "cytogenetics", "enrolment_day"]
SMALL = "[cohort]\nn_patients = 120\n[run]\nreplications = 4\n"


def small(tmp_path: Path, base: str, body: str = SMALL) -> Path:
    path = tmp_path / f"small_{base}"
    path.write_text(f'extends = "{SCENARIOS / base}"\n{body}', encoding="utf-8")
    return path


def simulate(scenario, seed: int, replications: range) -> tuple[pd.DataFrame, pd.DataFrame]:
    tables = [run_replication(scenario, seed, r) for r in replications]
    patients = pd.concat([p.to_pandas() for p, _ in tables], ignore_index=True)
    events = pd.concat([e.to_pandas() for _, e in tables], ignore_index=True)
    return patients, events


@pytest.fixture(scope="module")
def mitcl_run(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    path = small(tmp_path_factory.mktemp("mitcl"), "mitcl.toml")
    return simulate(load_scenario(path).scenario, 17, range(4))


def test_covariates_identical_across_strategies(mitcl_run) -> None:
    patients, _ = mitcl_run
    by_strategy = {name: g.set_index(["replication", "patient_id"])[COVARIATES].sort_index()
                   for name, g in patients.groupby("strategy")}
    assert set(by_strategy) == {"r3_blina", "mitcl", "r3_chemo"}
    reference = by_strategy["r3_blina"]
    for name, table in by_strategy.items():
        pd.testing.assert_frame_equal(table, reference, obj=name)


def _trajectories(events: pd.DataFrame, strategy: str) -> dict:
    rows = events[events["strategy"] == strategy]
    rows = rows[rows["event"] != "enrolment"]  # its detail names the strategy
    return {key: list(zip(g["time_days"], g["event"], g["detail"])) for key, g in rows.groupby(["replication", "patient_id"])}


def test_shared_decisions_give_identical_trajectories_before_the_rules_differ(mitcl_run) -> None:
    """r3_blina and r3_chemo share Block 1 and risk assignment: patients who never reach
    an arm (Block 1 death, failure, never assigned) live the same life under both."""
    patients, events = mitcl_run
    blina = patients[patients["strategy"] == "r3_blina"].set_index(["replication", "patient_id"])
    untouched = blina.index[blina["block1_death"] | blina["early_treatment_failure"] | blina["risk_group"].isna()]
    assert len(untouched) > 10
    a, b = _trajectories(events, "r3_blina"), _trajectories(events, "r3_chemo")
    for key in untouched:
        assert a[key] == b[key], key
    # ...and patients who reach an arm do live different lives under the two rules.
    reached = blina.index.difference(untouched)
    assert sum(a[key] != b[key] for key in reached) > len(reached) / 2


def test_one_parameter_changes_only_the_patients_it_can_touch(tmp_path: Path) -> None:
    """MITCL's second-cycle CR probability touches only patients not in CR after cycle 1."""
    scenario = load_scenario(small(tmp_path, "mitcl.toml")).scenario
    low = with_values(scenario, {"mitcl.second_cycle_cr_prob": 0.05})
    high = with_values(scenario, {"mitcl.second_cycle_cr_prob": 0.95})
    p_low, e_low = simulate(low, 5, range(2))
    p_high, e_high = simulate(high, 5, range(2))
    mitcl = p_low[p_low["strategy"] == "mitcl"].set_index(["replication", "patient_id"])
    second_cycle = mitcl["reinduction_cycles"] == 2
    assert second_cycle.sum() > 3
    t_low, t_high = _trajectories(e_low, "mitcl"), _trajectories(e_high, "mitcl")
    for key in mitcl.index[~second_cycle]:
        assert t_low[key] == t_high[key], key
    assert any(t_low[key] != t_high[key] for key in mitcl.index[second_cycle])
    # Other strategies do not use the parameter at all.
    assert _trajectories(e_low, "r3_blina") == _trajectories(e_high, "r3_blina")


def test_paired_intervals_are_narrower_than_unpaired(mitcl_run) -> None:
    patients, _ = mitcl_run
    summary = summarise(per_replication(patients), ["r3_blina", "mitcl", "r3_chemo"], "r3_blina")
    differences = summary[(summary["subgroup"] == "all") & (summary["comparison"] == "difference")]
    for measure in ("os_4y", "efs_4y", "relapse", "rmst_os_4y_days"):
        rows = differences[differences["measure"] == measure]
        assert len(rows) == 2
        assert (rows["mc_se"] < rows["unpaired_se"]).all(), rows
        assert (rows["variance_reduction"] > 0).all()


def test_reduced_blina_treats_partial_responders_with_blinatumomab(tmp_path: Path) -> None:
    scenario = load_scenario(small(tmp_path, "reduced_intensity.toml")).scenario
    patients, events = simulate(scenario, 3, range(3))
    reduced = patients[patients["strategy"] == "reduced_blina"]
    partial = events[(events["strategy"] == "reduced_blina") & (events["event"] == "partial_response")]
    assert len(partial) > 0
    treated = reduced.set_index(["replication", "patient_id"]).loc[
        list(zip(partial["replication"], partial["patient_id"]))]
    assert treated["early_treatment_failure"].all()          # not in CR: an EFS event all the same
    assert (treated["arm"] == "B_blinatumomab").all()
    assert (treated["efs_event_type"] == "treatment_failure").all()
    assert (reduced["reinduction"] == "reduced_intensity").all()
    assert (patients.loc[patients["strategy"] == "r3_blina", "reinduction"] == "r3_block1").all()


@pytest.mark.parametrize(
    "body, message",
    [
        ('strategies = ["mitcl"]\n',
         "reinduction.mitcl: must be given: strategy 'mitcl' uses it (got none)"),
        ('strategies = ["reduced_blina"]\n',
         "reinduction.reduced_intensity: must be given: strategy 'reduced_blina' uses it (got none)"),
        ('strategies = ["r3_blina", "r3_chemo"]\nreference = "mitcl"\n',
         "reference: must be one of the strategies ['r3_blina', 'r3_chemo'] (got 'mitcl')"),
        ('strategies = ["r3_blina", "r3_blina"]\n',
         "strategies: strategy names must be unique (got ['r3_blina'] more than once)"),
        ('strategies = ["r3_blina", "magic"]\n',
         "strategies: unknown strategy 'magic'; known: aall1331, r3_chemo, r3_blina, mitcl, reduced_blina "
         "(got ['r3_blina', 'magic'])"),
        ('[reinduction.clofarabine]\ntherapy_days = 5\n',
         "reinduction: unknown reinduction ['clofarabine']; known: mitcl, reduced_intensity "
         "(UKALL R3 Block 1 is [block1]) (got ['clofarabine'])"),
    ],
    ids=["missing-reinduction", "missing-partial-response-reinduction", "reference-not-listed", "duplicate",
         "unknown", "unknown-reinduction"],
)
def test_bad_strategy_definitions_fail_at_load(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'extends = "{SCENARIOS / "aall1331.toml"}"\n{body}', encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}: {message}"


def test_custom_strategy_composes_pieces(tmp_path: Path) -> None:
    path = tmp_path / "custom.toml"
    path.write_text(
        f'extends = "{SCENARIOS / "mitcl.toml"}"\nstrategies = ["r3_blina", "mitcl_then_chemo"]\n'
        '[custom_strategies.mitcl_then_chemo]\nreinduction = "mitcl"\nafter = "chemo"\n'
        '[cohort]\nn_patients = 60\n', encoding="utf-8")
    scenario = load_scenario(path).scenario
    patients, _ = simulate(scenario, 1, range(1))
    custom = patients[patients["strategy"] == "mitcl_then_chemo"]
    assert (custom["reinduction"] == "mitcl").all()
    assert set(custom["arm"].dropna()) <= {"A_chemo", "C_chemo"}
    assert not custom["hsct"].all()


def test_cli_runs_a_comparison_and_a_single_strategy(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = subprocess.run([str(SIMULATE), str(small(tmp_path, "mitcl.toml")), "--reps", "3", "--seed", "2",
                             "--out", str(out), "--workers", "1"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "differences from r3_blina" in result.stdout.lower() and "4-year OS" in result.stdout
    for dataset in ("patients", "events", "summary"):
        assert len(pd.read_parquet(out / dataset)) > 0
    assert (out / "manifest.json").exists()
    summary = pd.read_parquet(out / "summary")
    assert set(summary["subgroup"]) == {"all", "relapse_group", "risk_group", "age_band"}
    assert set(summary.loc[summary["comparison"] == "difference", "strategy"]) == {"mitcl", "r3_chemo"}

    single = tmp_path / "single.toml"
    single.write_text(f'extends = "{SCENARIOS / "aall1331.toml"}"\n[cohort]\nn_patients = 50\n', encoding="utf-8")
    result = subprocess.run([str(SIMULATE), str(single), "--reps", "2", "--seed", "2", "--out", str(tmp_path / "one"),
                             "--workers", "1"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    summary = pd.read_parquet(tmp_path / "one" / "summary")
    assert (summary["comparison"] == "value").all()  # one strategy: no differences
