"""Censoring in the trial emulation: the 6-year horizon and the data cut-off.

``scenarios/aall1331.toml`` accrues patients over 2098 days and stops
follow-up at the trial's data cut-off, day 3376 of the study, or 6 years
(2191.5 days) after a patient's enrolment, whichever comes first. Times are on
each patient's own clock, so a patient alive at the end is censored at exactly
``min(2191.5, 3376 - enrolment_day)``. With ``censoring = "horizon"``
everyone is followed to the horizon, and the same seed shows the same
patients: nothing observed before the cut-off changes.

Also here: the load-time checks on follow-up and on the post-induction
tables (key path, rule and value, exactly), and a trace of the one place
where follow-up can end between risk assignment and randomisation.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import simpy

from sim.model.pathway import patient_pathway
from sim.model.records import EventLog, PatientRecord
from sim.model.replication import build_models
from sim.scenario.load import ScenarioError, load_scenario
from sim.scenario.schema import realise, with_values
from tests.conftest import (
    AALL1331_TOML,
    FULL_RUN_REPLICATIONS,
    FULL_RUN_SEED,
    load_error,
    run_frames,
    write_scenario,
)
from tests.test_block1_trace import FixedStreams

HORIZON = 2191.5
CUTOFF = 3376.0
ACCRUAL = 2098.0
KEYS = ["strategy", "replication", "patient_id"]
# Replications of the shared run that the no-cut-off run repeats (same seed: same patients and draws).
PAIRED_REPLICATIONS = range(3)


@pytest.fixture(scope="module")
def patients(full_run, base_scenario) -> pd.DataFrame:
    follow_up, cohort = base_scenario.follow_up, base_scenario.cohort
    assert (follow_up.censoring, follow_up.horizon_days, follow_up.data_cutoff_day) == ("data_cutoff", HORIZON, CUTOFF)
    assert (cohort.accrual, cohort.accrual_days) == ("staggered", ACCRUAL)
    patients, _ = full_run
    assert len(patients) == 661 * FULL_RUN_REPLICATIONS
    return patients


def test_alive_patients_are_censored_at_the_horizon_or_the_cut_off(patients) -> None:
    alive = patients[~patients["os_event"]]
    expected = np.minimum(HORIZON, CUTOFF - alive["enrolment_day"])
    assert (alive["os_days"] == expected).all(), alive.loc[alive["os_days"] != expected, KEYS + ["enrolment_day", "os_days"]]
    event_free = patients[~patients["efs_event"]]
    assert (event_free["efs_days"] == np.minimum(HORIZON, CUTOFF - event_free["enrolment_day"])).all()
    # Enrolment covers the accrual window.
    assert patients["enrolment_day"].min() >= 0.0 and patients["enrolment_day"].max() < ACCRUAL


def test_late_enrolees_are_censored_at_the_cut_off_before_the_horizon(patients) -> None:
    late = patients["enrolment_day"] > CUTOFF - HORIZON   # after day 1184.5
    alive = ~patients["os_event"]
    late_alive, early_alive = patients[late & alive], patients[~late & alive]
    assert len(late_alive) > 1000 and len(early_alive) > 1000
    assert (late_alive["os_days"] < HORIZON).all()
    assert (late_alive["os_days"] == CUTOFF - late_alive["enrolment_day"]).all()
    assert (early_alive["os_days"] == HORIZON).all()
    # The last enrolee is followed for 3376 - 2098 = 1278 days at least.
    assert late_alive["os_days"].min() > CUTOFF - ACCRUAL


@pytest.fixture(scope="module")
def without_cutoff(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trial emulation followed to the horizon: ``censoring = "horizon"``
    (an extending file cannot delete ``data_cutoff_day``; under this rule it is ignored)."""
    path = write_scenario(tmp_path_factory.mktemp("no-cutoff"), '[follow_up]\ncensoring = "horizon"\n')
    scenario = load_scenario(path).scenario
    assert scenario.follow_up.data_cutoff_day == CUTOFF and scenario.follow_up.horizon_days == HORIZON
    return run_frames(scenario, FULL_RUN_SEED, PAIRED_REPLICATIONS)


def test_without_a_cut_off_everyone_alive_reaches_the_horizon(without_cutoff) -> None:
    patients, _ = without_cutoff
    alive = patients[~patients["os_event"]]
    assert len(alive) > 500
    assert (alive["os_days"] == HORIZON).all()
    assert (patients.loc[~patients["efs_event"], "efs_days"] == HORIZON).all()
    assert (patients["os_days"] <= HORIZON).all()


