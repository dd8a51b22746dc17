"""Properties of EFS, OS and the post-induction pathway over whole replications.

For random seeds, replication indices and small variants of the AALL1331
scenario (``tests/strategies.py``: either accrual, maybe a bed limit, central
or sampled parameters; here also either censoring rule), every patient row
must tell one consistent story:

* EFS and OS are always set, EFS never after OS, both at most the patient's
  censor day (the horizon, or the data cut-off on the patient's own clock);
  the alive are followed to exactly their censor day;
* a death is an EFS event, has a cause, and is logged once as a ``death`` event;
* the first-event type matches what happened (early treatment failure at the
  end of Block 1, Block 1 death on its day, relapse on the relapse day);
* transplants happen after Block 1 and before death; arms belong to the
  randomised and match the risk group.

The strategy-free checks also run on variants of the strategy comparison
scenarios (``scenarios/mitcl.toml``, ``scenarios/reduced_intensity.toml``).
Each check is a function of one run's frames; all of them also run on the
shared 40-replication run of the full cohort, where every branch they test is
taken many times (asserted there, so the checks are not vacuous), including
that nobody is an inpatient beyond follow-up and that recorded MRD is a
percentage (at most 100%).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model.replication import realised_parameters
from sim.scenario.load import load_scenario
from sim.scenario.schema import Scenario
from tests.conftest import AALL1331_TOML, FULL_RUN_SEED, SCENARIOS_DIR, run_frames
from tests.strategies import replications, seeds, small_variants

BASE = load_scenario(AALL1331_TOML).scenario
# Scenarios running the other built-in strategies (MITCL, reduced intensity, R3 + chemo or blinatumomab).
STRATEGY_SCENARIOS = [load_scenario(SCENARIOS_DIR / name).scenario for name in ("mitcl.toml", "reduced_intensity.toml")]
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None)
KEYS = ["strategy", "replication", "patient_id"]
EFS_EVENT_TYPES = {"treatment_failure", "relapse", "death"}
ARMS_OF_RISK_GROUP = {"HR": {"A_chemo", "B_blinatumomab"}, "IR": {"A_chemo", "B_blinatumomab"},
                      "LR": {"C_chemo", "D_blinatumomab"}}


def simulate(scenario, seed: int, replication: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Patients, events, and each patient's censor day from the realised follow-up settings."""
    patients, events = run_frames(scenario, seed, range(replication, replication + 1))
    return patients, events, censor_days(patients, realised_parameters(scenario, seed, replication).follow_up)


def censor_days(patients: pd.DataFrame, follow_up) -> pd.Series:
    """End of follow-up on each patient's clock: the horizon, or with data cut-off
    censoring, min(horizon, cut-off - enrolment day)."""
    if follow_up.censoring == "horizon":
        return pd.Series(follow_up.horizon_days, index=patients.index)
    return np.minimum(follow_up.horizon_days, follow_up.data_cutoff_day - patients["enrolment_day"])


@st.composite
def censoring_variants(draw) -> Scenario:
    """A small variant followed to the data cut-off (as the trial) or to the horizon."""
    scenario = draw(small_variants(BASE))
    censoring = draw(st.sampled_from(["data_cutoff", "horizon"]))
    follow_up = scenario.follow_up.model_dump() | {"censoring": censoring}
    return Scenario.model_validate(scenario.model_dump() | {"follow_up": follow_up})


def replication_runs():
    return st.tuples(censoring_variants(), seeds, replications)


def rows(patients: pd.DataFrame, mask: pd.Series, *columns: str) -> pd.DataFrame:
    """The offending rows, for assertion messages."""
    return patients.loc[mask, KEYS + list(columns)]


# --- checks ------------------------------------------------------------------------

def check_efs_and_os_set_and_bounded(patients: pd.DataFrame, censor: pd.Series) -> None:
    for column in ("efs_days", "os_days"):
        assert patients[column].notna().all(), rows(patients, patients[column].isna(), column)
        assert (patients[column] >= 0).all()
        over = patients[column] > censor
        assert not over.any(), rows(patients, over, column, "enrolment_day")
    efs_after_os = patients["efs_days"] > patients["os_days"]
    assert not efs_after_os.any(), rows(patients, efs_after_os, "efs_days", "os_days")


