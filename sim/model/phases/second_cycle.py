"""A second reinduction cycle for patients not in CR after the first (MITCL).

Clinical steps (MITCL: 1 cycle, a second if no CR; section 5 and 7):

1. The cycle lasts as long as the first (the reinduction's therapy days plus
   an exponential wait for neutrophil recovery), in hospital (after a wait
   for a bed when the scenario limits beds).
2. Toxic death with the reinduction's probability for the patient's group
   and age, at a uniform day of the cycle.
3. CR with ``second_cycle_cr_prob`` (an assumption); the MRD of a patient in
   CR follows the same latent resistance as the first cycle, so these
   patients, resistant the first time, tend to stay MRD-positive. Otherwise
   the patient has failed reinduction.

Parameters: ``[mitcl]`` and the reinduction's own table. Streams: ``second_cycle.*``.
"""

from __future__ import annotations

import math
from typing import Generator

import simpy

from sim.model.phases.block1 import Block1Model, Block1Outcome
from sim.model.phases.common import death, queue_for, race, start_therapy_block
from sim.model.records import EventLog, PatientRecord
from sim.model.streams import Streams
from sim.scenario.post_induction import MitclParams


def second_cycle(
    env: simpy.Environment | None, record: PatientRecord, model: Block1Model, params: MitclParams, streams: Streams,
    log: EventLog, beds: simpy.Resource | None = None,
) -> Generator[simpy.Event, object, Block1Outcome]:
    i = record.patient_id
    block = model.params
    bed = None
    if beds is not None:
        bed, _ = yield from queue_for(env, record, beds, log, "bed_wait_days")
        if bed is None:
            return Block1Outcome(died=False, failed=True, mrd_percent=None, censored=True)
    start = record.now_days
    record.reinduction_cycles = 2
    log.add(record, "reinduction_cycle_start", cycle=2)
    length = block.therapy_days - block.count_recovery_extra_days_mean * math.log1p(
        -streams.draws["second_cycle.count_recovery"][i]
    )
    start_therapy_block(record, start + length)
    old = record.age_years >= 18.0
    p_toxic = (model.toxic_death_old if old else model.toxic_death_young)[record.relapse_group]
    death_day = math.inf
    if streams.draws["second_cycle.death"][i] < p_toxic:
        death_day = start + streams.draws["second_cycle.death_day"][i] * length
    outcome = yield from race(env, record, start + length, death=death_day)
    record.inpatient_days += record.now_days - start
    if bed is not None:
        beds.release(bed)
    if outcome == "censored":
        return Block1Outcome(died=False, failed=True, mrd_percent=None, censored=True)
    if outcome == "death":
        # A death in reinduction, whichever cycle: recorded as the reinduction's death.
        record.block1_death, record.block1_death_day, record.block1_death_cause = True, record.now_days, "toxicity"
        record.block1_max_grade, record.early_treatment_failure = 5, False
        log.add(record, "block1_death", "toxicity", cycle=2)
        death(record, log, "toxicity")
        return Block1Outcome(died=True, failed=False, mrd_percent=None)
    if streams.draws["second_cycle.cr"][i] >= params.second_cycle_cr_prob:
        log.add(record, "reinduction_failure", cycle=2)
        return Block1Outcome(died=False, failed=True, mrd_percent=None)
    mrd = model.mrd[record.relapse_group].level_after_second_cycle(record.resistance_z)
    log.add(record, "remission", cycle=2, mrd_percent=mrd)
    return Block1Outcome(died=False, failed=False, mrd_percent=mrd)
