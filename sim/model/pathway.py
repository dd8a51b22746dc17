"""Routing between phases: where each patient goes next, in one place.

    enrolment -> reinduction (strategy's) -> death
                 [MITCL: second cycle if no CR]
              -> failure -> off-protocol salvage  [or blinatumomab for partial responders]
              -> never risk-assigned      -> off-protocol course
              -> risk-assigned -> by the strategy's rule:
                   trial: not randomised -> off-protocol chemo / blinatumomab (as the arms) or palliative
                          randomised     -> the arm drawn
                   chemo / blinatumomab  -> that arm of the risk group
                   hsct_in_cr            -> HSCT (listed risk groups), else the rule's other arm
              arms: HR/IR A/B -> consolidation -> HSCT -> follow-up
                    LR C/D    -> LR therapy    -> follow-up

Each phase is a generator in ``sim.model.phases`` returning its outcome (follow-up, which
runs on the patient's clock with no SimPy wait, a plain function); this module
reads outcomes, chooses the next phase, and closes every patient exactly once
(``pathway_end``: death or censoring at the horizon or data cut-off), then
adds the HSCT admission to ``inpatient_days`` and closes the health states
(``sim.model.phases.common.close_states``), both resource use only.
``arm`` records the course a patient followed: drawn at randomisation in the
trial, set by the rule otherwise (then ``randomized`` is false). The limited
resources of a run (``sim.model.capacity``), when the scenario has any, are handed
to the phases that take them: beds to every inpatient block, HSCT slots to
every transplant, blinatumomab places (or beds) to blinatumomab cycles. Only
then do the phases wait in SimPy at each step; with nothing limited, no patient
can change what happens to another, and the phases run on the patient's own
clock (:func:`patient_pathway`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generator

import simpy

from sim.clinical import ARM_OF, ARM_THERAPY
from sim.model.capacity import Resources
from sim.model.phases.assignment import assignment
from sim.model.phases.block1 import Block1Model, Block1Plan, block1
from sim.model.phases.common import censor, close_states, death, efs_event
from sim.model.phases.consolidation import (
    consolidation,
    hsct_proceed_prob,
    no_hsct_relapse_day,
)
from sim.model.phases.follow_up import after_relapse, in_remission
from sim.model.phases.hsct import (
    admission_days,
    proceeds_to_hsct,
    transplant,
    transplant_outcome_days,
    wait_for_hsct,
)
from sim.model.phases.low_risk import low_risk_therapy
from sim.model.phases.off_protocol import (
    after_failure,
    not_assigned_course,
    not_randomised_care,
)
from sim.model.phases.second_cycle import second_cycle
from sim.model.records import EventLog, PatientRecord
from sim.model.streams import Streams
from sim.model.survival import cure_weibull_time
from sim.scenario.schema import Scenario

# The therapy each AALL1331 arm gives after Block 1, and the arm of each (risk group, therapy).


@dataclass(frozen=True)
class Models:
    """Realised parameters and per-phase derived constants for one replication."""

    scenario: Scenario
    block1: Block1Model
    reinductions: dict[str, Block1Model] = field(default_factory=dict)

    def reinduction(self, name: str) -> Block1Model:
        return self.block1 if name == "r3_block1" else self.reinductions[name]


def _slots(resources: Resources | None):
    return None if resources is None else resources.hsct_slots


def censor_day(record: PatientRecord, scenario: Scenario) -> float:
    """End of follow-up on the patient's clock: horizon, or data cut-off if sooner."""
    follow_up = scenario.follow_up
    end = follow_up.horizon_days
    if follow_up.censoring == "data_cutoff":
        cutoff = follow_up.data_cutoff_day - record.enrolment_day
        if cutoff < end:  # a comparison, not min(): once per patient
            end = cutoff
    return end


def remission_death_day(record: PatientRecord, scenario: Scenario, streams: Streams) -> float:
    params = scenario.follow_up
    i = record.patient_id
    return record.now_days + cure_weibull_time(
        streams.draws["follow_up.remission_death"][i], streams.draws["follow_up.remission_death_day"][i],
        params.remission_death_prob, params.remission_death_timing.median_days, params.remission_death_timing.shape,
    )


def hr_ir_course(env, record, therapy, models, streams, log, resources=None) -> Generator[simpy.Event, object, None]:
    """HR/IR: two consolidation cycles, then HSCT for those in remission who proceed."""
    scenario = models.scenario
    effects = scenario.prognosis
    randomisation_day = record.now_days
    out = yield from consolidation(
        env, record, scenario.consolidation, therapy, record.eob1_mrd_percent, effects, streams, log, resources
    )
    if out.status == "relapse":
        return after_relapse(record, scenario.second_relapse, effects, "after_hr_ir", streams, log)
    if out.status == "late_failure":
        return (yield from after_failure(env, record, scenario.off_protocol, scenario.hsct, scenario.prognosis, streams, log,
                                         _slots(resources)))
    if out.status != "remission":
        return
    proceed_prob = hsct_proceed_prob(scenario.consolidation, out.mrd_percent, effects)
    yield from hsct_or_remission(env, record, models, streams, log, proceed_prob, randomisation_day,
                                 out.relapse_day, out.mrd_percent, resources)