def check_death_is_an_efs_event(patients: pd.DataFrame) -> None:
    dead = patients["os_event"].astype(bool)
    no_event = dead & ~patients["efs_event"].astype(bool)
    assert not no_event.any(), rows(patients, no_event, "efs_days", "os_days")
    assert (patients.loc[dead, "efs_days"] <= patients.loc[dead, "os_days"]).all()


def check_alive_followed_to_censor_day(patients: pd.DataFrame, censor: pd.Series) -> None:
    alive = ~patients["os_event"].astype(bool)
    short = alive & (patients["os_days"] != censor)
    assert not short.any(), pd.concat([rows(patients, short, "os_days"), censor[short].rename("censor")], axis=1)
    # Event-free and alive: EFS is censored at the same day.
    event_free = ~patients["efs_event"].astype(bool)
    assert (patients.loc[event_free, "efs_days"] == censor[event_free]).all()


def check_death_cause_iff_dead(patients: pd.DataFrame) -> None:
    dead = patients["os_event"].astype(bool)
    mismatch = patients["death_cause"].notna() != dead
    assert not mismatch.any(), rows(patients, mismatch, "os_event", "death_cause")


def check_efs_event_type(patients: pd.DataFrame) -> None:
    has_event = patients["efs_event"].astype(bool)
    mismatch = patients["efs_event_type"].notna() != has_event
    assert not mismatch.any(), rows(patients, mismatch, "efs_event", "efs_event_type")
    assert set(patients.loc[has_event, "efs_event_type"]) <= EFS_EVENT_TYPES
    # A first event of type death is the death itself.
    death_first = patients["efs_event_type"] == "death"
    assert patients.loc[death_first, "os_event"].astype(bool).all()
    assert (patients.loc[death_first, "efs_days"] == patients.loc[death_first, "os_days"]).all()


def check_early_failure_and_block1_death(patients: pd.DataFrame) -> None:
    failed = patients["early_treatment_failure"].astype(bool)
    wrong = failed & ((patients["efs_event_type"] != "treatment_failure") | (patients["efs_days"] != patients["eob1_day"]))
    assert not wrong.any(), rows(patients, wrong, "efs_event_type", "efs_days", "eob1_day")
    died = patients["block1_death"].astype(bool)
    day = patients["block1_death_day"]
    wrong = died & ((patients["efs_days"] != day) | (patients["os_days"] != day) | ~patients["os_event"].astype(bool)
                    | (patients["efs_event_type"] != "death"))
    assert not wrong.any(), rows(patients, wrong, "block1_death_day", "efs_days", "os_days")


def check_hsct(patients: pd.DataFrame) -> None:
    hsct = patients["hsct"].astype(bool)
    assert (hsct == patients["hsct_day"].notna()).all(), rows(patients, hsct != patients["hsct_day"].notna(), "hsct", "hsct_day")
    transplanted = patients[hsct]
    assert transplanted["eob1_day"].notna().all()
    assert (transplanted["hsct_day"] > transplanted["eob1_day"]).all(), transplanted[KEYS + ["hsct_day", "eob1_day"]]
    assert (transplanted["hsct_day"] <= transplanted["os_days"]).all(), transplanted[KEYS + ["hsct_day", "os_days"]]
    assert transplanted["donor_type"].notna().all()


def check_hsct_eligibility_in_the_trial(patients: pd.DataFrame) -> None:
    """AALL1331: only HR/IR patients and early failures are ever transplanted; never the LR arms."""
    transplanted = patients[patients["hsct"].astype(bool)]
    eligible = transplanted["risk_group"].isin(["HR", "IR"]) | transplanted["early_treatment_failure"].astype(bool)
    assert eligible.all(), transplanted.loc[~eligible, KEYS + ["risk_group", "arm"]]


