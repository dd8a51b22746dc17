"""Risk assignment and allocation after Block 1.

Clinical steps, in order, for a Block 1 survivor without early treatment failure:

1. **Never assigned.** With the scenario's probability the patient is never
   risk-assigned (adverse events, physician or family choice, consent,
   eligibility; reasons drawn from their published counts) and leaves protocol
   therapy. Such a patient has no recorded MRD (section 3.1: unknown MRD comes
   mostly after death, failure or severe toxicity).
2. **COG risk group** (section 1): HR for early marrow (< 36 months) or early
   isolated extramedullary (< 18 months) relapse; otherwise IR when end-of-
   Block-1 MRD >= 0.1%, LR below.
3. **Allocation** (trial emulation): a risk-assigned patient is randomised 1:1
   between the two arms of the risk group with the group's randomisation
   probability; otherwise a reason is drawn, and a patient whose reason is
   death dies within the scenario's window after Block 1.

Parameters: ``[assignment]`` (AALL1331-all section 3.2). Streams: ``assignment.*``.
"""

from __future__ import annotations

from typing import Generator, NamedTuple

import simpy

from sim.clinical import TRIAL_ARMS
from sim.model.phases.common import race
from sim.model.records import EventLog, PatientRecord
from sim.model.streams import Streams, pick_weighted
from sim.scenario.schema import AssignmentParams

EARLY_GROUPS = frozenset({"bm_lt18", "bm_18_36", "iem_lt18"})
# Arms of AALL1331 by risk group: (chemotherapy arm, blinatumomab arm).


def cog_risk_group(relapse_group: str, mrd_percent: float, ir_threshold_percent: float) -> str:
    """The COG AALL1331 rule: timing group x site x end-of-Block-1 MRD."""
    if relapse_group in EARLY_GROUPS:
        return "HR"
    return "IR" if mrd_percent >= ir_threshold_percent else "LR"


class Allocation(NamedTuple):  # a tuple: built for every patient, at half a frozen dataclass's cost
    risk_group: str | None
    arm: str | None          # None when not randomised / not assigned
    alive: bool


def assignment(
    env: simpy.Environment | None,
    record: PatientRecord,
    params: AssignmentParams,
    mrd_percent: float | None,
    streams: Streams,
    log: EventLog,
    randomise: bool = True,
) -> Generator[simpy.Event, object, Allocation]:
    """Assign the risk group and, in the trial, randomise; returns who goes on, and where.

    Without ``randomise`` (a strategy's rule decides the arm) allocation stops
    at the risk group.
    """
    i = record.patient_id
    not_assigned = streams.draws["assignment.not_assigned"][i] < params.not_assigned_prob
    if not_assigned or (mrd_percent is None and record.relapse_group not in EARLY_GROUPS):
        reason = pick_weighted(streams.draws["assignment.not_assigned_reason"][i], params.not_assigned_reasons)
        record.not_assigned_reason = reason
        record.randomized = False
        log.add(record, "not_risk_assigned", reason)
        return Allocation(risk_group=None, arm=None, alive=True)

    record.eob1_mrd_percent = mrd_percent
    log.add(record, "eob1_mrd", "unknown" if mrd_percent is None else None, mrd_percent=mrd_percent)
    risk = cog_risk_group(record.relapse_group, mrd_percent if mrd_percent is not None else 0.0,
                          params.ir_mrd_threshold_percent)
    record.risk_group = risk
    log.add(record, "risk_assigned", risk)
    if not randomise:
        return Allocation(risk, None, True)  # (risk_group, arm, alive): keywords would double its cost

    if streams.draws["assignment.randomised"][i] < getattr(params.randomisation_prob, risk):
        arm = TRIAL_ARMS[risk][int(streams.draws["assignment.arm"][i] < 0.5)]
        record.randomized, record.arm = True, arm
        log.add(record, "randomized", arm)
        return Allocation(risk, arm, True)  # (risk_group, arm, alive), as above

    reason = pick_weighted(streams.draws["assignment.not_randomised_reason"][i], params.not_randomised_reasons)
    record.randomized, record.not_randomized_reason = False, reason
    log.add(record, "not_randomized", reason)
    if reason == "death":
        death_day = record.now_days + streams.draws["assignment.death_day"][i] * params.death_before_randomisation_max_days
        if (yield from race(env, record, death_day)) == "censored":
            return Allocation(risk_group=risk, arm=None, alive=True)
        return Allocation(risk_group=risk, arm=None, alive=False)
    return Allocation(risk_group=risk, arm=None, alive=True)
