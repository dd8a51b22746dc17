"""Properties of whole replications, for random seeds and small scenario variants.

The contract relied on: every patient has exactly one ``pathway_end`` event
and it is the patient's last; flow through Block 1 and risk assignment is
read from the patient columns ``block1_death``, ``early_treatment_failure``,
``risk_group`` (null when not assigned), ``not_assigned_reason`` and
``randomized`` -- never from event details -- so later phases can add events
and columns without breaking these checks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.clinical import REMISSION_BLAST_PERCENT
from sim.model.phases.assignment import EARLY_GROUPS
from sim.scenario.distributions import central_value
from sim.scenario.load import load_scenario
from sim.scenario.schema import CapacitySettings, CohortSettings
from tests.conftest import AALL1331_TOML, run_frames
from tests.strategies import replications, seeds, small_variants

BASE = load_scenario(AALL1331_TOML).scenario
PROPERTY_SETTINGS = settings(max_examples=20, deadline=None)
KEYS = ["strategy", "replication", "patient_id"]


def simulate(scenario, seed: int, replication: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return run_frames(scenario, seed, range(replication, replication + 1))


def replication_runs():
    return st.tuples(small_variants(BASE), seeds, replications)


# --- checks, each a function of one run's frames --------------------------------

def check_one_pathway_end_and_it_is_last(patients: pd.DataFrame, events: pd.DataFrame) -> None:
    ends = events[events["event"] == "pathway_end"]
    per_patient = ends.groupby(KEYS).size()
    assert set(per_patient.index) == set(map(tuple, patients[KEYS].to_numpy()))
    assert (per_patient == 1).all()
    last = events.sort_values("log_index", kind="stable").groupby(KEYS).tail(1)
    assert (last["event"] == "pathway_end").all()
    assert len(last) == len(patients)


def check_times_never_go_backwards(patients: pd.DataFrame, events: pd.DataFrame) -> None:
    ordered = events.sort_values("log_index", kind="stable")
    steps = ordered.groupby(KEYS)["time_days"].diff().dropna()
    assert (steps >= 0).all(), ordered.loc[steps[steps < 0].index]
    assert (ordered["time_days"] >= 0).all()
    assert np.isfinite(ordered["time_days"]).all()


def check_pathway_end_day_is_the_end_event_day(patients: pd.DataFrame, events: pd.DataFrame) -> None:
    ends = events[events["event"] == "pathway_end"].set_index(KEYS)["time_days"].sort_index()
    days = patients.set_index(KEYS)["pathway_end_day"].sort_index()
    assert ends.index.equals(days.index)
    assert (ends == days).all(), pd.concat([ends, days], axis=1)[ends != days]


def check_flow_adds_up(patients: pd.DataFrame) -> None:
    died = patients["block1_death"].astype(bool)
    failed = patients["early_treatment_failure"].astype(bool)
    assigned = patients["risk_group"].notna()
    not_assigned = patients["not_assigned_reason"].notna()
    # Follow-up can end inside Block 1 only when patients queue for a bed.
    cut_off = ~died & patients["eob1_day"].isna()
    # Each patient leaves Block 1 and assignment by exactly one of the doors...
    doors = died.astype(int) + failed.astype(int) + assigned.astype(int) + not_assigned.astype(int) + cut_off.astype(int)
    assert (doors == 1).all(), patients.loc[doors != 1, KEYS]
    # ...so the counts add up to the cohort.
    assert died.sum() + failed.sum() + assigned.sum() + not_assigned.sum() + cut_off.sum() == len(patients)
    # Only the risk-assigned can be randomised.
    assert not (patients["randomized"].astype(bool) & ~assigned).any()


def check_grade5_iff_block1_death(patients: pd.DataFrame) -> None:
    assert ((patients["block1_max_grade"] == 5) == patients["block1_death"].astype(bool)).all()
    # Known for everyone whose Block 1 ended (by death or count recovery) before follow-up did.
    observed = patients["block1_death"].astype(bool) | patients["eob1_day"].notna()
    assert patients.loc[observed, "block1_max_grade"].between(2, 5).all()
    assert patients.loc[~observed, "block1_max_grade"].isna().all()


def check_no_mrd_after_block1_death(patients: pd.DataFrame) -> None:
    dead = patients[patients["block1_death"].astype(bool)]
    assert dead["eob1_mrd_percent"].isna().all()
    assert dead["eob1_day"].isna().all()


def check_cog_risk_rule(patients: pd.DataFrame, threshold_percent: float) -> None:
    assigned = patients[patients["risk_group"].notna()]
    early = assigned["relapse_group"].isin(EARLY_GROUPS)
    assert (assigned.loc[early, "risk_group"] == "HR").all()
    late = assigned[~early]
    assert late["eob1_mrd_status"].notna().all()  # a result, negative (no value) or positive
    assert ((late["risk_group"] == "IR") == (late["eob1_mrd_percent"] >= threshold_percent)).all()
    assert late["risk_group"].isin(["IR", "LR"]).all()


def check_efs_not_after_os(patients: pd.DataFrame) -> None:
    assert (patients["efs_days"] <= patients["os_days"]).all(), patients.loc[
        patients["efs_days"] > patients["os_days"], KEYS + ["efs_days", "os_days"]
    ]
    # every death is an EFS event
    assert not (patients["os_event"].astype(bool) & ~patients["efs_event"].astype(bool)).any()


# --- hypothesis over seeds and variants -------------------------------------------

@PROPERTY_SETTINGS
@given(replication_runs())
def test_every_patient_ends_exactly_once_and_last(run) -> None:
    check_one_pathway_end_and_it_is_last(*simulate(*run))


@PROPERTY_SETTINGS
@given(replication_runs())
def test_event_times_never_go_backwards(run) -> None:
    check_times_never_go_backwards(*simulate(*run))


@PROPERTY_SETTINGS
@given(replication_runs())
def test_pathway_end_day_is_the_day_of_the_end_event(run) -> None:
    check_pathway_end_day_is_the_end_event_day(*simulate(*run))


@PROPERTY_SETTINGS
@given(replication_runs())
def test_flow_adds_up(run) -> None:
    patients, _ = simulate(*run)
    assert len(patients) == run[0].cohort.n_patients * len(run[0].strategies)
    check_flow_adds_up(patients)


@PROPERTY_SETTINGS
@given(replication_runs())
def test_block1_grade_and_mrd(run) -> None:
    patients, _ = simulate(*run)
    check_grade5_iff_block1_death(patients)
    check_no_mrd_after_block1_death(patients)


@PROPERTY_SETTINGS
@given(replication_runs())
def test_risk_group_follows_the_cog_rule(run) -> None:
    scenario = run[0]
    patients, _ = simulate(*run)
    check_cog_risk_rule(patients, central_value(scenario.assignment.ir_mrd_threshold_percent))


@PROPERTY_SETTINGS
@given(replication_runs())
def test_efs_never_after_os(run) -> None:
    check_efs_not_after_os(simulate(*run)[0])


MITCL = load_scenario(AALL1331_TOML.parent / "mitcl.toml").scenario  # adds a second reinduction cycle


def check_recorded_mrd_is_an_assay_reading(patients: pd.DataFrame, events: pd.DataFrame, limit: float) -> None:
    """A value only for a positive result, between the detection limit and 100%; a negative has none."""
    pairs = [(patients[f"{c}_mrd_percent"], patients[f"{c}_mrd_status"]) for c in ("eob1", "cycle1", "cycle2")]
    for value, status in [*pairs, (events["mrd_percent"], events["mrd_status"])]:
        recorded = value.dropna()
        assert recorded.between(limit, 100.0).all(), recorded[~recorded.between(limit, 100.0)]
        assert (value.notna() == (status == "positive")).all()
        assert status.dropna().isin(["negative", "positive"]).all()


def check_no_remission_with_5_percent_blasts(patients: pd.DataFrame, events: pd.DataFrame) -> None:
    """Morphological remission is fewer than 5% blasts: no patient recorded in remission, nor any
    remission event, carries an MRD of 5% or more; no early treatment failure with a result has less."""
    in_remission = patients["block1_death"].eq(False) & patients["early_treatment_failure"].eq(False)
    high = patients[in_remission & (patients["eob1_mrd_percent"] >= REMISSION_BLAST_PERCENT)]
    assert high.empty, high[KEYS + ["reinduction_cycles", "eob1_mrd_percent"]]
    remission = events[events["event"] == "remission"]
    assert not (remission["mrd_percent"] >= REMISSION_BLAST_PERCENT).any()
    failed_cycle1 = patients["early_treatment_failure"].eq(True) & patients["reinduction_cycles"].eq(1)
    assert not (patients.loc[failed_cycle1, "eob1_mrd_percent"] < REMISSION_BLAST_PERCENT).any()


@PROPERTY_SETTINGS
@given(st.tuples(small_variants(MITCL), seeds, replications))
def test_recorded_mrd_is_what_an_assay_reports(run) -> None:
    scenario, seed, replication = run
    patients, events = simulate(scenario, seed, replication)
    check_recorded_mrd_is_an_assay_reading(patients, events, central_value(scenario.prognosis.mrd_detection_limit_percent))
    check_no_remission_with_5_percent_blasts(patients, events)


# --- the same checks on the shared session run --------------------------------------

def test_small_run_satisfies_every_check(small_run, small_scenario) -> None:
    patients, events = small_run
    check_one_pathway_end_and_it_is_last(patients, events)
    check_times_never_go_backwards(patients, events)
    check_pathway_end_day_is_the_end_event_day(patients, events)
    check_flow_adds_up(patients)
    check_grade5_iff_block1_death(patients)
    check_no_mrd_after_block1_death(patients)
    check_cog_risk_rule(patients, central_value(small_scenario.assignment.ir_mrd_threshold_percent))
    check_efs_not_after_os(patients)
    # All four doors are used in a run of this size, so the flow check is not vacuous.
    assert patients["block1_death"].any() and patients["early_treatment_failure"].any()
    assert patients["risk_group"].notna().any() and patients["not_assigned_reason"].notna().any()
    assert set(patients["risk_group"].dropna()) == {"LR", "IR", "HR"}


# --- a bed queue that outlasts follow-up ---------------------------------------------

@pytest.fixture(scope="module")
def long_queue_run():
    """One bed, 80 patients on day 0: the last ones finish Block 1 after the 6-year horizon."""
    scenario = BASE.model_copy(update={
        "cohort": CohortSettings(n_patients=80, accrual="day0"),
        "capacity": CapacitySettings(inpatient_beds=1),
    })
    patients, events = simulate(scenario, 5, 0)
    horizon = central_value(BASE.follow_up.horizon_days)
    assert (patients["block1_bed_wait_days"] >= horizon).any()  # the situation this fixture is for
    return patients, events


def test_long_queue_keeps_structural_properties(long_queue_run) -> None:
    patients, events = long_queue_run
    check_one_pathway_end_and_it_is_last(patients, events)
    check_times_never_go_backwards(patients, events)
    check_flow_adds_up(patients)


def test_efs_never_after_os_with_a_long_bed_queue(long_queue_run) -> None:
    check_efs_not_after_os(long_queue_run[0])


def test_pathway_end_event_time_is_pathway_end_day_with_a_long_bed_queue(long_queue_run) -> None:
    check_pathway_end_day_is_the_end_event_day(*long_queue_run)


def test_a_record_takes_the_cohort_columns_in_their_order() -> None:
    """The record is built positionally: patient_id, the cohort's covariates in its field order, z by name."""
    from sim.model.cohort import Cohort
    from sim.model.records import PatientRecord

    cohort_fields = tuple(Cohort.__dataclass_fields__)
    record_fields = tuple(PatientRecord.__dataclass_fields__)
    assert cohort_fields[-1] == "resistance_z"
    assert record_fields[: len(cohort_fields)] == ("patient_id", *cohort_fields[:-1])


def test_each_record_holds_its_own_cohort_row() -> None:
    """Records are built positionally from the cohort's columns: every covariate lands in its own column."""
    from sim.model.cohort import case_mix_for, draw_cohort
    from sim.model.replication import realised_parameters, run_replication
    from sim.model.streams import Streams

    scenario = load_scenario("scenarios/aall1331.toml").scenario
    patients, _ = run_replication(scenario, 5, 2)
    params = realised_parameters(scenario, 5, 2)
    n = params.cohort.n_patients
    accrual = params.cohort.accrual_days if params.cohort.accrual == "staggered" else 0.0
    cohort = draw_cohort(case_mix_for(params.cohort), n, accrual, Streams(5, 2, n))
    table = patients.to_pandas()
    assert table["strategy"].nunique() == 1  # one strategy: a row per patient, in patient order
    for name, values in cohort.columns().items():
        if name != "resistance_z":  # latent, not written
            assert table[name].tolist() == list(values), name
