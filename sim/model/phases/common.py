"""What every phase shares: moving a patient's own clock forward, queueing for a
limited resource, and closing a patient's states."""

from __future__ import annotations

import math
from typing import Generator

import simpy

from sim.model.records import EventLog, PatientRecord


def race(
    env: simpy.Environment | None, record: PatientRecord, until_day: float, relapse: float = math.inf,
    death: float = math.inf, transplant: float = math.inf, progression: float = math.inf, event: float = math.inf,
) -> Generator[simpy.Event, object, str]:
    """Wait until the earliest of ``until_day`` and the competing days.

    Returns ``"done"`` when ``until_day`` comes first (or ties), else the name
    of the competitor that cut the wait short: ``"censored"`` (``record.censor_day``
    always competes, so no patient is followed past the scenario's horizon or
    data cut-off), then the named days a phase can meet, ``relapse``,
    ``death``, ``transplant`` (death from it), ``progression`` (death from it)
    and ``event``; of equal days the one earlier in that list wins. The
    competitors are named parameters, not ``**kwargs``: building a dict for
    each race cost a third of it.
    Every day is on the patient's clock (days since enrolment). A day
    already past ends the wait at once. The clock is then set to the winning
    day exactly, so recorded times are the planned ones, free of accumulated
    rounding.

    The wait is a SimPy timeout when ``env`` is the run's environment, which
    the pathway passes only when the run has limited resources (patients can
    meet at them). With ``env`` None (nothing limited: no other patient can
    change what happens to this one) the wait is on the patient's clock
    alone, as :func:`advance` makes it, and the pathway waits in SimPy once,
    for all of it (:func:`sim.model.pathway.patient_pathway`).
    """
    winner, day = _earliest(record, until_day, relapse, death, transplant, progression, event)
    if day > record.now_days:
        if env is not None:
            yield env.timeout(day - record.now_days)
        record.now_days = day
    return winner


def advance(record: PatientRecord, until_day: float, relapse: float = math.inf, death: float = math.inf) -> str:
    """:func:`race` on the patient's clock alone, without a SimPy wait, in a plain call.

    For follow-up, which no limited resource can follow, so that it never
    waits in SimPy whatever the run (nor pays for a generator). The winner
    and the clock are those ``race`` gives.
    """
    winner, day = _earliest(record, until_day, relapse, death)
    if day > record.now_days:
        record.now_days = day
    return winner


def _earliest(record: PatientRecord, until_day: float, relapse: float, death: float, transplant: float = math.inf,
              progression: float = math.inf, event: float = math.inf) -> tuple[str, float]:
    """The winner of a race (see :func:`race`) and its day."""
    winner, day = "done", until_day
    if record.censor_day < day:
        winner, day = "censored", record.censor_day
    if relapse < day:
        winner, day = "relapse", relapse
    if death < day:
        winner, day = "death", death
    if transplant < day:
        winner, day = "transplant", transplant
    if progression < day:
        winner, day = "progression", progression
    if event < day:
        winner, day = "event", event
    return winner, day


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
    # min(now_days, censor_day), by a comparison: the builtin is a call, here and below once per patient
    day = record.censor_day if record.censor_day < record.now_days else record.now_days
    if not record.efs_event:
        record.efs_days, record.efs_event = day, False
    if not record.os_event:
        record.os_days, record.os_event = day, False


def queue_for(
    env: simpy.Environment, record: PatientRecord, resource, log: EventLog, column: str,
    priority: float | None = None, **competitors: float,
) -> Generator[simpy.Event, object, tuple[object | None, str]]:
    """Ask for one place of a limited ``resource`` and wait for it while the patient's clocks run.

    Returns ``(request, "done")`` once a place is granted (the caller
    releases it), or ``(None, winner)`` when a competing day (a relapse, a
    death, ``record.censor_day`` as ``"censored"``) comes first: the request
    is then withdrawn. The days waited are added to ``column`` (null until a
    patient first queues for that resource, so null means "never queued",
    0 "queued and served at once"); a wait that is not zero is logged as a
    ``queue`` event. A place free on asking is taken without a SimPy wait.
    """
    asked_day, asked_env = record.now_days, env.now
    request = resource.request() if priority is None else resource.request(priority=priority)
    winner = "done"
    if not request.triggered:
        winner, day = "censored", record.censor_day
        for name, competitor_day in competitors.items():
            if competitor_day < day:
                winner, day = name, competitor_day
        day = max(day, record.now_days)
        yield (request | env.timeout(day - record.now_days)) if math.isfinite(day) else request
        if request.triggered:
            winner = "done"
            record.now_days = asked_day + (env.now - asked_env)
        else:
            request.cancel()
            record.now_days = day
    waited = record.now_days - asked_day
    setattr(record, column, (getattr(record, column) or 0.0) + waited)
    if waited > 0:
        log.add(record, "queue", f"{resource.name}: {'granted' if winner == 'done' else winner}", wait_days=waited)
    return (request, winner) if winner == "done" else (None, winner)
# EFS events after which a patient is in the "after relapse" state (progressive disease).
PROGRESSION_EVENTS = ("relapse", "treatment_failure")


def start_therapy_block(record: PatientRecord, planned_end_day: float) -> None:
    """A block of first-line therapy starts; it is planned to end on ``planned_end_day``."""
    record.therapy_until_day = planned_end_day


def close_states(record: PatientRecord) -> None:
    """Days in each health state, once follow-up has closed (``os_days`` known).

    Three states follow each other, from enrolment to death or censoring:

    * **on therapy**, to the planned end of the last block of intensive
      first-line therapy started (reinduction, consolidation, the HSCT
      admission, LR blocks and continuation), cut short by progression or
      death; a wait for a donor between blocks counts as on therapy;
    * **in remission off therapy**, to progression (relapse or treatment
      failure), death or censoring; LR maintenance counts here;
    * **after relapse**, from progression to death or censoring.

    ``therapy_end_day`` is the end of the on-therapy state, or null when
    follow-up ended while therapy went on.
    """
    end = record.os_days
    progression = record.efs_days if record.efs_event and record.efs_event_type in PROGRESSION_EVENTS else math.inf
    until = record.therapy_until_day if record.therapy_until_day is not None else 0.0
    first = end if end < progression else progression                # min(progression, end)
    therapy_end = first if first < until else until                  # min(until, progression, end)
    relapse = first if first > therapy_end else therapy_end          # max(therapy_end, first)
    record.on_therapy_days = therapy_end
    record.remission_days = relapse - therapy_end
    record.after_relapse_days = end - relapse
    record.therapy_end_day = therapy_end if (therapy_end < end or record.os_event) else None
