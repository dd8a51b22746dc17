"""LR therapy: Arm C (chemotherapy) or Arm D (blinatumomab), no HSCT.

Clinical steps, from randomisation (AALL1331-LR, section 4.2):

1. **Relapse clock**, drawn once (mixture cure): marrow relapses (BM +/- EM)
   with the arm's fitted probability; isolated extramedullary relapses with
   one probability for both arms (section 4.2: no benefit from blinatumomab,
   4-year DFS about 35-45%, an assumption); both shifted by the prognostic
   layer (``sim.model.phases.prognosis``: end-of-Block-1 MRD level, time to first
   relapse, site, age, sex).
2. **Block 2**, then **Block 3** (Arm C) or a **blinatumomab block** (Arm D),
   with the published Block 3 vs blinatumomab rates of febrile
   neutropenia, infection and sepsis recorded; **continuation** (two cycles,
   Arm D intercalated with two more blinatumomab blocks), then
   **maintenance** to about two years from randomisation; 18 Gy cranial
   irradiation in maintenance for CNS disease.
3. **Toxic death** during therapy with a small per-arm probability
   (assumption), at a uniform day of therapy.
4. **Resource use** (recorded only): Blocks 2 and 3 in hospital; blinatumomab
   days of the blinatumomab block and of the two blocks intercalated in
   continuation (spread evenly over it, an assumption).
5. After therapy the patient stays in remission until relapse, death in
   remission or the end of follow-up (``sim.model.phases.follow_up``).

Parameters: ``[low_risk]``, effects ``[prognosis]``. Streams: ``low_risk.*``.
"""

from __future__ import annotations

import math
from typing import Generator

import simpy

from sim.clinical import MARROW_SITES
from sim.model.capacity import Resources
from sim.model.phases.common import (
    death,
    queue_for,
    race,
    start_therapy_block,
)
from sim.model.phases.prognosis import relapse_shift
from sim.model.records import EventLog, PatientRecord
from sim.model.streams import Streams
from sim.model.survival import adjusted_prob, cure_weibull_time
from sim.scenario.post_induction import LowRiskParams, PrognosisParams


def low_risk_relapse_day(
    record: PatientRecord, params: LowRiskParams, therapy: str, mrd_percent: float, effects: PrognosisParams,
    streams: Streams,
) -> float:
    if record.relapse_site in MARROW_SITES:
        base = getattr(params.relapse_prob_marrow, therapy)
    else:
        base = params.relapse_prob_extramedullary
    shift = relapse_shift(record, effects, mrd_percent)
    i = record.patient_id
    return record.now_days + cure_weibull_time(
        streams.draws["low_risk.relapse"][i], streams.draws["low_risk.relapse_day"][i],
        adjusted_prob(base, shift), params.relapse_timing.median_days, params.relapse_timing.shape,
    )


# Block 3's adverse events: (stream, parameter, event label), built once rather than per patient.
_BLOCK3_EVENTS = tuple((f"low_risk.{name}", f"block3_{name}_prob", f"{name}_grade3plus")
                       for name in ("febrile_neutropenia", "infection", "sepsis"))


def low_risk_therapy(
    env: simpy.Environment | None, record: PatientRecord, params: LowRiskParams, therapy: str, mrd_percent: float,
    effects: PrognosisParams, streams: Streams, log: EventLog, resources: Resources | None = None,
) -> Generator[simpy.Event, object, tuple[str, float]]:
    """Therapy to the end of maintenance; returns (status, relapse day).

    Status is "completed", "relapse", "death" or "censored". With limited
    ``resources``, Blocks 2 and 3 wait for a bed and the blinatumomab block
    for its place, each held for the block, in SimPy time; therapy ends that
    much later. Without, the stages' days pass as :func:`~sim.model.phases.common.race`
    makes them: in SimPy when ``env`` is given, else on the patient's clock.
    """
    i = record.patient_id
    start = record.now_days
    relapse_day = low_risk_relapse_day(record, params, therapy, mrd_percent, effects, streams)
    death_day = math.inf
    if streams.draws["low_risk.toxic_death"][i] < getattr(params.toxic_death_prob, therapy):
        death_day = start + streams.draws["low_risk.toxic_death_day"][i] * params.therapy_total_days
    third = params.blinatumomab_block_days if therapy == "blinatumomab" else params.block_days
    stages = (
        ("block2", params.block_days),
        ("blinatumomab_block" if therapy == "blinatumomab" else "block3", third),
        ("continuation", params.continuation_days),
    )
    day = start
    waited_days = 0.0
    for stage, days in stages:
        resource = None if resources is None else _resource_of(stage, resources)
        place = None
        if resource is not None:
            column = "bed_wait_days" if resource is resources.beds else "blinatumomab_wait_days"
            asked = record.now_days
            place, outcome = yield from queue_for(env, record, resource, log, column, relapse=relapse_day,
                                                  death=death_day)
            if place is None:
                return _stop(record, log, outcome, relapse_day)
            waited_days += record.now_days - asked
            day = record.now_days
        log.add(record, "therapy_start", stage)
        if stage in ("block3", "blinatumomab_block"):
            for stream, field, label in _BLOCK3_EVENTS:
                if streams.draws[stream][i] < getattr(getattr(params, field), therapy):
                    log.add(record, "adverse_event", label)
        stage_start = day
        day += days
        start_therapy_block(record, day)  # maintenance is counted as remission off (intensive) therapy
        outcome = yield from race(env, record, day, relapse=relapse_day, death=death_day)
        if place is not None:
            resource.release(place)
        _count_resource_use(record, params, therapy, stage, record.now_days - stage_start)
        if outcome != "done":
            return _stop(record, log, outcome, relapse_day)
    log.add(record, "therapy_start", "maintenance")
    if record.cns_status == "CNS3" or record.relapse_site in ("isolated_cns", "marrow_cns"):
        log.add(record, "cranial_irradiation", dose_gy=18.0)
    end = start + params.therapy_total_days
    if waited_days:
        end += waited_days
    outcome = yield from race(env, record, end, relapse=relapse_day, death=death_day)
    if outcome != "done":
        return _stop(record, log, outcome, relapse_day)
    log.add(record, "therapy_end")
    return "completed", relapse_day


def _resource_of(stage: str, resources: Resources):
    """The place a stage takes: a bed for Blocks 2 and 3 (assumption: given in hospital, as in HR/IR),
    the blinatumomab resource for the blinatumomab block, nothing for continuation."""
    if stage in ("block2", "block3"):
        return resources.beds
    return resources.blinatumomab if stage == "blinatumomab_block" else None
def _count_resource_use(record: PatientRecord, params: LowRiskParams, therapy: str, stage: str, days: float) -> None:
    """Inpatient and blinatumomab days of the ``days`` a stage ran (cut short by relapse or death).

    Blocks 2 and 3 are given in hospital (assumption, as the HR/IR chemotherapy
    blocks); the blinatumomab block is a continuous infusion; Arm D's two
    blinatumomab blocks intercalated in continuation are counted in proportion
    to the part of continuation given (assumption: spread evenly over it).
    """
    if stage in ("block2", "block3"):
        record.inpatient_days += days
    elif stage == "blinatumomab_block":
        record.blinatumomab_days += days
    elif stage == "continuation" and therapy == "blinatumomab" and params.continuation_days > 0:
        share = min(1.0, 2 * params.blinatumomab_block_days / params.continuation_days)
        record.blinatumomab_days += share * days


def _stop(record: PatientRecord, log: EventLog, outcome: str, relapse_day: float) -> tuple[str, float]:
    if outcome == "death":
        death(record, log, "toxicity")
    return outcome, relapse_day