def check_arms(patients: pd.DataFrame) -> None:
    randomised = patients["randomized"].astype(bool)
    assert (patients["arm"].notna() == randomised).all()
    for risk_group, arms in ARMS_OF_RISK_GROUP.items():
        in_group = randomised & (patients["risk_group"] == risk_group)
        assert set(patients.loc[in_group, "arm"]) <= arms, risk_group
    assert patients.loc[randomised, "risk_group"].notna().all()


def check_relapse_day(patients: pd.DataFrame) -> None:
    relapsed = patients[patients["relapse_day"].notna()]
    assert (relapsed["relapse_day"] >= relapsed["eob1_day"]).all(), relapsed[KEYS + ["relapse_day", "eob1_day"]]
    assert (relapsed["relapse_day"] <= relapsed["os_days"]).all(), relapsed[KEYS + ["relapse_day", "os_days"]]
    # A relapse is an EFS event: the first event is no later than it.
    assert relapsed["efs_event"].astype(bool).all()
    assert (relapsed["efs_days"] <= relapsed["relapse_day"]).all(), relapsed[KEYS + ["relapse_day", "efs_days"]]
    # ... and every first event of type relapse has its day.
    assert patients.loc[patients["efs_event_type"] == "relapse", "relapse_day"].notna().all()


def check_relapse_is_the_first_event_in_the_trial(patients: pd.DataFrame) -> None:
    """AALL1331: failures and deaths end the pathway before any relapse, so a relapse is the first event."""
    relapsed = patients[patients["relapse_day"].notna()]
    assert (relapsed["efs_event_type"] == "relapse").all()
    assert (relapsed["efs_days"] == relapsed["relapse_day"]).all(), relapsed[KEYS + ["relapse_day", "efs_days"]]


def check_one_death_event_iff_dead(patients: pd.DataFrame, events: pd.DataFrame) -> None:
    deaths = events[events["event"] == "death"].groupby(KEYS).size()
    indexed = patients.set_index(KEYS)
    counts = deaths.reindex(indexed.index, fill_value=0)
    assert (counts <= 1).all(), counts[counts > 1]
    mismatch = (counts == 1) != indexed["os_event"].astype(bool)
    assert not mismatch.any(), indexed.loc[mismatch, ["os_event", "os_days"]]
    death_days = events[events["event"] == "death"].set_index(KEYS)["time_days"]
    assert (death_days == indexed.loc[death_days.index, "os_days"]).all()


def check_every_strategy(patients: pd.DataFrame, events: pd.DataFrame, censor: pd.Series) -> None:
    """What holds whatever the strategy."""
    check_efs_and_os_set_and_bounded(patients, censor)
    check_death_is_an_efs_event(patients)
    check_alive_followed_to_censor_day(patients, censor)
    check_death_cause_iff_dead(patients)
    check_efs_event_type(patients)
    check_hsct(patients)
    check_relapse_day(patients)
    check_one_death_event_iff_dead(patients, events)


def check_all(patients: pd.DataFrame, events: pd.DataFrame, censor: pd.Series) -> None:
    """Everything, for the trial emulation (strategy aall1331)."""
    check_every_strategy(patients, events, censor)
    check_early_failure_and_block1_death(patients)
    check_hsct_eligibility_in_the_trial(patients)
    check_arms(patients)
    check_relapse_is_the_first_event_in_the_trial(patients)


# --- hypothesis over seeds and variants ---------------------------------------------

@PROPERTY_SETTINGS
@given(replication_runs())
def test_efs_and_os_always_set_efs_first_and_within_follow_up(run) -> None:
    patients, _, censor = simulate(*run)
    check_efs_and_os_set_and_bounded(patients, censor)
    check_death_is_an_efs_event(patients)


@PROPERTY_SETTINGS
@given(replication_runs())
def test_alive_patients_are_censored_at_exactly_their_censor_day(run) -> None:
    patients, _, censor = simulate(*run)
    check_alive_followed_to_censor_day(patients, censor)


