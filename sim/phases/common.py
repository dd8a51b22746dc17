"""What every phase shares: moving a patient's own clock forward."""

from __future__ import annotations

from typing import Generator

import simpy

from ..records import PatientRecord


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