def test_moving_the_cut_off_changes_nothing_observed_before_it(patients, without_cutoff) -> None:
    """Same seed, same patients, same draws: the cut-off only hides what happens after it."""
    cut = patients[patients["replication"].isin(PAIRED_REPLICATIONS)].set_index(KEYS).sort_index()
    full = without_cutoff[0].set_index(KEYS).sort_index()
    assert cut.index.equals(full.index)
    dead = cut["os_event"]
    columns = ["os_days", "death_cause", "efs_days", "efs_event_type", "hsct_day", "relapse_day", "arm"]
    pd.testing.assert_frame_equal(cut.loc[dead, columns], full.loc[dead, columns])
    # Censored at the cut-off: alive at least that long without it, EFS events seen before it unchanged.
    censored = ~dead
    assert (full.loc[censored, "os_days"] >= cut.loc[censored, "os_days"]).all()
    had_event = cut["efs_event"]
    pd.testing.assert_series_equal(cut.loc[had_event, "efs_days"], full.loc[had_event, "efs_days"])
    # ... and many were followed longer without it, some to a death, so the comparison is not vacuous.
    assert (full.loc[censored, "os_days"] > cut.loc[censored, "os_days"]).sum() > 100
    assert (censored & full["os_event"]).any()


# --- load-time checks -----------------------------------------------------------------------

# (body after the extends line, exact message; {file} is the extending file)
BAD_FOLLOW_UP = [
    pytest.param("[follow_up]\nhorizon_days = 10\n",
                 "{file}: follow_up.horizon_days: must be longer than Block 1 (28 days) (got 10)",
                 id="horizon-shorter-than-block1"),
    pytest.param("[follow_up]\nhorizon_days = 28\n",
                 "{file}: follow_up.horizon_days: must be longer than Block 1 (28 days) (got 28)",
                 id="horizon-equal-to-block1"),
    pytest.param("[follow_up]\nhorizon_days = -1\n",
                 "{file}: follow_up.horizon_days: must be a number > 0 (got -1)",
                 id="negative-horizon"),
    pytest.param("[follow_up]\ndata_cutoff_day = 2187.9\n",
                 "{file}: follow_up.data_cutoff_day: must be at least 90 days after the end of accrual (day 2098) "
                 "so every patient finishes Block 1 (got 2187.9)",
                 id="cutoff-too-soon-after-accrual"),
    pytest.param("[cohort]\naccrual = \"day0\"\n[follow_up]\ndata_cutoff_day = 50\n",
                 "{file}: follow_up.data_cutoff_day: must be at least 90 days after the end of accrual (day 0) "
                 "so every patient finishes Block 1 (got 50)",
                 id="cutoff-too-soon-day0-accrual"),
    pytest.param("[follow_up]\ndata_cutoff_day = -1\n",
                 "{file}: follow_up.data_cutoff_day: must be a number >= 0 (got -1)",
                 id="negative-cutoff"),
    pytest.param("[follow_up]\nremission_death_prob = 1.2\n",
                 "{file}: follow_up.remission_death_prob: must be a probability in [0, 1] (got 1.2)",
                 id="remission-death-above-one"),
    pytest.param("[hsct]\ntrm_prob = 1.5\n",
                 "{file}: hsct.trm_prob: must be a probability in [0, 1] (got 1.5)",
                 id="trm-above-one"),
    pytest.param("[hsct.trm_timing]\nshape = 0\n",
                 "{file}: hsct.trm_timing.shape: must be a number > 0 (got 0)",
                 id="zero-weibull-shape"),
    pytest.param("[hsct.donor_search_days]\nmatched_sibling = -3\n",
                 "{file}: hsct.donor_search_days.matched_sibling: must be a number >= 0 (got -3)",
                 id="negative-donor-search"),
    pytest.param("[low_risk.relapse_timing]\nmedian_days = -5\n",
                 "{file}: low_risk.relapse_timing.median_days: must be a number > 0 (got -5)",
                 id="negative-weibull-median"),
    pytest.param("[consolidation.chemo]\nlate_failure_prob = 2\n",
                 "{file}: consolidation.chemo.late_failure_prob: must be a probability in [0, 1] (got 2)",
                 id="late-failure-above-one"),
    pytest.param("[consolidation.chemo.stop_after_cycle1_prob]\nmrd_negative = -0.1\n",
                 "{file}: consolidation.chemo.stop_after_cycle1_prob.mrd_negative: must be a probability in [0, 1] (got -0.1)",
                 id="stop-probability-below-zero"),
    pytest.param("[second_relapse.survival_prob_after_lr]\nchemo = 1.01\n",
                 "{file}: second_relapse.survival_prob_after_lr.chemo: must be a probability in [0, 1] (got 1.01)",
                 id="salvage-survival-above-one"),
    pytest.param("[off_protocol]\nnot_assigned_event_free_prob = 0.5\nnot_assigned_survival_prob = 0.198\n",
                 "{file}: off_protocol.not_assigned_event_free_prob: must not exceed 'not_assigned_survival_prob' "
                 "(got 0.5 > 0.198)",
                 id="event-free-above-survival"),
    pytest.param('[follow_up]\ncensoring = "cutoff"\n',
                 "{file}: follow_up.censoring: input should be 'horizon' or 'data_cutoff' (got 'cutoff')",
                 id="unknown-censoring-rule"),
]


@pytest.mark.parametrize("body, expected", BAD_FOLLOW_UP)
def test_bad_post_induction_value_message(tmp_path: Path, body: str, expected: str) -> None:
    path, refusal = load_error(tmp_path, body)
    assert str(refusal) == expected.format(file=path)
    assert refusal.problems == [expected.format(file=path)]


