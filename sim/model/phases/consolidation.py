"""HR/IR consolidation: two cycles of chemotherapy (Arm A) or blinatumomab (Arm B).

Clinical steps, from randomisation (end of Block 1):

1. **Relapse clock.** The day this patient would relapse *if never
   transplanted* (mixture cure, ``sim.model.survival``): a no-HSCT relapse
   probability (fitted) shifted by the prognostic layer
   (``sim.model.phases.prognosis``: time to first relapse, the latest marrow MRD
   level, site, age, sex). Its two uniforms are drawn
   once; the day is re-evaluated after each cycle with the new MRD, so the
   arms differ through their MRD response. It keeps running through both
   cycles, the donor search and any wait for HSCT (or for a bed or an
   infusion place before a cycle, when the scenario limits them).
2. **Each cycle** (UKALL R3 Block 2 then 3, 4 weeks each; or 28 days of
   blinatumomab then a rest): toxic death at a uniform time inside the cycle;
   grade >= 3 adverse events and infections recorded with the published
   per-cycle rates (AALL1331-HR/IR, section 4.1); relapse if the relapse day
   falls inside; late treatment failure at the end of the cycle; otherwise a
   new marrow MRD level ``log10 m_k = log10 m_(k-1) - reduction + sd e``
   (reduction fitted per therapy to MRD-negativity after cycle 1). After
   cycle 1 some patients stop consolidation and go straight to the HSCT
   decision, with probabilities by therapy and cycle-1 MRD status (fitted to
   the patients evaluable in cycle 2, Arm A 62 of 103 and Arm B 88 of 105,
   and to MRD-negativity after cycle 2: those who stop are not a random
   subset, e.g. early responders sent on to HSCT). The MRD after cycle 2 of
   some patients goes unrecorded (fitted for blinatumomab, whose MRD-negative
   count falls from 79 after cycle 1 to 69 after cycle 2 with 88 evaluable);
   their true level still guides HSCT and relapse.
3. **Outcome** handed back to the routing: death, late failure, relapse, or
   remission with the MRD after cycle 2 (the pre-HSCT MRD).

Parameters: ``[consolidation]``, effects ``[prognosis]``. Streams: ``consolidation.*``.
"""

from __future__ import annotations

import math
from typing import Generator, NamedTuple

import simpy

from sim.clinical import MRD_MAX_PERCENT
from sim.model.capacity import Resources
from sim.model.phases.common import (
    death,
    efs_event,
    queue_for,
    race,
    start_therapy_block,
)
from sim.model.phases.mrd import CAP_EXPONENT
from sim.model.phases.prognosis import relapse_shift
from sim.model.records import EventLog, PatientRecord
from sim.model.streams import Streams
from sim.model.survival import adjusted_prob, cure_weibull_time
from sim.scenario.post_induction import ConsolidationParams, PrognosisParams


class ConsolidationOutcome(NamedTuple):  # a tuple: built for every patient, at half a frozen dataclass's cost
    status: str                 # "remission", "death", "late_failure", "relapse", "censored"
    mrd_percent: float | None   # after the last completed cycle
    relapse_day: float          # the no-HSCT relapse day (patient clock); inf if cured


def hsct_proceed_prob(params: ConsolidationParams, mrd_percent: float | None, effects: PrognosisParams) -> float:
    """Probability that a patient in remission after consolidation proceeds to HSCT, by MRD status."""
    negative = mrd_percent is not None and mrd_percent < effects.mrd_detection_limit_percent
    return params.hsct_prob_mrd_negative if negative else params.hsct_prob_mrd_positive


def no_hsct_relapse_day(
    record: PatientRecord, params: ConsolidationParams, start_day: float, mrd_percent: float | None,
    effects: PrognosisParams, streams: Streams,
) -> float:
    """Relapse day without HSCT, counted from ``start_day`` (randomisation)."""
    prob = adjusted_prob(params.no_hsct_relapse_prob, relapse_shift(record, effects, mrd_percent))
    timing = params.relapse_timing
    i = record.patient_id
    return start_day + cure_weibull_time(
        streams.draws["consolidation.relapse"][i], streams.draws["consolidation.relapse_day"][i],
        prob, timing.median_days, timing.shape,
    )


# Stream names of each (therapy, cycle), built once rather than per patient.
_STREAMS = {
    (therapy, cycle): {
        "cycle": f"cycle{cycle}",
        "stop_after_cycle1": f"consolidation.{therapy}.stop_after_cycle1",
        **{name: f"consolidation.{therapy}.cycle{cycle}.{name}" for name in (
            "grade3plus", "infection_grade3plus", "toxic_death", "toxic_death_day", "late_failure", "mrd",
            "mrd_unassessed")},
    }
    for therapy in ("chemo", "blinatumomab") for cycle in (1, 2)
}


