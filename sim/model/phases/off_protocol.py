"""Patients who leave protocol therapy after Block 1 (section 3.4).

Clinical steps, from the end of Block 1:

* **Early treatment failure** (an EFS event at the end of Block 1): salvage
  blinatumomab for about half (22 of 42, recorded); HSCT for a few (5 of 42,
  "within 6 months") through the HSCT phase (``sim.model.phases.hsct``): a
  donor search from the failure by donor type, a slot when slots are
  limited, conditioning, the transplant and its transplant-related death.
  Long-term survival 3 of 5 after HSCT (TRM included: the rest of the risk
  is progression, at the reference TRM) and about 13% without (fitted with the rest, prior from
  4-year OS 18.7%), the progression death probability shifted by the
  prognostic layer (time to relapse, site); deaths of progressive disease
  at a Weibull time from the failure, or from the graft (a patient queued
  for a limited slot can die of the disease while waiting). Late failures
  in consolidation take the same course.
* **Never risk-assigned**: off-protocol therapy; one uniform sets both the
  event (relapse or progression; 4-year EFS 8.1%) and death (4-year OS
  19.8%), so that every death follows an event and every event-free
  patient is alive; both probabilities shifted alike by the prognostic layer
  (end-of-Block-1 MRD, time to relapse, site, age, sex); event at a Weibull
  time, death a Weibull time later.
* **Risk-assigned, not randomised** (:func:`not_randomised_care`): off-protocol
  chemotherapy or blinatumomab as in the risk group's arms, with the
  prognostic layer's off-protocol effect, or palliative care (the
  never-assigned course); shares are assumptions with ranges. The routing
  (``sim.model.pathway``) sends them to the chosen course.

Parameters: ``[off_protocol]``, ``[hsct]``, effects ``[prognosis]``. Streams: ``off_protocol.*``, ``hsct.*``.
"""

from __future__ import annotations

import math
from typing import Generator

import simpy

from sim.model.phases.common import death, efs_event, race
from sim.model.phases.hsct import transplant, trm_day, wait_for_hsct
from sim.model.phases.prognosis import relapse_shift, salvage_death_shift
from sim.model.records import EventLog, PatientRecord
from sim.model.streams import Streams, pick_weighted
from sim.model.survival import adjusted_prob, cure_weibull_time
from sim.scenario.post_induction import HsctParams, OffProtocolParams, PrognosisParams


def not_randomised_care(record: PatientRecord, params: OffProtocolParams, streams: Streams, log: EventLog) -> str:
    """The off-protocol care of a risk-assigned patient who is not randomised:
    "chemo", "blinatumomab" (as in the risk group's arms) or "palliative"."""
    care = pick_weighted(streams.draws["off_protocol.not_randomised_care"][record.patient_id], params.not_randomised_care)
    record.off_protocol_therapy = care
    log.add(record, "off_protocol_care", care)
    return care


def after_failure(
    env: simpy.Environment | None, record: PatientRecord, params: OffProtocolParams, hsct: HsctParams,
    effects: PrognosisParams, streams: Streams, log: EventLog, hsct_slots: simpy.PriorityResource | None = None,
) -> Generator[simpy.Event, object, None]:
    """After treatment failure (early, at the end of Block 1, or late, in consolidation): salvage
    blinatumomab for some; HSCT for a few, through the HSCT phase's path (donor search from the
    failure, a slot, conditioning, the transplant and its transplant-related death); death of
    progressive disease for most."""
    i = record.patient_id
    if streams.draws["off_protocol.salvage_blinatumomab"][i] < params.failure_salvage_blinatumomab_prob:
        record.salvage = "blinatumomab"
        log.add(record, "salvage", "blinatumomab")
    shift = salvage_death_shift(record, effects)
    timing = params.failure_death_timing
    u_death, u_day = streams.draws["off_protocol.failure_death"][i], streams.draws["off_protocol.failure_death_day"][i]

    def progression_death_day(survival: float) -> float:
        death_prob = adjusted_prob(1.0 - survival, shift)
        return record.now_days + cure_weibull_time(u_death, u_day, death_prob, timing.median_days, timing.shape)

    survival, death_of_trm = params.failure_survival_prob_no_hsct, math.inf
    if streams.draws["off_protocol.failure_hsct"][i] < params.failure_hsct_prob:
        # 5 of 42 reached HSCT: drawn so, they reach it unless follow-up ends first or, queued for
        # a limited slot, the untreated disease kills them first (its clock from the failure)
        waited = yield from wait_for_hsct(env, record, hsct, record.now_days, math.inf, streams, log, hsct_slots,
                                          death_while_queued=progression_death_day(survival))
        if waited == "death":
            death(record, log, "progression")
        if waited != "done":
            return
        transplant(record, hsct, log)
        death_of_trm = trm_day(record, hsct, streams)
        survival = failure_survival_after_hsct(params, hsct)
    cause = yield from race(env, record, record.censor_day, transplant=death_of_trm,
                            progression=progression_death_day(survival))
    if cause in ("transplant", "progression"):
        death(record, log, cause)


def failure_survival_after_hsct(params: OffProtocolParams, hsct: HsctParams) -> float:
    """Survival of progression after an HSCT following failure: 3 of 5 were alive after HSCT,
    transplant-related deaths included, so progression spares ``0.6 / (1 - TRM)`` at the reference
    TRM (``hsct.trm_prob``); a patient with a higher TRM (adolescents and young adults) does worse
    overall. Capped at 1 when the TRM alone exceeds the published deaths."""
    return min(1.0, params.failure_survival_prob_hsct / max(1e-12, 1.0 - hsct.trm_prob))


def not_assigned_course(
    env: simpy.Environment | None, record: PatientRecord, params: OffProtocolParams, effects: PrognosisParams,
    streams: Streams, log: EventLog,
) -> Generator[simpy.Event, object, None]:
    """Off-protocol course of a patient never risk-assigned (or not randomised, palliative)."""
    i = record.patient_id
    u = streams.draws["off_protocol.course"][i]
    shift = relapse_shift(record, effects, record.eob1_mrd_percent)
    # Both shifted alike on the log-odds scale, so death (rarer) still implies an event.
    event_prob = adjusted_prob(1.0 - params.not_assigned_event_free_prob, shift)
    death_prob = adjusted_prob(1.0 - params.not_assigned_survival_prob, shift)
    event_in = cure_weibull_time(
        u, streams.draws["off_protocol.event_day"][i], event_prob,
        params.not_assigned_event_timing.median_days, params.not_assigned_event_timing.shape,
    )
    dies = u < death_prob
    outcome = yield from race(env, record, record.censor_day, event=record.now_days + event_in)
    if outcome != "event":
        return
    efs_event(record, log, "relapse")
    record.relapse_day = record.now_days
    log.add(record, "relapse", "off protocol")
    if not dies:
        yield from race(env, record, record.censor_day)
        return
    timing = params.not_assigned_death_timing
    death_in = cure_weibull_time(0.0, streams.draws["off_protocol.death_day"][i], 1.0, timing.median_days, timing.shape)
    outcome = yield from race(env, record, record.censor_day, death=record.now_days + death_in)
    if outcome == "death":
        death(record, log, "relapse")
