"""HR/IR consolidation: two cycles of chemotherapy (Arm A) or blinatumomab (Arm B).

Clinical steps, from randomisation (end of Block 1):

1. **Relapse clock.** The day this patient would relapse *if never
   transplanted* is drawn once (mixture cure, ``sim.survival``), with the
   therapy's no-HSCT relapse probability (fitted) shifted by the patient's
   covariates. It keeps running through both cycles, the donor search and
   any wait for HSCT.
2. **Each cycle** (UKALL R3 Block 2 then 3, 4 weeks each; or 28 days of
   blinatumomab then a rest): toxic death at a uniform time inside the cycle;
   grade >= 3 adverse events and infections recorded with the published
   per-cycle rates (AALL1331-HR/IR, section 4.1); relapse if the relapse day
   falls inside; late treatment failure at the end of the cycle; otherwise a
   new marrow MRD level ``log10 m_k = log10 m_(k-1) - reduction + sd e``
   (reduction fitted per therapy to MRD-negativity after cycle 1).
3. **Outcome** handed back to the routing: death, late failure, relapse, or
   remission with the MRD after cycle 2 (the pre-HSCT MRD).

Parameters: ``[consolidation]``. Streams: ``consolidation.*``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generator

import simpy

from ..parameters_post import ConsolidationParams
from ..records import EventLog, PatientRecord
from ..streams import Streams
from ..survival import adjusted_prob, cure_weibull_time
from .common import death, efs_event, race


@dataclass(frozen=True)
class ConsolidationOutcome:
    status: str                 # "remission", "death", "late_failure", "relapse", "censored"
    mrd_percent: float | None   # after the last completed cycle
    relapse_day: float          # the no-HSCT relapse day (patient clock); inf if cured


def no_hsct_relapse_day(
    record: PatientRecord, params: ConsolidationParams, therapy: str, log_odds: float, streams: Streams
) -> float:
    prob = adjusted_prob(getattr(params.no_hsct_relapse_prob, therapy), log_odds)
    timing = params.relapse_timing
    i = record.patient_id
    return record.now_days + cure_weibull_time(
        streams.uniform("consolidation.relapse", i), streams.uniform("consolidation.relapse_day", i),
        prob, timing.median_days, timing.shape,
    )


def consolidation(
    env: simpy.Environment,
    record: PatientRecord,
    params: ConsolidationParams,
    therapy: str,
    mrd_percent: float,
    log_odds: float,
    streams: Streams,
    log: EventLog,
) -> Generator[simpy.Event, object, ConsolidationOutcome]:
    """Two consolidation cycles of ``therapy`` ("chemo" or "blinatumomab")."""
    i = record.patient_id
    block = getattr(params, therapy)
    relapse_day = no_hsct_relapse_day(record, params, therapy, log_odds, streams)
    mrd = mrd_percent
    for cycle in (1, 2):
        start = record.now_days
        key = f"consolidation.{therapy}.cycle{cycle}"
        log.add(record, "consolidation_start", f"{therapy} cycle {cycle}")
        for name, prob in (("grade3plus", block.grade3plus_prob), ("infection_grade3plus", block.infection_grade3plus_prob)):
            if streams.uniform(f"{key}.{name}", i) < getattr(prob, f"cycle{cycle}"):
                log.add(record, "adverse_event", f"{therapy} cycle {cycle} {name}")
        death_day = math.inf
        if streams.uniform(f"{key}.toxic_death", i) < block.toxic_death_prob:
            death_day = start + streams.uniform(f"{key}.toxic_death_day", i) * block.duration_days
        if therapy == "chemo":
            record.inpatient_days += block.duration_days  # assumption: chemo blocks are given in hospital
        outcome = yield from race(
            env, record, start + block.duration_days + block.rest_days, relapse=relapse_day, death=death_day
        )
        if outcome == "death":
            death(record, log, "toxicity")
            return ConsolidationOutcome("death", mrd, relapse_day)
        if outcome in ("relapse", "censored"):
            return ConsolidationOutcome(outcome, mrd, relapse_day)
        if streams.uniform(f"{key}.late_failure", i) < block.late_failure_prob:
            record.late_treatment_failure = True
            efs_event(record, log, "treatment_failure")
            log.add(record, "late_treatment_failure", f"{therapy} cycle {cycle}")
            return ConsolidationOutcome("late_failure", mrd, relapse_day)
        if mrd > 0:
            noise = params.mrd_response_sd * streams.normal(f"{key}.mrd", i)
            mrd = 10.0 ** (math.log10(mrd) - block.mrd_log10_reduction + noise)
        setattr(record, f"cycle{cycle}_mrd_percent", mrd)
        log.add(record, "mrd", f"after {therapy} cycle {cycle}: {mrd:.6g}%")
    return ConsolidationOutcome("remission", mrd, relapse_day)
