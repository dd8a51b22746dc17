"""Deterministic traces of each arm after Block 1, with fixed draws.

Every trace follows one patient from randomisation (end of Block 1, day 30 on
the patient's clock) through the real phase generators in a SimPy
environment. A stand-in for :class:`sim.model.streams.Streams` hands each decision
the uniform the test chooses; a decision the test did not name is an error,
and so is a named decision that was never asked for, so each ``draws`` table
below lists exactly the draws the path depends on.

Expected days and MRD levels are computed by hand from the scenario's central
values (pinned in ``params``) and the formulas in the docstrings:

* Weibull mixture cure (``sim.model.survival``): an event iff ``u_event < p``, at
  ``median * (-ln(1 - u_time) / ln 2) ** (1 / shape)`` days;
* MRD after a consolidation cycle: ``10 ** (log10 m - reduction + sd * z)``
  with ``z = NormalDist().inv_cdf(u)``;
* HSCT on ``max(end of consolidation, randomisation + donor search days)
  + conditioning days``.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import fields
from statistics import NormalDist

import pytest
import simpy

from sim.model.capacity import Resources, TrackedPriorityResource, TrackedResource
from sim.model.pathway import hr_ir_course, lr_course
from sim.model.phases.consolidation import ConsolidationOutcome, consolidation
from sim.model.phases.follow_up import after_relapse
from sim.model.phases.low_risk import low_risk_therapy
from sim.model.phases.off_protocol import after_failure, not_assigned_course
from sim.model.records import EventLog, PatientRecord
from sim.model.replication import build_models
from sim.model.survival import cure_weibull_time, expit, logit
from sim.scenario.schema import realise, with_values
from tests.test_block1_trace import FixedStreams

LN2 = math.log(2.0)
EOB1 = 30.0            # end of Block 1 = randomisation, on the patient's clock
HORIZON = 2191.5
CYCLE_DAYS = 28.0 + 7.0  # consolidation duration + rest, both therapies (central values)


def weibull_days(u_time: float, median_days: float, shape: float) -> float:
    """The Weibull part of the mixture cure model, by hand."""
    return median_days * (-math.log1p(-u_time) / LN2) ** (1.0 / shape)


def mrd_after(previous_percent: float, reduction: float, u: float, sd: float = 1.0) -> float:
    return 10.0 ** (math.log10(previous_percent) - reduction + sd * NormalDist().inv_cdf(u))


def u_for_days(days: float, median_days: float, shape: float) -> float:
    """The time uniform that puts a Weibull event near ``days``."""
    return 1.0 - math.exp(-LN2 * (days / median_days) ** shape)


# --- fixtures and helpers ----------------------------------------------------------

# The traces are computed by hand, so the values the calibration fits are pinned here
# (not read from the fitted file, which a refit rewrites), and the prognostic layer is
# reduced to one MRD step of 1.0 log-odds (unknown MRD counted as positive): the trace
# patient is the layer's reference patient, so no other effect applies.
PINNED = {
    "consolidation.blinatumomab.mrd_log10_reduction": 2.966147896529219,
    "consolidation.chemo.mrd_log10_reduction": 0.4914180129905435,
    "consolidation.chemo.toxic_death_prob": 0.08080235877451244,
    "consolidation.blinatumomab.mrd_unassessed_after_cycle2_prob": 0.1892692954741672,
    "consolidation.blinatumomab.stop_after_cycle1_prob.mrd_negative": 0.15105467574658935,
    "consolidation.chemo.stop_after_cycle1_prob.mrd_positive": 0.43651786038405316,
    "consolidation.chemo.stop_after_cycle1_prob.mrd_negative": 0.006293908601326073,
    "consolidation.hsct_prob_mrd_negative": 0.7629479922028288,
    "consolidation.hsct_prob_mrd_positive": 0.4369677798511857,
    "consolidation.no_hsct_relapse_prob": 0.2351272583786978,
    "hsct.trm_prob": 0.09827025225803755,
    "hsct.relapse_prob": 0.21,
    "second_relapse.survival_prob_after_hr_ir": 0.5488811152682423,
    "second_relapse.survival_prob_after_hsct": 0.13086352278152394,
    "second_relapse.extramedullary_after_lr_log_odds": -1.7300162779936632,
    "low_risk.relapse_prob_marrow.chemo": 0.3813251479574377,
    "low_risk.relapse_prob_marrow.blinatumomab": 0.18280897486251257,
    "second_relapse.survival_prob_after_lr.chemo": 0.6498990689888844,
    "second_relapse.survival_prob_after_lr.blinatumomab": 0.9405091264223439,
    "off_protocol.failure_survival_prob_no_hsct": 0.131,
    "off_protocol.not_assigned_event_free_prob": 0.081,
    "off_protocol.not_assigned_survival_prob": 0.198,
    **{f"prognosis.{name}": 0.0 for name in (
        "relapse_lt18_months_log_odds", "relapse_18_36_months_log_odds", "mrd_per_log10_log_odds",
        "isolated_marrow_log_odds", "marrow_cns2_log_odds", "age_18_plus_log_odds", "male_log_odds",
        "obese_extramedullary_log_odds", "early_relapse_after_hsct_log_odds", "off_protocol_log_odds")},
    "prognosis.mrd_positive_log_odds": 1.0,
    "prognosis.mrd_unknown_log_odds": 1.0,
}


@pytest.fixture(scope="module")
def params(base_scenario):
    """Central values with the fitted ones pinned; every number a trace uses by hand is pinned here."""
    p = with_values(realise(base_scenario), PINNED)
    chemo, blin = p.consolidation.chemo, p.consolidation.blinatumomab
    assert (chemo.duration_days, chemo.rest_days, blin.duration_days, blin.rest_days) == (28.0, 7.0, 28.0, 7.0)
    assert p.consolidation.mrd_response_sd == 1.0
    assert (p.consolidation.relapse_timing.median_days, p.consolidation.relapse_timing.shape) == (240.0, 1.2)
    assert p.prognosis.mrd_detection_limit_percent == 0.01
    assert chemo.mrd_unassessed_after_cycle2_prob == 0.0 and blin.stop_after_cycle1_prob.mrd_positive == 0.0
    assert p.hsct.conditioning_days == 7.0
    assert p.hsct.donor_search_days.model_dump() == {
        "matched_sibling": 14.0, "haploidentical": 21.0, "matched_unrelated": 42.0, "mismatched_unrelated": 56.0,
    }
    assert p.hsct.donor_shares.model_dump() == {
        "matched_sibling": 25.0, "haploidentical": 27.0, "matched_unrelated": 33.0, "mismatched_unrelated": 15.0,
    }
    assert (p.hsct.trm_timing.median_days, p.hsct.trm_timing.shape) == (90.0, 1.0)
    assert (p.hsct.relapse_timing.median_days, p.hsct.relapse_timing.shape) == (180.0, 1.2)
    lr = p.low_risk
    assert (lr.block_days, lr.blinatumomab_block_days, lr.continuation_days, lr.therapy_total_days) == (28.0, 28.0, 112.0, 730.0)
    assert (lr.relapse_timing.median_days, lr.relapse_timing.shape) == (540.0, 1.5)
    assert (p.second_relapse.death_timing.median_days, p.second_relapse.death_timing.shape) == (270.0, 1.0)
    assert p.second_relapse.salvage_shares.model_dump() == {
        "car_t": 35.0, "inotuzumab": 20.0, "blinatumomab": 25.0, "second_hsct": 20.0,
    }
    assert (p.follow_up.remission_death_timing.median_days, p.follow_up.remission_death_timing.shape) == (365.0, 1.0)
    op = p.off_protocol
    assert (op.failure_death_timing.median_days, op.failure_death_timing.shape) == (150.0, 1.0)
    assert (op.not_assigned_event_timing.median_days, op.not_assigned_death_timing.median_days) == (120.0, 180.0)
    assert op.not_assigned_event_timing.shape == op.not_assigned_death_timing.shape == 1.0
    assert (op.not_assigned_event_free_prob, op.not_assigned_survival_prob) == (0.081, 0.198)
    return p


@pytest.fixture(scope="module")
def models(params):
    return build_models(params)


def randomised_patient(mrd_percent: float = 0.5, censor_day: float = HORIZON, **overrides) -> PatientRecord:
    """A patient at the end of Block 1 whose covariates shift no relapse odds:
    female, aged 8, not obese, marrow + CNS relapse (not isolated marrow)."""
    covariates = {
        "relapse_group": "bm_ge36", "relapse_site": "marrow_cns", "months_to_relapse": 48.0, "age_years": 8.0,
        "sex": "female",
        "ethnicity": "non_hispanic_other", "obese": False, "cns_status": "CNS3", "testicular_disease": False,
        "resistance_z": 0.0, "enrolment_day": 0.0,
    }
    covariates.update(overrides)
    record = PatientRecord(patient_id=0, **covariates)
    record.eob1_day = record.now_days = EOB1
    record.eob1_mrd_percent = mrd_percent
    record.censor_day = censor_day
    return record


def trace(process, record: PatientRecord, draws: dict[str, float], follow_up_from: float | None = None):
    """Run ``process(env, streams, log)`` for ``record``; returns (outcome, events).

    ``process`` gives a SimPy process, or runs on the patient's clock alone (follow-up) and gives
    its outcome. Asserts that the trace asked for exactly the draws it names and that the
    simulation clock ends on the patient's clock (enrolment day 0), or, for a trace that ends in
    follow-up (which makes no SimPy wait), on the day follow-up began, ``follow_up_from``.
    """
    streams = FixedStreams(1, draws)
    env = simpy.Environment(initial_time=record.now_days)
    log = EventLog()
    outcome = process(env, streams, log)
    if inspect.isgenerator(outcome):
        proc = env.process(outcome)
        env.run()
        outcome = proc.value
    assert set(streams.asked) == set(draws), f"declared but never drawn: {set(draws) - set(streams.asked)}"
    assert env.now == (record.now_days if follow_up_from is None else follow_up_from)
    return outcome, described(log)


def described(log: EventLog) -> list[tuple]:
    """``(day, event, detail)``; with typed numbers, ``(day, event, (detail, {name: number}))``."""
    rows = []
    for t, e, d, cycle, grade, mrd, dose in zip(log.time_days, log.event, log.detail, log.cycle, log.grade,
                                                log.mrd_percent, log.dose_gy):
        typed = {k: v for k, v in (("cycle", cycle), ("grade", grade), ("mrd_percent", mrd), ("dose_gy", dose))
                 if v is not None}
        rows.append((t, e, (d, typed) if typed else d))
    return rows


def cycle_draws(therapy: str, cycle: int, u_mrd: float | None = 0.5, **overrides: float) -> dict[str, float]:
    """A cycle without adverse events, toxic death or late failure; MRD drawn from ``u_mrd``."""
    key = f"consolidation.{therapy}.cycle{cycle}"
    draws = {f"{key}.grade3plus": 0.999, f"{key}.infection_grade3plus": 0.999, f"{key}.toxic_death": 0.999,
             f"{key}.late_failure": 0.999}
    if u_mrd is not None:
        draws[f"{key}.mrd"] = u_mrd
        if cycle == 2:
            draws[f"{key}.mrd_unassessed"] = 0.999
    draws.update({f"{key}.{name}": u for name, u in overrides.items()})
    return draws


NO_RELAPSE = {"consolidation.relapse": 0.999, "consolidation.relapse_day": 0.5}


def run_consolidation(params, record, therapy, draws):
    def process(env, streams, log):
        return consolidation(
            env, record, params.consolidation, therapy, record.eob1_mrd_percent, params.prognosis, streams, log
        )
    return trace(process, record, draws)


# --- the survival form ---------------------------------------------------------------

def test_cure_weibull_time_is_the_documented_formula() -> None:
    assert cure_weibull_time(0.3, 0.5, 0.3, 240.0, 1.2) == math.inf      # u_event >= p: cured
    assert cure_weibull_time(0.0, 0.5, 0.0, 240.0, 1.2) == math.inf      # p = 0: nobody has the event
    assert cure_weibull_time(0.2999, 0.5, 0.3, 240.0, 1.2) == 240.0      # u_time = 1/2 is the median
    for u in (0.01, 0.3, 0.9):
        assert cure_weibull_time(0.0, u, 0.5, 180.0, 1.2) == weibull_days(u, 180.0, 1.2)
        assert cure_weibull_time(0.0, u, 1.0, 90.0, 1.0) == pytest.approx(-90.0 * math.log1p(-u) / LN2, rel=1e-15)


# --- HR/IR consolidation -------------------------------------------------------------

def test_chemo_two_cycles_to_remission(params) -> None:
    chemo = params.consolidation.chemo
    record = randomised_patient(mrd_percent=0.5)
    draws = {
        **NO_RELAPSE,
        **cycle_draws("chemo", 1, u_mrd=0.7, grade3plus=0.0),   # grade 3+ event in cycle 1 (0 < 0.91)
        "consolidation.chemo.stop_after_cycle1": 0.999,
        **cycle_draws("chemo", 2, u_mrd=0.2),
    }
    outcome, events = run_consolidation(params, record, "chemo", draws)
    m1 = mrd_after(0.5, chemo.mrd_log10_reduction, 0.7)
    m2 = mrd_after(m1, chemo.mrd_log10_reduction, 0.2)
    assert m1 >= 0.01 and m2 >= 0.01  # MRD-positive throughout: the stop rule uses the positive rate
    assert outcome == ConsolidationOutcome("remission", m2, math.inf)
    assert record.now_days == EOB1 + 2 * CYCLE_DAYS == 100.0
    assert (record.consolidation_cycles, record.cycle1_mrd_percent, record.cycle2_mrd_percent) == (2, m1, m2)
    assert record.inpatient_days == 2 * 28.0  # chemo blocks are given in hospital
    assert record.late_treatment_failure is False and record.efs_event is False
    assert events == [
        (30.0, "consolidation_start", ("chemo", {"cycle": 1})),
        (30.0, "adverse_event", ("grade3plus", {"cycle": 1})),
        (65.0, "mrd", ("chemo", {"cycle": 1, "mrd_percent": m1})),
        (65.0, "consolidation_start", ("chemo", {"cycle": 2})),
        (100.0, "mrd", ("chemo", {"cycle": 2, "mrd_percent": m2})),
    ]


def test_blinatumomab_cycle2_mrd_unassessed_still_guides_the_outcome(params) -> None:
    blin = params.consolidation.blinatumomab
    record = randomised_patient(mrd_percent=0.5)
    draws = {
        **NO_RELAPSE,
        **cycle_draws("blinatumomab", 1, u_mrd=0.5, infection_grade3plus=0.0),
        "consolidation.blinatumomab.stop_after_cycle1": 0.999,
        **cycle_draws("blinatumomab", 2, u_mrd=0.5, mrd_unassessed=0.1),  # 0.1 < 0.189: not assessed
    }
    outcome, events = run_consolidation(params, record, "blinatumomab", draws)
    m1 = mrd_after(0.5, blin.mrd_log10_reduction, 0.5)
    m2 = mrd_after(m1, blin.mrd_log10_reduction, 0.5)
    assert outcome == ConsolidationOutcome("remission", m2, math.inf)
    assert (record.cycle1_mrd_percent, record.cycle2_mrd_percent) == (m1, None)
    assert record.inpatient_days == 0.0  # blinatumomab is not counted as inpatient
    assert events == [
        (30.0, "consolidation_start", ("blinatumomab", {"cycle": 1})),
        (30.0, "adverse_event", ("infection_grade3plus", {"cycle": 1})),
        (65.0, "mrd", ("blinatumomab", {"cycle": 1, "mrd_percent": m1})),
        (65.0, "consolidation_start", ("blinatumomab", {"cycle": 2})),
        (100.0, "mrd", ("blinatumomab", {"cycle": 2})),
    ]


# (therapy, EOB1 MRD, cycle-1 MRD uniform, stop uniform, stops): the stop probability
# is chosen by the MRD after cycle 1 (chemo: 0.0277 negative, 0.428 positive;
# blinatumomab: 0.151 negative, 0 positive).
STOP_CASES = [
    pytest.param("chemo", 0.5, 0.5, 0.2, True, id="chemo-positive-stops"),
    pytest.param("chemo", 0.005, 0.5, 0.2, False, id="chemo-negative-goes-on"),
    pytest.param("blinatumomab", 0.5, 0.5, 0.1, True, id="blinatumomab-negative-stops"),
    pytest.param("blinatumomab", 0.5, 0.9999, 0.1, False, id="blinatumomab-positive-goes-on"),
]


@pytest.mark.parametrize("therapy, m0, u_mrd, u_stop, stops", STOP_CASES)
def test_stop_after_cycle1_by_mrd_status(params, therapy, m0, u_mrd, u_stop, stops) -> None:
    block = getattr(params.consolidation, therapy)
    m1 = mrd_after(m0, block.mrd_log10_reduction, u_mrd)
    stop_prob = block.stop_after_cycle1_prob.mrd_negative if m1 < 0.01 else block.stop_after_cycle1_prob.mrd_positive
    assert (u_stop < stop_prob) is stops
    record = randomised_patient(mrd_percent=m0)
    draws = {**NO_RELAPSE, **cycle_draws(therapy, 1, u_mrd=u_mrd), f"consolidation.{therapy}.stop_after_cycle1": u_stop}
    if not stops:
        draws.update(cycle_draws(therapy, 2, u_mrd=0.5))
    outcome, events = run_consolidation(params, record, therapy, draws)
    assert outcome.status == "remission"
    if stops:
        assert outcome.mrd_percent == m1
        assert record.now_days == 65.0 and record.consolidation_cycles == 1
        assert record.cycle2_mrd_percent is None
        assert events[-1] == (65.0, "consolidation_stopped", (therapy, {"cycle": 1}))
    else:
        assert record.now_days == 100.0 and record.consolidation_cycles == 2
        assert "consolidation_stopped" not in [e for _, e, _ in events]


@pytest.mark.parametrize("therapy, cycle", [("chemo", 1), ("blinatumomab", 2)])
def test_late_treatment_failure_at_the_end_of_the_cycle(params, therapy, cycle) -> None:
    record = randomised_patient(mrd_percent=0.5)
    draws = {**NO_RELAPSE, **cycle_draws(therapy, 1, u_mrd=None if cycle == 1 else 0.5, late_failure=0.0 if cycle == 1 else 0.999)}
    if cycle == 2:
        draws.update({f"consolidation.{therapy}.stop_after_cycle1": 0.999, **cycle_draws(therapy, 2, u_mrd=None, late_failure=0.0)})
    outcome, events = run_consolidation(params, record, therapy, draws)
    end = EOB1 + cycle * CYCLE_DAYS
    assert outcome.status == "late_failure"
    assert record.now_days == end
    assert record.late_treatment_failure is True
    assert (record.efs_event, record.efs_days, record.efs_event_type) == (True, end, "treatment_failure")
    assert record.os_event is False
    assert getattr(record, f"cycle{cycle}_mrd_percent") is None  # no MRD after a failed cycle
    assert events[-1] == (end, "late_treatment_failure", (therapy, {"cycle": cycle}))


def test_toxic_death_inside_a_blinatumomab_cycle(params) -> None:
    blin = params.consolidation.blinatumomab
    record = randomised_patient(mrd_percent=0.5)
    draws = {
        **NO_RELAPSE,
        **cycle_draws("blinatumomab", 1, u_mrd=0.5),
        "consolidation.blinatumomab.stop_after_cycle1": 0.999,
        **{k: v for k, v in cycle_draws("blinatumomab", 2, u_mrd=None).items() if not k.endswith("late_failure")},
        "consolidation.blinatumomab.cycle2.toxic_death": 0.0,      # < 0.005
        "consolidation.blinatumomab.cycle2.toxic_death_day": 0.25,
    }
    outcome, events = run_consolidation(params, record, "blinatumomab", draws)
    death_day = 65.0 + 0.25 * 28.0
    m1 = mrd_after(0.5, blin.mrd_log10_reduction, 0.5)
    assert outcome == ConsolidationOutcome("death", m1, math.inf)
    assert (record.os_event, record.os_days, record.death_cause) == (True, death_day, "toxicity")
    assert (record.efs_event, record.efs_days, record.efs_event_type) == (True, death_day, "death")
    assert record.consolidation_cycles == 2 and record.cycle2_mrd_percent is None
    assert events[-1] == (death_day, "death", "toxicity")


def test_toxic_death_inside_a_chemo_block_counts_only_the_days_in_hospital(params) -> None:
    record = randomised_patient(mrd_percent=0.5)
    draws = {
        **NO_RELAPSE,
        **{k: v for k, v in cycle_draws("chemo", 1, u_mrd=None).items() if not k.endswith("late_failure")},
        "consolidation.chemo.cycle1.toxic_death": 0.0,
        "consolidation.chemo.cycle1.toxic_death_day": 0.25,
    }
    run_consolidation(params, record, "chemo", draws)
    assert record.os_days == EOB1 + 7.0
    assert record.inpatient_days == 7.0


def test_relapse_cuts_a_cycle_short(params) -> None:
    record = randomised_patient(mrd_percent=0.5)
    draws = {"consolidation.relapse": 0.0, "consolidation.relapse_day": 0.01,
             **{k: v for k, v in cycle_draws("chemo", 1, u_mrd=None).items() if not k.endswith("late_failure")}}
    outcome, events = run_consolidation(params, record, "chemo", draws)
    relapse_day = EOB1 + weibull_days(0.01, 240.0, 1.2)
    assert 30.0 < relapse_day < 65.0
    assert outcome == ConsolidationOutcome("relapse", 0.5, relapse_day)
    assert record.now_days == relapse_day
    assert record.cycle1_mrd_percent is None and record.late_treatment_failure is False
    assert events == [(30.0, "consolidation_start", ("chemo", {"cycle": 1}))]


@pytest.mark.parametrize("therapy, relapses", [("chemo", True), ("blinatumomab", False)])
def test_mrd_response_moves_the_relapse_clock(params, therapy, relapses) -> None:
    """One relapse uniform between the MRD-negative and MRD-positive relapse probabilities:
    the relapse day planned at randomisation (MRD-positive) falls in cycle 2; blinatumomab
    clears MRD in cycle 1, the re-evaluated clock says cured; chemotherapy does not."""
    c = params.consolidation
    p_negative = c.no_hsct_relapse_prob
    p_positive = expit(logit(c.no_hsct_relapse_prob) + 1.0)
    u_relapse = 0.35
    assert p_negative < u_relapse < p_positive
    u_day = u_for_days(50.0, 240.0, 1.2)
    relapse_day = EOB1 + weibull_days(u_day, 240.0, 1.2)
    assert 65.0 < relapse_day < 100.0
    block = getattr(c, therapy)
    m1 = mrd_after(0.5, block.mrd_log10_reduction, 0.5)
    assert (m1 >= 0.01) is relapses
    record = randomised_patient(mrd_percent=0.5)
    draws = {"consolidation.relapse": u_relapse, "consolidation.relapse_day": u_day,
             **cycle_draws(therapy, 1, u_mrd=0.5), f"consolidation.{therapy}.stop_after_cycle1": 0.999}
    if relapses:
        draws.update({k: v for k, v in cycle_draws(therapy, 2, u_mrd=None).items() if not k.endswith("late_failure")})
    else:
        draws.update(cycle_draws(therapy, 2, u_mrd=0.5))
    outcome, _ = run_consolidation(params, record, therapy, draws)
    if relapses:
        assert outcome == ConsolidationOutcome("relapse", m1, relapse_day)
        assert record.now_days == relapse_day
    else:
        assert outcome.status == "remission" and outcome.relapse_day == math.inf
        assert record.now_days == 100.0


# --- HR/IR routing: consolidation -> HSCT -> follow-up ---------------------------------

def run_hr_ir(models, record, therapy, draws, follow_up_from=None):
    def process(env, streams, log):
        return hr_ir_course(env, record, therapy, models, streams, log)
    return trace(process, record, draws, follow_up_from)


def test_chemo_to_hsct_after_both_cycles_then_transplant_related_death(models, params) -> None:
    """Donor search (matched unrelated, 42 days from day 30) ends before consolidation (day 100):
    HSCT on day 100 + 7; TRM at the median of its Weibull, 90 days later."""
    record = randomised_patient(mrd_percent=0.5)
    draws = {
        **NO_RELAPSE, **cycle_draws("chemo", 1), "consolidation.chemo.stop_after_cycle1": 0.999, **cycle_draws("chemo", 2),
        "hsct.proceed": 0.3,         # MRD-positive: 0.3 < 0.426
        "hsct.donor": 0.6,           # cumulative shares 0.25, 0.52, 0.85, 1: matched unrelated
        "hsct.trm": 0.0, "hsct.trm_day": 0.5,
        "hsct.relapse": 0.999, "hsct.relapse_day": 0.5,
    }
    hsct_day = max(100.0, EOB1 + 42.0) + 7.0
    _, events = run_hr_ir(models, record, "chemo", draws, follow_up_from=hsct_day)
    assert record.cycle2_mrd_percent >= 0.01
    trm_day = hsct_day + weibull_days(0.5, 90.0, 1.0)
    assert (hsct_day, trm_day) == (107.0, 197.0)
    assert (record.hsct, record.hsct_day, record.donor_type) == (True, hsct_day, "matched_unrelated")
    assert (record.os_event, record.os_days, record.death_cause) == (True, trm_day, "transplant")
    assert (record.efs_days, record.efs_event_type) == (trm_day, "death")
    assert record.relapse_day is None
    assert events[-2:] == [(hsct_day, "hsct", "matched_unrelated"), (trm_day, "death", "transplant")]


def test_blinatumomab_early_hsct_waits_for_the_donor_then_relapse_and_death(models, params) -> None:
    """MRD-negative after cycle 1, stops; the mismatched unrelated donor search (56 days from
    day 30) ends after consolidation (day 65): HSCT on day 86 + 7. Relapse after HSCT at the
    median (180 days), salvage, death from relapse at the median (270 days)."""
    record = randomised_patient(mrd_percent=0.5)
    draws = {
        **NO_RELAPSE, **cycle_draws("blinatumomab", 1), "consolidation.blinatumomab.stop_after_cycle1": 0.1,
        "hsct.proceed": 0.5,         # MRD-negative: 0.5 < 0.763
        "hsct.donor": 0.9,           # mismatched unrelated
        "hsct.trm": 0.999, "hsct.trm_day": 0.5,
        "hsct.relapse": 0.0, "hsct.relapse_day": 0.5,
        "follow_up.salvage": 0.5,    # cumulative 0.35, 0.55, 0.80, 1: inotuzumab
        "follow_up.relapse_death": 0.0, "follow_up.relapse_death_day": 0.5,
    }
    hsct_day = max(65.0, EOB1 + 56.0) + 7.0
    _, events = run_hr_ir(models, record, "blinatumomab", draws, follow_up_from=hsct_day)
    relapse_day = hsct_day + weibull_days(0.5, 180.0, 1.2)
    death_day = relapse_day + weibull_days(0.5, 270.0, 1.0)
    assert (hsct_day, relapse_day, death_day) == (93.0, 273.0, 543.0)
    assert record.consolidation_cycles == 1
    assert (record.hsct_day, record.donor_type) == (hsct_day, "mismatched_unrelated")
    assert (record.relapse_day, record.efs_days, record.efs_event_type) == (relapse_day, relapse_day, "relapse")
    assert record.salvage == "inotuzumab"
    assert (record.os_days, record.death_cause) == (death_day, "relapse")
    assert events[-5:] == [
        (65.0, "consolidation_stopped", ("blinatumomab", {"cycle": 1})),
        (hsct_day, "hsct", "mismatched_unrelated"),
        (relapse_day, "relapse", "after_hsct"),
        (relapse_day, "salvage", "inotuzumab"),
        (death_day, "death", "relapse"),
    ]


def test_relapse_while_waiting_for_the_donor_means_no_transplant(models, params) -> None:
    """Relapse clock at day 30 + 45: after consolidation stops (day 65), before HSCT (day 93)."""
    u_day = u_for_days(45.0, 240.0, 1.2)
    relapse_day = EOB1 + weibull_days(u_day, 240.0, 1.2)
    assert 65.0 < relapse_day < 93.0
    record = randomised_patient(mrd_percent=0.5)
    draws = {
        "consolidation.relapse": 0.1, "consolidation.relapse_day": u_day,   # 0.1 < 0.237 even MRD-negative
        **cycle_draws("blinatumomab", 1), "consolidation.blinatumomab.stop_after_cycle1": 0.1,
        "hsct.proceed": 0.5, "hsct.donor": 0.9,
        "follow_up.salvage": 0.0,    # CAR-T
        "follow_up.relapse_death": 0.9, "follow_up.relapse_death_day": 0.5,  # 0.9 >= 1 - 0.501: survives
    }
    _, events = run_hr_ir(models, record, "blinatumomab", draws, follow_up_from=relapse_day)
    assert record.hsct is False and record.hsct_day is None
    assert (record.relapse_day, record.efs_event_type, record.salvage) == (relapse_day, "relapse", "car_t")
    assert record.os_event is False and record.now_days == HORIZON  # followed to the horizon
    assert events[-2:] == [(relapse_day, "relapse", "after_hr_ir"), (relapse_day, "salvage", "car_t")]


@pytest.mark.parametrize("u_death, dies", [(0.0, True), (0.999, False)])
def test_no_hsct_then_remission_death_or_horizon(models, params, u_death, dies) -> None:
    record = randomised_patient(mrd_percent=0.5)
    draws = {
        **NO_RELAPSE, **cycle_draws("chemo", 1), "consolidation.chemo.stop_after_cycle1": 0.999, **cycle_draws("chemo", 2),
        "hsct.proceed": 0.9,         # >= 0.426: no HSCT
        "follow_up.remission_death": u_death, "follow_up.remission_death_day": 0.5,   # p = 0.02
    }
    _, events = run_hr_ir(models, record, "chemo", draws, follow_up_from=100.0)
    assert record.hsct is False and record.donor_type is None
    assert (100.0, "no_hsct", None) in events
    if dies:
        assert (record.os_days, record.death_cause, record.efs_event_type) == (465.0, "other", "death")
        assert events[-1] == (465.0, "death", "other")
    else:
        assert record.os_event is False and record.efs_event is False
        assert record.now_days == HORIZON and events[-1] == (100.0, "no_hsct", None)


# --- LR arms ------------------------------------------------------------------------

def lr_draws(u_relapse: float = 0.999, u_relapse_day: float = 0.5, u_toxic: float = 0.999) -> dict[str, float]:
    draws = {"low_risk.relapse": u_relapse, "low_risk.relapse_day": u_relapse_day, "low_risk.toxic_death": u_toxic,
             "low_risk.febrile_neutropenia": 0.0, "low_risk.infection": 0.999, "low_risk.sepsis": 0.999}
    return draws


THIRD_BLOCK = {"chemo": "block3", "blinatumomab": "blinatumomab_block"}


@pytest.mark.parametrize("therapy", ["chemo", "blinatumomab"])
@pytest.mark.parametrize(
    "site, cns_status, irradiated",
    [("marrow_cns", "CNS3", True), ("isolated_cns", "CNS2", True), ("isolated_marrow", "CNS1", False),
     ("isolated_testis", "CNS1", False)],
)
def test_low_risk_therapy_stages_add_up(params, therapy, site, cns_status, irradiated) -> None:
    lr = params.low_risk
    third = lr.blinatumomab_block_days if therapy == "blinatumomab" else lr.block_days
    maintenance_start = EOB1 + lr.block_days + third + lr.continuation_days
    assert maintenance_start == 198.0 and EOB1 + lr.therapy_total_days == 760.0
    group = "bm_ge36" if site.startswith(("marrow", "isolated_marrow")) else "iem_ge18"
    record = randomised_patient(mrd_percent=0.005, relapse_group=group, relapse_site=site, cns_status=cns_status)

    def process(env, streams, log):
        return low_risk_therapy(env, record, lr, therapy, 0.005, params.prognosis, streams, log)
    (status, relapse_day), events = trace(process, record, lr_draws())
    assert (status, relapse_day) == ("completed", math.inf)
    assert record.now_days == 760.0
    expected = [
        (30.0, "therapy_start", "block2"),
        (58.0, "therapy_start", THIRD_BLOCK[therapy]),
        (58.0, "adverse_event", "febrile_neutropenia_grade3plus"),
        (86.0, "therapy_start", "continuation"),
        (198.0, "therapy_start", "maintenance"),
        *([(198.0, "cranial_irradiation", (None, {"dose_gy": 18.0}))] if irradiated else []),
        (760.0, "therapy_end", None),
    ]
    assert events == expected


class CountingWaits(simpy.Environment):
    """An environment that counts the SimPy waits (timeouts) it is asked for."""

    def __init__(self, initial_time: float) -> None:
        super().__init__(initial_time)
        self.waits = 0

    def timeout(self, delay: float = 0, value: object = None) -> simpy.Timeout:
        self.waits += 1
        return super().timeout(delay, value)


@pytest.mark.parametrize("phase", ["low_risk", "consolidation"])
@pytest.mark.parametrize("case", ["completes", "toxic death", "ample beds"])
def test_a_phase_waits_in_simpy_at_each_step_only_when_given_the_environment(params, phase, case) -> None:
    """A phase given the run's environment waits in SimPy at each step: LR Blocks 2 and 3,
    continuation and maintenance; each chemotherapy cycle with its rest, or, with a limited
    resource (here beds nobody has to wait for), the cycle and its rest apart (the bed is held for
    the cycle alone). Given none, as the pathway runs a phase when nothing is limited, the phase
    makes no SimPy wait at all (its generator ends at its first step) and gives the same days,
    rows, record and outcome, whether it completes or a death cuts it short. (The capacity tests
    check the same of whole replications.)"""
    toxic = case == "toxic death"
    waits = {("low_risk", "completes"): 4, ("low_risk", "toxic death"): 3, ("low_risk", "ample beds"): 4,
             ("consolidation", "completes"): 2, ("consolidation", "toxic death"): 1,
             ("consolidation", "ample beds"): 4}[(phase, case)]
    if phase == "low_risk":
        draws = {**lr_draws(u_toxic=0.0 if toxic else 0.999), "low_risk.toxic_death_day": 0.1}
        end = EOB1 + 0.1 * 730.0 if toxic else 760.0
    else:
        draws = {**NO_RELAPSE, **cycle_draws("chemo", 2), "consolidation.chemo.stop_after_cycle1": 0.999,
                 **cycle_draws("chemo", 1, **({"toxic_death": 0.0, "toxic_death_day": 0.5} if toxic else {}))}
        end = EOB1 + 0.5 * 28.0 if toxic else EOB1 + 2 * CYCLE_DAYS

    def steps(env: simpy.Environment | None, resources: Resources | None):
        record = randomised_patient(mrd_percent=0.005, relapse_site="isolated_marrow", cns_status="CNS1")
        log, streams = EventLog(), FixedStreams(1, draws)
        phase_of = low_risk_therapy if phase == "low_risk" else consolidation
        phase_params = params.low_risk if phase == "low_risk" else params.consolidation
        return record, log, phase_of(env, record, phase_params, "chemo", 0.005, params.prognosis, streams, log,
                                     resources)

    env = CountingWaits(EOB1)
    beds = TrackedResource(env, 100, "inpatient_beds")
    resources = Resources(beds, None, None, True) if case == "ample beds" else None
    record, log, generator = steps(env, resources)
    process = env.process(generator)
    env.run()
    assert record.now_days == end and env.now == end
    assert env.waits == waits
    assert record.os_event == toxic
    assert len(set(log.time_days)) > 1  # the stages are written at their own days
    if resources is None:
        alone, alone_log, generator = steps(None, None)
        with pytest.raises(StopIteration) as ended:
            next(generator)
        assert ended.value.value == process.value
        assert alone_log.rows == log.rows
        assert [getattr(alone, f.name) for f in fields(alone)] == [getattr(record, f.name) for f in fields(record)]


def test_low_risk_toxic_death_at_a_uniform_day_of_therapy(params) -> None:
    record = randomised_patient(mrd_percent=0.005, relapse_site="isolated_marrow", cns_status="CNS1")
    draws = {**lr_draws(u_toxic=0.0), "low_risk.toxic_death_day": 0.1}   # 0 < 0.01

    def process(env, streams, log):
        return low_risk_therapy(env, record, params.low_risk, "chemo", 0.005, params.prognosis, streams, log)
    (status, _), events = trace(process, record, draws)
    death_day = EOB1 + 0.1 * 730.0
    assert status == "death"
    assert (record.os_days, record.death_cause, record.efs_event_type) == (death_day, "toxicity", "death")
    assert events[-2:] == [(86.0, "therapy_start", "continuation"), (death_day, "death", "toxicity")]


def test_low_risk_relapse_probability_by_arm_and_relapse_in_continuation(models, params) -> None:
    """A marrow relapse uniform between the arms' fitted probabilities (D 0.183 < u < C 0.381):
    the chemotherapy arm relapses in continuation and gets salvage; the blinatumomab arm
    completes therapy and stays in remission to the horizon."""
    lr = params.low_risk
    u_relapse = 0.3
    assert lr.relapse_prob_marrow.blinatumomab < u_relapse < lr.relapse_prob_marrow.chemo
    u_day = u_for_days(100.0, 540.0, 1.5)
    relapse_day = EOB1 + weibull_days(u_day, 540.0, 1.5)
    assert 86.0 < relapse_day < 198.0  # continuation

    chemo = randomised_patient(mrd_percent=0.005)
    draws = {**lr_draws(u_relapse, u_day), "follow_up.salvage": 0.9,        # second HSCT
             "follow_up.relapse_death": 0.999, "follow_up.relapse_death_day": 0.5}
    _, events = trace(lambda env, streams, log: lr_course(env, chemo, "chemo", models, streams, log), chemo, draws,
                      follow_up_from=relapse_day)
    assert (chemo.relapse_day, chemo.efs_days, chemo.efs_event_type) == (relapse_day, relapse_day, "relapse")
    assert (chemo.salvage, chemo.os_event, chemo.now_days) == ("second_hsct", False, HORIZON)
    assert events[-3:] == [(86.0, "therapy_start", "continuation"), (relapse_day, "relapse", "after_lr"),
                           (relapse_day, "salvage", "second_hsct")]

    blin = randomised_patient(mrd_percent=0.005)
    draws = {**lr_draws(u_relapse, u_day), "follow_up.remission_death": 0.999, "follow_up.remission_death_day": 0.5}
    _, events = trace(lambda env, streams, log: lr_course(env, blin, "blinatumomab", models, streams, log), blin, draws,
                      follow_up_from=760.0)
    assert blin.relapse_day is None and blin.efs_event is False and blin.os_event is False
    assert blin.now_days == HORIZON
    assert events[-1] == (760.0, "therapy_end", None)


# --- off protocol ------------------------------------------------------------------------

def test_after_early_failure_salvage_hsct_then_death(params) -> None:
    """The off-protocol transplant takes the HSCT phase's path: a matched unrelated donor found 42
    days after the failure, 7 days of conditioning; no transplant-related death; death of
    progression at the median of its Weibull after the graft."""
    record = randomised_patient(mrd_percent=None)
    draws = {
        "off_protocol.salvage_blinatumomab": 0.1,   # < 0.524
        "off_protocol.failure_hsct": 0.05,          # < 0.119
        "hsct.donor": 0.6,                          # matched unrelated
        "hsct.trm": 0.999, "hsct.trm_day": 0.5,     # no transplant-related death
        "off_protocol.failure_death": 0.0,          # < 1 - 0.6 / (1 - TRM)
        "off_protocol.failure_death_day": 0.5,
    }
    _, events = trace(lambda env, streams, log: after_failure(
        env, record, params.off_protocol, params.hsct, params.prognosis, streams, log), record, draws)
    hsct_day = EOB1 + 42.0 + 7.0
    death_day = hsct_day + weibull_days(0.5, 150.0, 1.0)
    assert (hsct_day, death_day) == (79.0, 229.0)
    assert (record.salvage, record.hsct, record.hsct_day, record.donor_type) == ("blinatumomab", True, hsct_day, "matched_unrelated")
    assert (record.os_days, record.death_cause) == (death_day, "progression")
    assert events == [(30.0, "salvage", "blinatumomab"), (hsct_day, "hsct", "matched_unrelated"), (death_day, "death", "progression")]


def test_after_early_failure_hsct_can_end_in_transplant_related_death(params) -> None:
    """TRM as after any transplant; survival of progression is 3 in 5 over (1 - TRM), so a draw
    just above 1 - 0.6 / (1 - TRM) survives progression and dies of the transplant."""
    record = randomised_patient(mrd_percent=None)
    trm = params.hsct.trm_prob  # aged 8: no AYA factor
    progression_death = 1.0 - params.off_protocol.failure_survival_prob_hsct / (1.0 - trm)
    draws = {
        "off_protocol.salvage_blinatumomab": 0.9,   # no salvage blinatumomab
        "off_protocol.failure_hsct": 0.05,
        "hsct.donor": 0.1,                          # matched sibling: 14 days
        "hsct.trm": 0.0, "hsct.trm_day": 0.5,
        "off_protocol.failure_death": progression_death + 1e-9,
        "off_protocol.failure_death_day": 0.5,
    }
    _, events = trace(lambda env, streams, log: after_failure(
        env, record, params.off_protocol, params.hsct, params.prognosis, streams, log), record, draws)
    hsct_day = EOB1 + 14.0 + 7.0
    trm_day = hsct_day + weibull_days(0.5, 90.0, 1.0)
    assert (record.hsct_day, record.donor_type, record.os_days, record.death_cause) == (
        hsct_day, "matched_sibling", trm_day, "transplant")
    assert events == [(hsct_day, "hsct", "matched_sibling"), (trm_day, "death", "transplant")]


@pytest.mark.parametrize("above, dies", [(1e-9, False), (-1e-9, True)])
def test_after_failure_hsct_survival_uses_the_reference_trm(params, above, dies) -> None:
    """3 of 5 alive after HSCT at the reference TRM: an adolescent (higher TRM) keeps the same
    progression threshold, 1 - 0.6 / (1 - trm_prob), so his higher TRM adds to his risk."""
    record = randomised_patient(mrd_percent=None, age_years=20.0)
    threshold = 1.0 - params.off_protocol.failure_survival_prob_hsct / (1.0 - params.hsct.trm_prob)
    draws = {
        "off_protocol.salvage_blinatumomab": 0.9, "off_protocol.failure_hsct": 0.05, "hsct.donor": 0.1,
        "hsct.trm": 0.999, "hsct.trm_day": 0.5,
        "off_protocol.failure_death": threshold + above, "off_protocol.failure_death_day": 0.5,
    }
    trace(lambda env, streams, log: after_failure(
        env, record, params.off_protocol, params.hsct, params.prognosis, streams, log), record, draws)
    assert record.hsct and (record.death_cause == "progression") is dies and record.os_event is dies


def test_after_failure_the_disease_can_kill_while_queued_for_a_slot(params) -> None:
    """Every slot taken: the patient bound for HSCT after failure waits, and the untreated disease's
    clock from the failure (no-HSCT survival) ends the wait: no transplant, death of progression."""
    record = randomised_patient(mrd_percent=None)
    draws = {
        "off_protocol.salvage_blinatumomab": 0.9, "off_protocol.failure_hsct": 0.05, "hsct.donor": 0.1,
        "off_protocol.failure_death": 0.0, "off_protocol.failure_death_day": 0.5,
    }

    def process(env, streams, log):
        slots = TrackedPriorityResource(env, 1, "hsct_slots")
        slots.request(priority=-1.0)  # taken for good
        return after_failure(env, record, params.off_protocol, params.hsct, params.prognosis, streams, log, slots)

    _, events = trace(process, record, draws)
    death_day = EOB1 + weibull_days(0.5, 150.0, 1.0)
    assert (record.hsct, record.hsct_wait_outcome, record.death_cause, record.os_days) == (
        False, "death", "progression", death_day)
    assert record.hsct_wait_days == death_day - (EOB1 + 14.0)  # queued from the donor found, day 44
    assert events[-2:] == [(death_day, "queue", "hsct_slots: death"), (death_day, "death", "progression")]


def test_after_early_failure_without_hsct_survivor_is_followed_to_the_censor_day(params) -> None:
    record = randomised_patient(mrd_percent=None, censor_day=500.0)
    draws = {
        "off_protocol.salvage_blinatumomab": 0.9, "off_protocol.failure_hsct": 0.5,
        "off_protocol.failure_death": 0.95,         # >= 1 - 0.131: long-term survivor
        "off_protocol.failure_death_day": 0.5,
    }
    _, events = trace(lambda env, streams, log: after_failure(env, record, params.off_protocol, params.hsct, params.prognosis, streams, log), record, draws)
    assert events == []
    assert (record.salvage, record.hsct, record.os_event, record.now_days) == (None, False, False, 500.0)


# (course uniform, has an event, dies): one uniform sets both, 1 - OS = 0.802 < 1 - EFS = 0.919.
NOT_ASSIGNED_CASES = [
    pytest.param(0.5, True, True, id="event-then-death"),
    pytest.param(0.85, True, False, id="event-survivor"),
    pytest.param(0.95, False, False, id="event-free"),
]


@pytest.mark.parametrize("u_course, has_event, dies", NOT_ASSIGNED_CASES)
def test_not_assigned_course(params, u_course, has_event, dies) -> None:
    record = randomised_patient(mrd_percent=0.005)
    draws = {"off_protocol.course": u_course, "off_protocol.event_day": 0.5}
    if dies:
        draws["off_protocol.death_day"] = 0.5
    _, events = trace(
        lambda env, streams, log: not_assigned_course(env, record, params.off_protocol, params.prognosis, streams, log), record, draws
    )
    event_day = EOB1 + weibull_days(0.5, 120.0, 1.0)
    death_day = event_day + weibull_days(0.5, 180.0, 1.0)
    assert (event_day, death_day) == (150.0, 330.0)
    assert record.efs_event is has_event and record.os_event is dies
    if has_event:
        assert (record.efs_days, record.efs_event_type, record.relapse_day) == (event_day, "relapse", event_day)
    if dies:
        assert (record.os_days, record.death_cause) == (death_day, "relapse")
        assert events == [(event_day, "relapse", "off protocol"), (death_day, "death", "relapse")]
    else:
        assert record.now_days == HORIZON
        assert events == ([(event_day, "relapse", "off protocol")] if has_event else [])


# --- salvage after relapse ------------------------------------------------------------------

@pytest.mark.parametrize(
    "group, site, dies",
    [("iem_ge18", "isolated_cns", True), ("bm_ge36", "isolated_marrow", False)],
)
def test_after_lr_relapse_extramedullary_survival_is_lower(params, group, site, dies) -> None:
    """After arm D: survival 0.9405 for marrow relapses, shifted by -1.73 log-odds for
    isolated extramedullary ones; a death uniform of 0.1 lies between the two death risks."""
    sr = params.second_relapse
    marrow_death = 1 - sr.survival_prob_after_lr.blinatumomab
    em_death = 1 - expit(logit(sr.survival_prob_after_lr.blinatumomab) + sr.extramedullary_after_lr_log_odds)
    assert marrow_death < 0.1 < em_death
    record = randomised_patient(mrd_percent=0.005, relapse_group=group, relapse_site=site)
    record.now_days = 400.0
    draws = {"follow_up.salvage": 0.6, "follow_up.relapse_death": 0.1, "follow_up.relapse_death_day": 0.5}
    _, events = trace(
        lambda env, streams, log: after_relapse(record, sr, params.prognosis, "after_lr", streams, log, "blinatumomab"), record, draws,
        follow_up_from=400.0,
    )
    assert (record.relapse_day, record.efs_days, record.salvage) == (400.0, 400.0, "blinatumomab")
    assert events[:2] == [(400.0, "relapse", "after_lr"), (400.0, "salvage", "blinatumomab")]
    if dies:
        assert (record.os_days, record.death_cause) == (670.0, "relapse")
    else:
        assert record.os_event is False and record.now_days == HORIZON
