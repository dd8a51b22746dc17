"""Costs and QALYs: discounting against its closed form, the decision analysis on a real
PSA run (CEAC, EVPI >= EVPPI >= 0), the CLI's ICER and CEAC, and economics off by default."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from sim.analysis import RunError, open_run
from sim.analysis.economics import discounted_years, patient_economics
from sim.scenario.load import load_scenario
from sim.scenario.schema import realise

SCENARIOS = Path(__file__).parents[1] / "scenarios"
EXAMPLE = SCENARIOS / "economics_example.toml"


def simulate(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *map(str, args)], capture_output=True, text=True, timeout=600)


# --- discounting --------------------------------------------------------------------

@pytest.mark.parametrize("rate", [0.0, 0.035, 0.15])
@pytest.mark.parametrize("start, end", [(0.0, 365.25), (100.0, 2191.5), (730.5, 730.5)])
def test_discounted_span_is_the_integral_of_the_annual_discount_factor(rate, start, end) -> None:
    expected, _ = integrate.quad(lambda t: (1 + rate) ** -t, start / 365.25, end / 365.25)
    assert discounted_years(start, end, rate) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_discounted_spans_add_up() -> None:
    a, b, c = 0.0, 400.0, 1500.0
    assert discounted_years(a, b, 0.035) + discounted_years(b, c, 0.035) == pytest.approx(discounted_years(a, c, 0.035))


@pytest.fixture(scope="module")
def economics():
    return realise(load_scenario(EXAMPLE).scenario).economics


def _patient(**columns) -> pd.DataFrame:
    row = {"replication": 0, "os_days": 0.0, "on_therapy_days": 0.0, "remission_days": 0.0,
           "after_relapse_days": 0.0, "inpatient_days": 0.0, "blinatumomab_days": 0.0, "hsct": False,
           "hsct_day": np.nan, "salvage": None}
    row.update(columns)
    return pd.DataFrame([row])


@pytest.mark.parametrize("years", [1.0, 6.0])
def test_a_constant_state_patient_matches_the_closed_form(economics, years) -> None:
    """In remission off therapy from day 0 to T, nothing else: QALYs = u (1 - (1+r)^-T) / ln(1+r),
    life-years the same without u, cost the follow-up rate times the same span at the cost rate."""
    days = years * 365.25
    result = patient_economics(_patient(os_days=days, remission_days=days), {0: economics}).iloc[0]
    r_e, r_c = economics.discount_rate_effects, economics.discount_rate_costs
    span_e = (1 - (1 + r_e) ** -years) / math.log1p(r_e)
    span_c = (1 - (1 + r_c) ** -years) / math.log1p(r_c)
    assert result["life_years"] == pytest.approx(span_e, rel=1e-12)
    assert result["qalys"] == pytest.approx(economics.utilities.remission * span_e, rel=1e-12)
    assert result["cost"] == pytest.approx(economics.unit_costs.follow_up_year * span_c, rel=1e-12)
    assert result["net_benefit"] == pytest.approx(economics.willingness_to_pay * result["qalys"] - result["cost"])
    undiscounted = economics.model_copy(update={"discount_rate_effects": 0.0})
    assert patient_economics(_patient(os_days=days, remission_days=days), {0: undiscounted}).iloc[0]["qalys"] \
        == pytest.approx(economics.utilities.remission * years, rel=1e-12)


def test_each_cost_is_counted_at_its_time(economics) -> None:
    """Therapy spread over the on-therapy span, HSCT at its day, salvage when relapse starts."""
    days = 2 * 365.25
    patient = _patient(os_days=days, on_therapy_days=365.25, after_relapse_days=365.25, inpatient_days=50.0,
                       blinatumomab_days=20.0, hsct=True, hsct_day=200.0, salvage="car_t")
    result = patient_economics(patient, {0: economics}).iloc[0]
    unit, r = economics.unit_costs, economics.discount_rate_costs
    therapy = (50 * unit.bed_day + 20 * unit.blinatumomab_day) * (1 - (1 + r) ** -1) / math.log1p(r)
    expected = therapy + unit.hsct * (1 + r) ** (-200 / 365.25) + unit.salvage.car_t * (1 + r) ** -1 \
        + unit.follow_up_year * (1 + r) ** -1 * (1 - (1 + r) ** -1) / math.log1p(r)
    assert result["cost"] == pytest.approx(expected, rel=1e-12)
    u = economics.utilities
    r_e = economics.discount_rate_effects
    first = (1 - (1 + r_e) ** -1) / math.log1p(r_e)
    assert result["qalys"] == pytest.approx(u.on_therapy * first + u.after_relapse * first * (1 + r_e) ** -1)


# --- a real small PSA run -----------------------------------------------------------

@pytest.fixture(scope="module")
def psa_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    directory = tmp_path_factory.mktemp("psa")
    scenario = directory / "psa.toml"
    scenario.write_text(f'extends = "{EXAMPLE.as_posix()}"\nname = "psa_small"\n[cohort]\nn_patients = 120\n'
                        '[sweep]\ndesign = "psa"\nsamples = 10\nreplications = 2\noutcomes = ["net_benefit"]\n',
                        encoding="utf-8")
    out = directory / "run"
    result = simulate(scenario, "--seed", 5, "--out", out, "--workers", 2, "--quiet")
    assert result.returncode == 0, result.stderr
    return out, result


def test_cli_prints_the_icer_with_its_interval_and_writes_the_ceac(psa_run) -> None:
    out, result = psa_run
    table = pd.read_parquet(out / "economics")
    mitcl = table.set_index("strategy").loc["mitcl"]
    icer_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("ICER mitcl vs r3_blina"))
    assert f"{mitcl['icer']:,.0f}" in icer_line
    if math.isfinite(mitcl["icer_ci_low"]):
        assert f"95% interval {mitcl['icer_ci_low']:,.0f} to {mitcl['icer_ci_high']:,.0f}" in icer_line
        assert mitcl["icer_ci_low"] <= mitcl["icer"] <= mitcl["icer_ci_high"]
    else:
        assert "no interval" in icer_line
    assert str((out / "ceac").resolve()) in result.stdout
    assert "EVPI per patient" in result.stdout
    assert json.loads((out / "manifest.json").read_text())["economics"]["willingness_to_pay"] == 30000.0


def test_ceac_is_a_probability_per_strategy_summing_to_one(psa_run) -> None:
    ceac = pd.read_parquet(psa_run[0] / "ceac")
    assert ceac["probability"].between(0, 1).all()
    sums = ceac.groupby("willingness_to_pay")["probability"].sum()
    np.testing.assert_allclose(sums, 1.0)
    assert len(sums) > 10 and set(ceac["strategy"]) == {"r3_blina", "mitcl"}


def test_evpi_bounds_evppi_where_the_decision_is_uncertain(psa_run) -> None:
    """At the willingness to pay equal to the ICER the two strategies are close, so EVPI > 0."""
    run = open_run(psa_run[0])
    wtp = abs(float(run.economics().set_index("strategy").loc["mitcl", "icer"]))
    ceac = run.ceac([wtp]).set_index("strategy")["probability"]
    assert 0 < ceac["mitcl"] < 1
    total = run.evpi(wtp)
    assert total > 0
    groups = {"unit costs": ["economics.unit_costs.*"], "utilities": ["economics.utilities.*"],
              "HSCT": ["hsct.*"], "everything": ["*"]}
    partial = run.evppi(groups, willingness_to_pay=wtp).set_index("group")["evppi"]
    assert (partial >= 0).all()
    assert (partial <= total * (1 + 1e-9)).all(), (partial.to_dict(), total)


def test_evppi_names_an_empty_group(psa_run) -> None:
    with pytest.raises(ValueError, match="EVPPI group 'none': \\['nothing.*'\\] names no parameter"):
        open_run(psa_run[0]).evppi({"none": ["nothing.*"]})


# --- off by default -----------------------------------------------------------------

def test_default_scenarios_have_no_economics(tmp_path) -> None:
    for name in ("aall1331.toml", "mitcl.toml", "reduced_intensity.toml", "mitcl_sensitivity.toml"):
        assert load_scenario(SCENARIOS / name).scenario.economics is None, name
    scenario = tmp_path / "small.toml"
    scenario.write_text(f'extends = "{(SCENARIOS / "mitcl.toml").as_posix()}"\n[cohort]\nn_patients = 30\n',
                        encoding="utf-8")
    result = simulate(scenario, "--reps", 2, "--seed", 1, "--out", tmp_path / "run", "--workers", 1, "--quiet")
    assert result.returncode == 0, result.stderr
    run = tmp_path / "run"
    assert not any((run / name).exists() for name in ("economics", "ceac", "value_of_information"))
    assert "economics" not in json.loads((run / "manifest.json").read_text())
    assert not set(pd.read_parquet(run / "summary")["measure"]) & {"cost", "qalys", "life_years", "net_benefit"}
    assert "ICER" not in result.stdout
    with pytest.raises(RunError, match=r"no \[economics\] table"):
        open_run(run).economics()


def test_a_utility_above_one_is_one_line_exit_2(tmp_path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(f'extends = "{EXAMPLE.as_posix()}"\n[economics.utilities]\nremission = 1.2\n', encoding="utf-8")
    result = simulate(scenario, "--reps", 1, "--out", tmp_path / "run")
    assert result.returncode == 2
    assert result.stderr == f"error: {scenario}: economics.utilities.remission: must be a utility weight <= 1 (got 1.2)\n"
    assert not (tmp_path / "run").exists()


def test_the_report_shows_costs_qalys_ceac_and_value_of_information(psa_run) -> None:
    from sim.analysis.report import build_report

    text = build_report(open_run(psa_run[0]))
    assert "<h2>Costs and QALYs</h2>" in text and "acceptability curve" in text and "EVPI per patient" in text
    assert "ICER vs r3_blina" in text
