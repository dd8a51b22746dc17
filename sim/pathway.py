"""Routing between phases: where each patient goes next, in one place.

A patient's process is enrolment -> Block 1 -> (death | early treatment
failure | risk assignment and allocation). Each phase is a generator in
``sim.phases`` that returns its outcome; this module only reads outcomes and
chooses the next phase, and records where the modelled pathway ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import simpy

from .parameters import Scenario
from .phases.assignment import assignment
from .phases.block1 import Block1Model, block1
from .records import EventLog, PatientRecord
from .streams import Streams


@dataclass(frozen=True)
class Models:
    """Realised parameters and per-phase derived constants for one replication."""

    scenario: Scenario
    block1: Block1Model


def _end(record: PatientRecord, log: EventLog, how: str) -> None:
    record.pathway_end, record.pathway_end_day = how, record.now_days
    log.add(record, "pathway_end", how)


def patient_pathway(
    env: simpy.Environment,
    record: PatientRecord,
    strategy: str,
    models: Models,
    streams: Streams,
    log: EventLog,
    beds: simpy.Resource | None,
) -> Generator[simpy.Event, object, None]:
    """One patient, from enrolment to the end of the modelled pathway."""
    if record.enrolment_day > 0:
        yield env.timeout(record.enrolment_day)
    log.add(record, "enrolment", strategy)

    outcome = yield from block1(env, record, models.block1, streams, log, beds)
    if outcome.died:
        return _end(record, log, "block1_death")
    if outcome.failed:
        record.eob1_mrd_percent = outcome.mrd_percent
        log.add(record, "eob1_mrd", "unknown" if outcome.mrd_percent is None else f"{outcome.mrd_percent:.6g}%")
        return _end(record, log, "early_treatment_failure")

    allocation = yield from assignment(env, record, models.scenario.assignment, outcome.mrd_percent, streams, log)
    if not allocation.alive:
        return _end(record, log, "death_before_randomisation")
    if allocation.risk_group is None:
        return _end(record, log, "not_risk_assigned")
    if allocation.arm is None:
        return _end(record, log, "not_randomized")
    return _end(record, log, "randomized")
