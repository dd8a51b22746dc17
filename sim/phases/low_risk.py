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
4. After therapy the patient stays in remission until relapse, death in
   remission or the end of follow-up (``sim.model.phases.follow_up``).

Parameters: ``[low_risk]``, effects ``[prognosis]``. Streams: ``low_risk.*``.
"""

from __future__ import annotations

import math
from typing import Generator

import simpy

from sim.model.phases.common import death, race
from sim.model.phases.prognosis import relapse_shift
from sim.model.records import EventLog, PatientRecord
from sim.model.streams import Streams
from sim.model.survival import adjusted_prob, cure_weibull_time
from sim.scenario.post_induction import LowRiskParams, PrognosisParams

MARROW_SITES = frozenset({"isolated_marrow", "marrow_cns", "marrow_testis"})


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
        streams.uniform("low_risk.relapse", i), streams.uniform("low_risk.relapse_day", i),
        adjusted_prob(base, shift), params.relapse_timing.median_days, params.relapse_timing.shape,
    )


def low_risk_therapy(
    env: simpy.Environment,
    record: PatientRecord,
    params: LowRiskParams,
    therapy: str,
    mrd_percent: float,
    effects: PrognosisParams,
    streams: Streams,
    log: EventLog,
) -> Generator[simpy.Event, object, tuple[str, float]]:
    """Therapy to the end of maintenance; returns (status, relapse day).

    Status is "completed", "relapse", "death" or "censored".
    """
    i = record.patient_id
    start = record.now_days
    relapse_day = low_risk_relapse_day(record, params, therapy, mrd_percent, effects, streams)
    death_day = math.inf
    if streams.uniform("low_risk.toxic_death", i) < getattr(params.toxic_death_prob, therapy):
        death_day = start + streams.uniform("low_risk.toxic_death_day", i) * params.therapy_total_days
    third = params.blinatumomab_block_days if therapy == "blinatumomab" else params.block_days
    stages = (
        ("block2", params.block_days),
        ("blinatumomab_block" if therapy == "blinatumomab" else "block3", third),
        ("continuation", params.continuation_days),
    )
    day = start
    for stage, days in stages:
        log.add(record, "therapy_start", stage)
        if stage in ("block3", "blinatumomab_block"):
            for name in ("febrile_neutropenia", "infection", "sepsis"):
                if streams.uniform(f"low_risk.{name}", i) < getattr(getattr(params, f"block3_{name}_prob"), therapy):
                    log.add(record, "adverse_event", f"{name}_grade3plus")
        day += days
        outcome = yield from race(env, record, day, relapse=relapse_day, death=death_day)
        if outcome != "done":
            return _stop(record, log, outcome, relapse_day)
    log.add(record, "therapy_start", "maintenance")
    if record.cns_status == "CNS3" or record.relapse_site in ("isolated_cns", "marrow_cns"):
        log.add(record, "cranial_irradiation", dose_gy=18.0)
    outcome = yield from race(env, record, start + params.therapy_total_days, relapse=relapse_day, death=death_day)
    if outcome != "done":
        return _stop(record, log, outcome, relapse_day)
    log.add(record, "therapy_end")
    return "completed", relapse_day


def _stop(record: PatientRecord, log: EventLog, outcome: str, relapse_day: float) -> tuple[str, float]:
    if outcome == "death":
        death(record, log, "toxicity")
    return outcome, relapse_day