def consolidation(
    env: simpy.Environment | None, record: PatientRecord, params: ConsolidationParams, therapy: str,
    mrd_percent: float, effects: PrognosisParams, streams: Streams, log: EventLog, resources: Resources | None = None,
) -> Generator[simpy.Event, object, ConsolidationOutcome]:
    """Two consolidation cycles of ``therapy`` ("chemo" or "blinatumomab").

    With limited ``resources`` each cycle first waits for its place (a bed for
    chemotherapy; a bed or an infusion place for blinatumomab), held for the
    cycle's ``duration_days``, while the relapse clock runs, in SimPy time.
    Without, the cycles' days pass as :func:`~sim.model.phases.common.race`
    makes them: in SimPy when ``env`` is given, else on the patient's clock.
    """
    i = record.patient_id
    block = getattr(params, therapy)
    randomisation_day = record.now_days
    mrd = mrd_percent
    relapse_day = no_hsct_relapse_day(record, params, randomisation_day, mrd, effects, streams)
    for cycle in (1, 2):
        stop = block.stop_after_cycle1_prob
        stop_prob = stop.mrd_negative if mrd is not None and mrd < effects.mrd_detection_limit_percent else stop.mrd_positive
        names = _STREAMS[(therapy, cycle)]
        if cycle == 2 and streams.draws[names["stop_after_cycle1"]][i] < stop_prob:
            log.add(record, "consolidation_stopped", therapy, cycle=1)
            break
        resource = None if resources is None else (resources.beds if therapy == "chemo" else resources.blinatumomab)
        place = None
        if resource is not None:
            column = "bed_wait_days" if resource is resources.beds else "blinatumomab_wait_days"
            place, waited = yield from queue_for(env, record, resource, log, column, relapse=relapse_day)
            if place is None:
                return ConsolidationOutcome(waited, mrd, relapse_day)
        record.consolidation_cycles = cycle
        start = record.now_days
        log.add(record, "consolidation_start", therapy, cycle=cycle)
        for name, prob in (("grade3plus", block.grade3plus_prob), ("infection_grade3plus", block.infection_grade3plus_prob)):
            if streams.draws[names[name]][i] < getattr(prob, names["cycle"]):
                log.add(record, "adverse_event", name, cycle=cycle)
        death_day = math.inf
        if streams.draws[names["toxic_death"]][i] < block.toxic_death_prob:
            death_day = start + streams.draws[names["toxic_death_day"]][i] * block.duration_days
        start_therapy_block(record, start + block.duration_days + block.rest_days)
        if place is None:
            outcome = yield from race(
                env, record, start + block.duration_days + block.rest_days, relapse=relapse_day, death=death_day
            )
        else:  # the place is held for the cycle, not the rest after it
            outcome = yield from race(env, record, start + block.duration_days, relapse=relapse_day, death=death_day)
            resource.release(place)
            if outcome == "done":
                outcome = yield from race(
                    env, record, start + block.duration_days + block.rest_days, relapse=relapse_day, death=death_day
                )
        given_days = min(block.duration_days, record.now_days - start)
        if therapy == "chemo":  # assumption: chemotherapy blocks are given in hospital
            record.inpatient_days += given_days
        else:  # continuous infusion for the block's duration, then the rest
            record.blinatumomab_days += given_days
        if outcome == "death":
            death(record, log, "toxicity")
            return ConsolidationOutcome("death", mrd, relapse_day)
        if outcome in ("relapse", "censored"):
            return ConsolidationOutcome(outcome, mrd, relapse_day)
        if streams.draws[names["late_failure"]][i] < block.late_failure_prob:
            record.late_treatment_failure = True
            efs_event(record, log, "treatment_failure")
            log.add(record, "late_treatment_failure", therapy, cycle=cycle)
            return ConsolidationOutcome("late_failure", mrd, relapse_day)
        if mrd > 0:
            noise = params.mrd_response_sd * streams.normal(names["mrd"], i)
            exponent = math.log10(mrd) - block.mrd_log10_reduction + noise
            # capped before the power (the same level; no OverflowError however wide mrd_response_sd)
            mrd = min(MRD_MAX_PERCENT, 10.0 ** (CAP_EXPONENT if exponent > CAP_EXPONENT else exponent))
        unassessed = cycle == 2 and streams.draws[names["mrd_unassessed"]][i] < block.mrd_unassessed_after_cycle2_prob
        setattr(record, f"cycle{cycle}_mrd_percent", None if unassessed else mrd)
        log.add(record, "mrd", therapy, cycle=cycle, mrd_percent=None if unassessed else mrd)
        relapse_day = max(record.now_days, no_hsct_relapse_day(record, params, randomisation_day, mrd, effects, streams))
    return ConsolidationOutcome("remission", mrd, relapse_day)
