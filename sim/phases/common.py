"""What every phase shares: moving a patient's own clock forward."""

from __future__ import annotations

from typing import Generator

import simpy

from sim.model.records import EventLog, PatientRecord


def wait_until(env: simpy.Environment, record: PatientRecord, day: float) -> Generator[simpy.Event, object, None]:
    """Let time pass until ``day`` on the patient's clock (days since enrolment).

    The clock is set to ``day`` exactly, so recorded times are the planned
    ones, free of accumulated rounding.
    """
    if day < record.now_days:
        raise ValueError(f"patient {record.patient_id}: cannot go back from day {record.now_days} to day {day}")
    if day > record.now_days:
        yield env.timeout(day - record.now_days)
    record.now_days = day


def wait(env: simpy.Environment, record: PatientRecord, days: float) -> Generator[simpy.Event, object, None]:
    """Let ``days`` pass for this patient."""
    if days < 0:
        raise ValueError(f"patient {record.patient_id}: negative wait of {days} days")
    yield from wait_until(env, record, record.now_days + days)


def race(
    env: simpy.Environment, record: PatientRecord, until_day: float, **competitors: float
) -> Generator[simpy.Event, object, str]:
    """Wait until the earliest of ``until_day`` and the competing days.

    Returns ``"done"`` when ``until_day`` comes first (or ties), else the name
    of the competitor that cut the wait short. Every day is on the patient's
    clock; ``record.censor_day`` always competes as ``"censored"``, so no
    patient is followed past the scenario's horizon or data cut-off.
    """
    winner, day = "done", until_day
    if record.censor_day < day:
        winner, day = "censored", record.censor_day
    for name, competitor_day in competitors.items():
        if competitor_day < day:
            winner, day = name, competitor_day
    yield from wait_until(env, record, max(day, record.now_days))
    return winner


def efs_event(record: PatientRecord, log: EventLog, kind: str) -> None:
    """Record the first EFS event (treatment_failure, relapse, death); later ones are ignored."""
    if record.efs_event:
        return
    record.efs_days, record.efs_event, record.efs_event_type = record.now_days, True, kind


def death(record: PatientRecord, log: EventLog, cause: str) -> None:
    """Record death (an EFS event too, when it is the first)."""
    efs_event(record, log, "death")
    record.os_days, record.os_event, record.death_cause = record.now_days, True, cause
    log.add(record, "death", cause)


def censor(record: PatientRecord) -> None:
    """Close follow-up for a patient alive at the end: censored at their censor day."""
    if not record.efs_event:
        record.efs_days, record.efs_event = min(record.now_days, record.censor_day), False
    if not record.os_event:
        record.os_days, record.os_event = min(record.now_days, record.censor_day), False