@PROPERTY_SETTINGS
@given(replication_runs())
def test_death_cause_and_first_event_type_match_the_flags(run) -> None:
    patients, _, _ = simulate(*run)
    check_death_cause_iff_dead(patients)
    check_efs_event_type(patients)


@PROPERTY_SETTINGS
@given(replication_runs())
def test_early_failure_and_block1_death_are_dated_first_events(run) -> None:
    check_early_failure_and_block1_death(simulate(*run)[0])


@PROPERTY_SETTINGS
@given(replication_runs())
def test_transplants_and_arms_are_consistent(run) -> None:
    patients, _, _ = simulate(*run)
    check_hsct(patients)
    check_hsct_eligibility_in_the_trial(patients)
    check_arms(patients)


@PROPERTY_SETTINGS
@given(replication_runs())
def test_relapse_day_lies_between_block1_and_death(run) -> None:
    patients = simulate(*run)[0]
    check_relapse_day(patients)
    check_relapse_is_the_first_event_in_the_trial(patients)


@PROPERTY_SETTINGS
@given(replication_runs())
def test_one_death_event_exactly_for_the_dead(run) -> None:
    patients, events, _ = simulate(*run)
    check_one_death_event_iff_dead(patients, events)


@PROPERTY_SETTINGS
@given(st.sampled_from(STRATEGY_SCENARIOS).flatmap(lambda base: st.tuples(small_variants(base), seeds, replications)))
def test_every_strategy_keeps_efs_os_and_censoring_consistent(run) -> None:
    """The strategy comparison scenarios: every built-in strategy, on the same patients.

    Arms, the day of a failure and who may be transplanted are strategy rules
    (MITCL transplants LR patients in CR and decides failure after a second
    cycle; partial responders count as failures and go on to blinatumomab),
    so only the strategy-free checks apply.
    """
    patients, events, censor = simulate(*run)
    assert set(patients["strategy"]) == set(run[0].strategies)
    check_every_strategy(patients, events, censor)


# --- the same checks on the shared full-cohort run --------------------------------------

@pytest.fixture(scope="module")
def full(full_run, base_scenario):
    patients, events = full_run
    follow_up = realised_parameters(base_scenario, FULL_RUN_SEED, 0).follow_up
    assert follow_up.censoring == "data_cutoff"
    return patients, events, censor_days(patients, follow_up)


def test_full_run_satisfies_every_check(full) -> None:
    check_all(*full)


def test_full_run_takes_every_branch_the_checks_test(full) -> None:
    """So the checks above are not vacuous on the shared run."""
    patients, _, _ = full
    alive = ~patients["os_event"]
    assert set(patients["efs_event_type"].dropna()) == EFS_EVENT_TYPES
    assert patients["early_treatment_failure"].sum() > 100 and patients["block1_death"].sum() > 100
    assert patients["hsct"].sum() > 1000 and patients["relapse_day"].notna().sum() > 1000
    # censored both at the horizon and at the data cut-off
    assert (patients.loc[alive, "os_days"] == 2191.5).sum() > 1000
    assert (patients.loc[alive, "os_days"] < 2191.5).sum() > 1000
    assert set(patients["arm"].dropna()) == {"A_chemo", "B_blinatumomab", "C_chemo", "D_blinatumomab"}
    # transplants off protocol after early failure, too
    assert (patients["hsct"] & patients["early_treatment_failure"]).any()
    assert set(patients["death_cause"].dropna()) >= {"toxicity", "progression", "relapse", "transplant"}


def test_nobody_is_an_inpatient_for_longer_than_they_are_followed(full) -> None:
    patients, _, _ = full
    over = patients["inpatient_days"] > patients["os_days"]
    assert not over.any(), rows(patients, over, "inpatient_days", "os_days", "death_cause")


def test_recorded_mrd_is_a_percentage(full) -> None:
    patients, _, _ = full
    for column in ("eob1_mrd_percent", "cycle1_mrd_percent", "cycle2_mrd_percent"):
        recorded = patients[column].dropna()
        assert recorded.between(0.0, 100.0).all(), (column, recorded.max(), int((recorded > 100).sum()))
