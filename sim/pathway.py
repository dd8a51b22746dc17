"""Routing between phases: where each patient goes next, in one place.

    enrolment -> Block 1 -> death
                         -> early treatment failure -> off-protocol salvage
                         -> never risk-assigned      -> off-protocol course
                         -> risk-assigned -> not randomised -> protocol-like care or off-protocol course
                                          -> HR/IR arm A/B  -> consolidation -> HSCT -> follow-up
                                          -> LR arm C/D     -> LR therapy -> follow-up

Each phase is a generator in ``sim.phases`` returning its outcome; this module
reads outcomes, chooses the next phase, and closes every patient exactly once
(``pathway_end``: death or censoring at the horizon or data cut-off).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import simpy

from .parameters import Scenario
from .phases.assignment import assignment
from .phases.block1 import Block1Model, block1
from .phases.common import censor, death, efs_event
from .phases.consolidation import consolidation
from .phases.follow_up import after_relapse, in_remission, relapse_log_odds
from .phases.hsct import transplant, transplant_outcome_days, wait_for_hsct
from .phases.low_risk import low_risk_therapy
from .phases.off_protocol import after_failure, not_assigned_course
from .records import EventLog, PatientRecord
from .streams import Streams
from .survival import cure_weibull_time

# The therapy each AALL1331 arm gives after Block 1.
ARM_THERAPY = {"A_chemo": "chemo", "B_blinatumomab": "blinatumomab", "C_chemo": "chemo", "D_blinatumomab": "blinatumomab"}
MRD_NEGATIVE_PERCENT = 0.01


@dataclass(frozen=True)
class Models:
    """Realised parameters and per-phase derived constants for one replication."""

    scenario: Scenario
    block1: Block1Model


def censor_day(record: PatientRecord, scenario: Scenario) -> float:
    """End of follow-up on the patient's clock: horizon, or data cut-off if sooner."""
    follow_up = scenario.follow_up
    end = follow_up.horizon_days
    if follow_up.data_cutoff_day is not None:
        end = min(end, follow_up.data_cutoff_day - record.enrolment_day)
    return end


def remission_death_day(record: PatientRecord, scenario: Scenario, streams: Streams) -> float:
    params = scenario.follow_up
    i = record.patient_id
    return record.now_days + cure_weibull_time(
        streams.uniform("follow_up.remission_death", i), streams.uniform("follow_up.remission_death_day", i),
        params.remission_death_prob, params.remission_death_timing.median_days, params.remission_death_timing.shape,
    )


def hr_ir_course(env, record, therapy, models, streams, log) -> Generator[simpy.Event, object, None]:
    """HR/IR: two consolidation cycles, then HSCT for those in remission who proceed."""
    scenario = models.scenario
    log_odds = relapse_log_odds(record, scenario.relapse_covariates)
    randomisation_day = record.now_days
    out = yield from consolidation(
        env, record, scenario.consolidation, therapy, record.eob1_mrd_percent, log_odds, streams, log
    )
    if out.status == "relapse":
        return (yield from after_relapse(env, record, scenario.second_relapse, "after_hr_ir", streams, log))
    if out.status == "late_failure":
        return (yield from after_failure(env, record, scenario.off_protocol, streams, log))
    if out.status != "remission":
        return
    negative = out.mrd_percent < MRD_NEGATIVE_PERCENT
    params = scenario.consolidation
    go = streams.uniform("hsct.proceed", record.patient_id) < (
        params.hsct_prob_mrd_negative if negative else params.hsct_prob_mrd_positive
    )
    if not go:
        log.add(record, "no_hsct")
        return (yield from in_remission(
            env, record, scenario.second_relapse, "after_hr_ir", out.relapse_day,
            remission_death_day(record, scenario, streams), "other", streams, log,
        ))
    waited = yield from wait_for_hsct(env, record, scenario.hsct, randomisation_day, out.relapse_day, streams)
    if waited == "relapse":
        return (yield from after_relapse(env, record, scenario.second_relapse, "after_hr_ir", streams, log))
    if waited != "done":
        return
    transplant(record, log)
    relapse_day, trm_day = transplant_outcome_days(record, scenario.hsct, out.mrd_percent, log_odds, streams)
    yield from in_remission(
        env, record, scenario.second_relapse, "after_hsct", relapse_day, trm_day, "transplant", streams, log
    )


def lr_course(env, record, therapy, models, streams, log) -> Generator[simpy.Event, object, None]:
    """LR: chemotherapy or blinatumomab arm to the end of maintenance, then follow-up."""
    scenario = models.scenario
    log_odds = relapse_log_odds(record, scenario.relapse_covariates)
    status, relapse_day = yield from low_risk_therapy(
        env, record, scenario.low_risk, therapy, record.eob1_mrd_percent, log_odds, streams, log
    )
    if status == "relapse":
        yield from after_relapse(env, record, scenario.second_relapse, "after_lr", streams, log, therapy)
    elif status == "completed":
        yield from in_remission(
            env, record, scenario.second_relapse, "after_lr", relapse_day,
            remission_death_day(record, scenario, streams), "other", streams, log, therapy,
        )


def _arm_course(env, record, arm, models, streams, log):
    course = lr_course if record.risk_group == "LR" else hr_ir_course
    return course(env, record, ARM_THERAPY[arm], models, streams, log)


def patient_pathway(
    env: simpy.Environment,
    record: PatientRecord,
    strategy: str,
    models: Models,
    streams: Streams,
    log: EventLog,
    beds: simpy.Resource | None,
) -> Generator[simpy.Event, object, None]:
    """One patient, from enrolment to death or the end of follow-up."""
    scenario = models.scenario
    if record.enrolment_day > 0:
        yield env.timeout(record.enrolment_day)
    record.censor_day = censor_day(record, scenario)
    log.add(record, "enrolment", strategy)
    yield from _after_enrolment(env, record, strategy, models, streams, log, beds)
    censor(record)
    how = "death" if record.os_event else "censored"
    record.pathway_end, record.pathway_end_day = how, record.os_days
    log.add(record, "pathway_end", how)


def _after_enrolment(env, record, strategy, models, streams, log, beds):
    scenario = models.scenario
    outcome = yield from block1(env, record, models.block1, streams, log, beds)
    if outcome.censored:
        return
    if outcome.died:
        return death(record, log, "progression" if record.block1_death_cause == "progression" else "toxicity")
    if outcome.failed:
        record.eob1_mrd_percent = outcome.mrd_percent
        log.add(record, "eob1_mrd", "unknown" if outcome.mrd_percent is None else f"{outcome.mrd_percent:.6g}%")
        efs_event(record, log, "treatment_failure")
        return (yield from after_failure(env, record, scenario.off_protocol, streams, log))

    allocation = yield from assignment(env, record, scenario.assignment, outcome.mrd_percent, streams, log)
    if not allocation.alive:
        return death(record, log, "toxicity")
    if allocation.risk_group is None:
        return (yield from not_assigned_course(env, record, scenario.off_protocol, streams, log))
    if allocation.arm is not None:
        return (yield from _arm_course(env, record, allocation.arm, models, streams, log))
    # Risk-assigned, not randomised: protocol-like care off protocol, or the poor off-protocol course.
    if streams.uniform("off_protocol.protocol_like", record.patient_id) < scenario.off_protocol.not_randomised_protocol_like_prob:
        arm = "C_chemo" if allocation.risk_group == "LR" else "A_chemo"
        log.add(record, "off_protocol_care", arm)
        return (yield from _arm_course(env, record, arm, models, streams, log))
    return (yield from not_assigned_course(env, record, scenario.off_protocol, streams, log))
