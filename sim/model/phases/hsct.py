"""Allogeneic HSCT in second remission.

Clinical steps:

1. **Donor.** Each patient's donor type is drawn with the IntReALL-HR shares
   (matched sibling ~25%, haploidentical ~27%, matched unrelated ~33%,
   mismatched unrelated ~15%; section 6). The search starts at
   randomisation (at the failure, for a transplant after early treatment
   failure: ``sim.model.phases.off_protocol``) and takes a type-specific
   time (assumption).
2. **Transplant** on the later of the end of consolidation and the end of
   the search, plus conditioning; the no-HSCT relapse clock keeps running
   meanwhile, and a relapse first means no transplant. When the scenario
   limits HSCT slots (``sim.model.capacity``), the patient then waits for a slot,
   served in the order donors were found, with the relapse clock running;
   ``hsct_wait_outcome`` says how the wait ended (granted, relapse, death,
   censored: death only for a patient with active disease, after failure).
   The admission (resource use only) runs from the start of conditioning to
   ``inpatient_days_after_graft`` after the graft (assumption, 3-6 weeks).
3. **Transplant-related mortality**: probability ``trm_prob`` (under ~15%
   with contemporary HSCT), times ``trm_rr_aya`` (~2.2) for adolescents and
   young adults, at a Weibull time after HSCT.
4. **Relapse after HSCT**: a baseline probability for the reference patient
   (MRD-negative before HSCT; section 6: 2-year cumulative incidence 21% in
   the lowest risk score, 47% in the highest), shifted by the prognostic
   layer with the pre-HSCT MRD (``sim.model.phases.prognosis``); at a Weibull time
   after HSCT.

Parameters: ``[hsct]``, effects ``[prognosis]``. Streams: ``hsct.*``.
"""

from __future__ import annotations

import math
from typing import Generator

import simpy

from sim.model.capacity import hold_for_a_month
from sim.model.phases.common import queue_for, race, start_therapy_block
from sim.model.phases.prognosis import relapse_shift
from sim.model.records import EventLog, PatientRecord
from sim.model.streams import Streams, pick_weighted
from sim.model.survival import adjusted_prob, cure_weibull_time
from sim.scenario.post_induction import HsctParams, PrognosisParams


def proceeds_to_hsct(record: PatientRecord, proceed_prob: float, streams: Streams) -> bool:
    """Whether a patient in remission goes on to HSCT (the probability is the referring phase's)."""
    return streams.draws["hsct.proceed"][record.patient_id] < proceed_prob


def donor_type(record: PatientRecord, params: HsctParams, streams: Streams) -> str:
    return pick_weighted(streams.draws["hsct.donor"][record.patient_id], params.donor_shares)


def wait_for_hsct(
    env: simpy.Environment | None,
    record: PatientRecord,
    params: HsctParams,
    search_start_day: float,
    relapse_day: float,
    streams: Streams,
    log: EventLog | None = None,
    slots: simpy.PriorityResource | None = None,
    death_while_queued: float = math.inf,
) -> Generator[simpy.Event, object, str]:
    """Wait for donor, a slot (when ``slots`` limits them) and conditioning; returns "done", "relapse",
    "death" (``death_while_queued`` comes first while queued for a slot) or "censored"."""
    record.donor_type = donor_type(record, params, streams)
    found_day = search_start_day + getattr(params.donor_search_days, record.donor_type)
    ready = max(record.now_days, found_day)
    if slots is None:
        return (yield from race(env, record, ready + params.conditioning_days, relapse=relapse_day))
    outcome = yield from race(env, record, ready, relapse=relapse_day)
    if outcome != "done":
        return outcome
    # Slots go in the order donors were found (study days, so across patients).
    slot, outcome = yield from queue_for(env, record, slots, log, "hsct_wait_days",
                                         priority=record.enrolment_day + found_day, relapse=relapse_day,
                                         death=death_while_queued)
    record.hsct_wait_outcome = "granted" if slot is not None else outcome
    if slot is None:
        return outcome
    hold_for_a_month(env, slots, slot)
    return (yield from race(env, record, record.now_days + params.conditioning_days, relapse=relapse_day))


def trm_prob(record: PatientRecord, params: HsctParams) -> float:
    """The patient's probability of transplant-related death (``trm_rr_aya`` for adolescents and young adults)."""
    aya = record.age_years >= params.aya_min_age_years
    return min(1.0, params.trm_prob * (params.trm_rr_aya if aya else 1.0))


def trm_day(record: PatientRecord, params: HsctParams, streams: Streams) -> float:
    """Day of transplant-related death on the patient clock (inf when none), drawn at the graft."""
    i = record.patient_id
    return record.now_days + cure_weibull_time(
        streams.draws["hsct.trm"][i], streams.draws["hsct.trm_day"][i],
        trm_prob(record, params), params.trm_timing.median_days, params.trm_timing.shape,
    )


def transplant_outcome_days(
    record: PatientRecord, params: HsctParams, pre_hsct_mrd: float | None, effects: PrognosisParams,
    streams: Streams,
) -> tuple[float, float]:
    """(relapse day, transplant-related death day) on the patient clock; inf when none."""
    i = record.patient_id
    relapse_prob = adjusted_prob(params.relapse_prob, relapse_shift(record, effects, pre_hsct_mrd))
    relapse_day = record.now_days + cure_weibull_time(
        streams.draws["hsct.relapse"][i], streams.draws["hsct.relapse_day"][i],
        relapse_prob, params.relapse_timing.median_days, params.relapse_timing.shape,
    )
    return relapse_day, trm_day(record, params, streams)


def transplant(record: PatientRecord, params: HsctParams, log: EventLog) -> None:
    record.hsct, record.hsct_day = True, record.now_days
    start_therapy_block(record, record.now_days + params.inpatient_days_after_graft)
    log.add(record, "hsct", record.donor_type)


def admission_days(record: PatientRecord, params: HsctParams) -> float:
    """Inpatient days of the HSCT admission, once follow-up has closed: from the start of
    conditioning (``conditioning_days`` before the graft) to ``inpatient_days_after_graft``
    after it, cut at death or the end of follow-up. Resource use only: no outcome depends on it."""
    if not record.hsct:
        return 0.0
    admitted = max(0.0, record.hsct_day - params.conditioning_days)
    return max(0.0, min(record.hsct_day + params.inpatient_days_after_graft, record.os_days) - admitted)