def hsct_or_remission(
    env, record, models, streams, log, proceed_prob: float, search_start_day: float, relapse_day: float,
    pre_hsct_mrd: float | None, resources: Resources | None = None,
) -> Generator[simpy.Event, object, None]:
    """The one HSCT path of every route that transplants: proceed (or stay in remission
    without HSCT), donor search from ``search_start_day`` while the no-HSCT relapse
    clock runs, transplant, then follow-up with post-HSCT relapse and TRM."""
    scenario = models.scenario
    effects = scenario.prognosis
    if not proceeds_to_hsct(record, proceed_prob, streams):
        log.add(record, "no_hsct")
        return in_remission(
            record, scenario.second_relapse, effects, "after_hr_ir", relapse_day,
            remission_death_day(record, scenario, streams), "other", streams, log,
        )
    waited = yield from wait_for_hsct(env, record, scenario.hsct, search_start_day, relapse_day, streams, log,
                                      _slots(resources))
    if waited == "relapse":
        return after_relapse(record, scenario.second_relapse, effects, "after_hr_ir", streams, log)
    if waited != "done":
        return
    transplant(record, scenario.hsct, log)
    relapse_day, trm_day = transplant_outcome_days(record, scenario.hsct, pre_hsct_mrd, effects, streams)
    in_remission(
        record, scenario.second_relapse, effects, "after_hsct", relapse_day, trm_day, "transplant", streams, log
    )


def lr_course(env, record, therapy, models, streams, log, resources=None) -> Generator[simpy.Event, object, None]:
    """LR: chemotherapy or blinatumomab arm to the end of maintenance, then follow-up."""
    scenario = models.scenario
    effects = scenario.prognosis
    status, relapse_day = yield from low_risk_therapy(
        env, record, scenario.low_risk, therapy, record.eob1_mrd_percent, effects, streams, log, resources
    )
    if status == "relapse":
        after_relapse(record, scenario.second_relapse, effects, "after_lr", streams, log, therapy)
    elif status == "completed":
        in_remission(
            record, scenario.second_relapse, effects, "after_lr", relapse_day,
            remission_death_day(record, scenario, streams), "other", streams, log, therapy,
        )


def _arm_course(env, record, arm, models, streams, log, resources):
    course = lr_course if record.risk_group == "LR" else hr_ir_course
    return course(env, record, ARM_THERAPY[arm], models, streams, log, resources)


def patient_pathway(
    env: simpy.Environment,
    record: PatientRecord,
    strategy: str,
    models: Models,
    streams: Streams,
    log: EventLog,
    resources: Resources | None,
    block1_plan: Block1Plan | None = None,
) -> Generator[simpy.Event, object, None]:
    """One patient, from enrolment to death or the end of follow-up, as a SimPy process.

    ``resources`` are the scenario's limited resources (``sim.model.capacity``),
    shared by every patient of this run; None when nothing is limited.
    ``block1_plan`` is the patient's reinduction as drawn for all patients at
    once (:func:`sim.model.phases.block1.block1_plans`); None draws it alone.

    With limited resources the patient enters at its enrolment day and each
    step of its pathway is a SimPy wait, so patients meet, and queue, at the
    resources. With none, no other patient can change what happens to this
    one: the phases run on the patient's own clock (``env`` None in
    :func:`~sim.model.phases.common.race`), which gives the same days, rows
    and draws, and the process then waits in SimPy once, from the start of
    the run. Either way the process ends on the run's clock at the patient's
    enrolment day plus its last day, and the run ends with the last
    patient's pathway.
    """
    scenario = models.scenario
    waits = env if resources is not None else None  # the environment the phases wait in, if any
    if waits is not None and record.enrolment_day > 0:
        yield env.timeout(record.enrolment_day)
    record.censor_day = censor_day(record, scenario)
    log.add(record, "enrolment", strategy)
    yield from _after_enrolment(waits, record, strategy, models, streams, log, resources, block1_plan)
    censor(record)
    record.inpatient_days += admission_days(record, scenario.hsct)
    close_states(record)
    how = "death" if record.os_event else "censored"
    record.pathway_end, record.pathway_end_day = how, record.os_days
    log.add(record, "pathway_end", how)
    # Follow-up ran on the patient's clock (and, with nothing limited, the whole pathway did):
    # the process, and the run, last until it ends. (Closed before this wait, a patient's rows are
    # logged together when nothing is limited: the events table then needs no sort.)
    left = record.enrolment_day + record.now_days - env.now
    if left > 0:
        yield env.timeout(left)