@pytest.mark.parametrize(
    "body",
    [
        "[follow_up]\nhorizon_days = 28.001\n",
        "[follow_up]\ndata_cutoff_day = 2188\n",
        '[follow_up]\ncensoring = "horizon"\ndata_cutoff_day = 50\n',   # the cut-off is not used
    ],
)
def test_follow_up_at_the_limits_loads(tmp_path: Path, body: str) -> None:
    load_scenario(write_scenario(tmp_path, body))


def test_data_cutoff_censoring_needs_a_cutoff_day(tmp_path: Path) -> None:
    """A copy of the shipped scenario without its ``data_cutoff_day`` line."""
    text = AALL1331_TOML.read_text(encoding="utf-8")
    without = re.sub(r"(?m)^data_cutoff_day = .*\n", "", text)
    assert without != text and 'censoring = "data_cutoff"' in without
    (tmp_path / "aall1331.fitted.toml").write_text(
        (AALL1331_TOML.parent / "aall1331.fitted.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    path = tmp_path / "no_cutoff_day.toml"
    path.write_text(without, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == (
        f"{path}: follow_up.data_cutoff_day: must be given when censoring = 'data_cutoff' (got none)"
    )


@pytest.mark.parametrize(
    "body, key",
    [
        ('[follow_up]\nhorizon_days = { dist = "uniform", low = 20, high = 100 }\n', "follow_up.horizon_days"),
        ('[follow_up]\ndata_cutoff_day = { dist = "uniform", low = 2000, high = 2400 }\n', "follow_up.data_cutoff_day"),
    ],
)
def test_follow_up_distribution_reaching_past_the_limit_is_refused(tmp_path: Path, body: str, key: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(key)):
        load_scenario(write_scenario(tmp_path, body))


def test_low_risk_total_shorter_than_its_stages_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=re.escape("low_risk.therapy_total_days")):
        load_scenario(write_scenario(tmp_path, "[low_risk]\ntherapy_total_days = 100\n"))


# --- follow-up ending between risk assignment and randomisation ------------------------------

BLOCK1_SURVIVOR = {
    "block1.death": 0.99, "block1.count_recovery": 0.5, "block1.worst_grade": 0.99, "block1.adverse_events": 0.99,
}
NOT_RANDOMISED_DEATH = {
    "assignment.not_assigned": 0.99,
    "assignment.randomised": 0.99,              # >= 0.867 for LR: not randomised
    "assignment.not_randomised_reason": 0.95,   # cumulative 6, 108, 111, 115 of 115: death
    "assignment.death_day": 0.9,                # 0.9 x 14 days after the end of Block 1
}


def pathway_trace(base_scenario, horizon_days: float, draws: dict[str, float]):
    params = with_values(realise(base_scenario), {"follow_up.horizon_days": horizon_days})
    assert params.assignment.death_before_randomisation_max_days == 14.0
    record = PatientRecord(
        patient_id=0, relapse_group="bm_ge36", relapse_site="isolated_marrow", months_to_relapse=48.0, age_years=8.0, sex="female",
        ethnicity="non_hispanic_other", obese=False, cns_status="CNS1", testicular_disease=False,
        resistance_z=-1.0, enrolment_day=0.0,   # low MRD: LR
    )
    env = simpy.Environment()
    log = EventLog()
    streams = FixedStreams(1, draws)
    env.process(patient_pathway(env, record, "aall1331", build_models(params), streams, log, None))
    env.run()
    eob1 = 28.0 + 3.5 * math.log(2.0)
    return record, [(t, e, d) for t, e, d in zip(log.time_days, log.event, log.detail)], eob1


def test_death_before_randomisation_on_its_day(base_scenario) -> None:
    record, events, eob1 = pathway_trace(base_scenario, HORIZON, {**BLOCK1_SURVIVOR, **NOT_RANDOMISED_DEATH})
    death_day = eob1 + 0.9 * 14.0
    assert record.risk_group == "LR" and record.not_randomized_reason == "death"
    assert (record.os_event, record.os_days, record.death_cause, record.efs_event_type) == (True, death_day, "toxicity", "death")
    assert events[-3:] == [(eob1, "not_randomized", "death"), (death_day, "death", "toxicity"), (death_day, "pathway_end", "death")]


def test_follow_up_ending_before_randomisation_death_ends_the_pathway(base_scenario) -> None:
    """Horizon 40 days: the end of Block 1 is day 30.4, the planned death day 43.0."""
    draws = {
        **BLOCK1_SURVIVOR, **NOT_RANDOMISED_DEATH,
        # What the pathway draws today after the censoring (declared so the test fails on its assertion):
        "off_protocol.not_randomised_care": 0.0, "low_risk.relapse": 0.999, "low_risk.relapse_day": 0.5,
        "low_risk.toxic_death": 0.999,
    }
    record, events, eob1 = pathway_trace(base_scenario, 40.0, draws)
    assert eob1 < 40.0 < eob1 + 0.9 * 14.0
    assert (record.os_event, record.os_days) == (False, 40.0)
    assert events[-2:] == [(eob1, "not_randomized", "death"), (40.0, "pathway_end", "censored")]
