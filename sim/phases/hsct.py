"""Allogeneic HSCT in second remission.

Clinical steps:

1. **Donor.** Each patient's donor type is drawn with the IntReALL-HR shares
   (matched sibling ~25%, haploidentical ~27%, matched unrelated ~33%,
   mismatched unrelated ~15%; section 6). The search starts at
   randomisation and takes a type-specific time (assumption).
2. **Transplant** on the later of the end of consolidation and the end of
   the search, plus conditioning; the no-HSCT relapse clock keeps running
   meanwhile, and a relapse first means no transplant.
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

from typing import Generator

import simpy

from sim.model.phases.common import race
from sim.model.phases.prognosis import relapse_shift
from sim.model.records import EventLog, PatientRecord
from sim.model.streams import Streams, pick_weighted
from sim.model.survival import adjusted_prob, cure_weibull_time
from sim.scenario.post_induction import HsctParams, PrognosisParams


def proceeds_to_hsct(record: PatientRecord, proceed_prob: float, streams: Streams) -> bool:
    """Whether a patient in remission goes on to HSCT (the probability is the referring phase's)."""
    return streams.uniform("hsct.proceed", record.patient_id) < proceed_prob


def donor_type(record: PatientRecord, params: HsctParams, streams: Streams) -> str:
    return pick_weighted(streams.uniform("hsct.donor", record.patient_id), params.donor_shares)


def wait_for_hsct(
    env: simpy.Environment,
    record: PatientRecord,
    params: HsctParams,
    search_start_day: float,
    relapse_day: float,
    streams: Streams,
) -> Generator[simpy.Event, object, str]:
    """Wait for donor and conditioning; returns "done", "relapse" or "censored"."""
    record.donor_type = donor_type(record, params, streams)
    ready = max(record.now_days, search_start_day + getattr(params.donor_search_days, record.donor_type))
    return (yield from race(env, record, ready + params.conditioning_days, relapse=relapse_day))


def transplant_outcome_days(
    record: PatientRecord, params: HsctParams, pre_hsct_mrd: float | None, effects: PrognosisParams,
    streams: Streams,
) -> tuple[float, float]:
    """(relapse day, transplant-related death day) on the patient clock; inf when none."""
    i = record.patient_id
    aya = record.age_years >= params.aya_min_age_years
    trm_prob = min(1.0, params.trm_prob * (params.trm_rr_aya if aya else 1.0))
    trm_day = record.now_days + cure_weibull_time(
        streams.uniform("hsct.trm", i), streams.uniform("hsct.trm_day", i),
        trm_prob, params.trm_timing.median_days, params.trm_timing.shape,
    )
    relapse_prob = adjusted_prob(params.relapse_prob, relapse_shift(record, effects, pre_hsct_mrd))
    relapse_day = record.now_days + cure_weibull_time(
        streams.uniform("hsct.relapse", i), streams.uniform("hsct.relapse_day", i),
        relapse_prob, params.relapse_timing.median_days, params.relapse_timing.shape,
    )
    return relapse_day, trm_day


def transplant(record: PatientRecord, log: EventLog) -> None:
    record.hsct, record.hsct_day = True, record.now_days
    log.add(record, "hsct", record.donor_type)