def _after_enrolment(env, record, strategy_name, models, streams, log, resources, block1_plan):
    scenario = models.scenario
    strategy = scenario.strategy(strategy_name)
    record.reinduction, record.reinduction_cycles = strategy.reinduction, 1
    model = models.reinduction(strategy.reinduction)
    beds = None if resources is None else resources.beds
    outcome = yield from block1(env, record, model, streams, log, beds, block1_plan)
    if outcome.censored:
        return
    if outcome.failed and not outcome.died and strategy.reinduction == "mitcl":
        outcome = yield from second_cycle(env, record, model, scenario.mitcl, streams, log, beds)
        if outcome.censored:
            # follow-up ended before the second cycle's death or response was known
            record.block1_death = record.early_treatment_failure = None
            return
        record.early_treatment_failure = outcome.failed
    if outcome.died:
        if not record.os_event:
            death(record, log, "progression" if record.block1_death_cause == "progression" else "toxicity")
        return
    if outcome.failed:
        record.eob1_mrd_percent = outcome.mrd_percent
        log.add(record, "eob1_mrd", "unknown" if outcome.mrd_percent is None else None, mrd_percent=outcome.mrd_percent)
        efs_event(record, log, "treatment_failure")
        partial = strategy.after == "blinatumomab_with_partial_responders" and streams.draws[
            "partial_response.share"][record.patient_id] < scenario.partial_response.partial_response_share_of_failures
        if partial and outcome.mrd_percent is not None:
            # Partial response: blinatumomab at once, as for HR patients (assumption: treated as HR).
            record.risk_group, record.arm = "HR", "B_blinatumomab"
            log.add(record, "partial_response", "blinatumomab at once")
            return (yield from hr_ir_course(env, record, "blinatumomab", models, streams, log, resources))
        return (yield from after_failure(env, record, scenario.off_protocol, scenario.hsct, scenario.prognosis, streams, log,
                                         _slots(resources)))

    randomise = strategy.after == "trial"
    allocation = yield from assignment(
        env, record, scenario.assignment, outcome.mrd_percent, streams, log, randomise=randomise
    )
    if not allocation.alive:
        return death(record, log, "toxicity")
    if record.now_days >= record.censor_day:  # follow-up ended while waiting to start the next phase
        return
    if allocation.risk_group is None:
        return (yield from not_assigned_course(env, record, scenario.off_protocol, scenario.prognosis, streams, log))
    if not randomise:
        return (yield from _by_rule(env, record, strategy, models, streams, log, resources))
    if allocation.arm is not None:
        return (yield from _arm_course(env, record, allocation.arm, models, streams, log, resources))
    # Risk-assigned, not randomised: off-protocol chemotherapy or blinatumomab, or palliative care.
    care = not_randomised_care(record, scenario.off_protocol, streams, log)
    if care == "palliative":
        return (yield from not_assigned_course(env, record, scenario.off_protocol, scenario.prognosis, streams, log))
    return (yield from _arm_course(env, record, ARM_OF[(allocation.risk_group, care)], models, streams, log,
                                   resources))


def _by_rule(env, record, strategy, models, streams, log, resources):
    """Every risk-assigned patient follows the strategy's rule (no randomisation)."""
    therapy = {"chemo": "chemo", "blinatumomab": "blinatumomab", "blinatumomab_with_partial_responders": "blinatumomab"}
    if strategy.after == "hsct_in_cr":
        mitcl = models.scenario.mitcl
        if record.risk_group in mitcl.hsct_risk_groups:
            return (yield from hsct_in_cr_course(env, record, models, streams, log, resources))
        arm = ARM_OF[(record.risk_group, mitcl.otherwise)]
    else:
        arm = ARM_OF[(record.risk_group, therapy[strategy.after])]
    record.arm = arm
    log.add(record, "allocated", arm)
    return (yield from _arm_course(env, record, arm, models, streams, log, resources))


def hsct_in_cr_course(env, record, models, streams, log, resources=None) -> Generator[simpy.Event, object, None]:
    """HSCT straight after reinduction for a patient in CR (MITCL: 32 of 33 CRs went to HSCT).

    The donor search starts at enrolment; the relapse clock without HSCT runs
    meanwhile; the pre-HSCT MRD is the end-of-reinduction MRD.
    """
    scenario = models.scenario
    mrd = record.eob1_mrd_percent
    relapse_day = no_hsct_relapse_day(record, scenario.consolidation, record.now_days, mrd, scenario.prognosis, streams)
    yield from hsct_or_remission(env, record, models, streams, log, scenario.mitcl.hsct_prob_in_cr, 0.0, relapse_day, mrd,
                                 resources)
