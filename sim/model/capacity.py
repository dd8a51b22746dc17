"""Finite resources that patients queue for, and the occupancy they record.

A scenario's ``[capacity]`` (``sim.scenario.schema.CapacitySettings``) limits
some of three resources; each limited one becomes a SimPy resource shared by
every patient of one strategy's run in one replication:

* **inpatient beds** (``simpy.Resource``, first come first served), taken
  for every inpatient block for the block's inpatient days;
* **HSCT slots** (``simpy.PriorityResource``): ``hsct_slots_per_month``
  transplants a month. A patient takes a slot at the start of conditioning
  and the unit holds it for a month (``MONTH_DAYS``), so at most that many
  transplants start in any month-long window; waiting patients are served in
  the order their donors were found;
* **blinatumomab infusion places** (``simpy.Resource``), taken for each
  blinatumomab cycle's infusion days when cycles are given in day care.

Unlimited resources are not built, and a run with nothing limited builds no
:class:`Resources` at all: no patient then makes a single request, so the
run is the plain pathway, event for event (each patient's phases then run on
the patient's own clock: :func:`sim.model.pathway.patient_pathway`). Waiting is done by
:func:`sim.model.phases.common.queue_for`, which races the wait against the
patient's relapse clock and the end of follow-up.

While a run has limited resources, :func:`occupancy_monitor` records, for
each study day (days from the first enrolment) and resource, the places in
use and the patients queued at the start of the day and the most of each at
any moment of the day; :func:`occupancy_table` lays them out for the
``occupancy/`` dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import pyarrow as pa
import simpy

from sim.model.records import REPLICATION_COLUMNS, table_of
from sim.scenario.schema import CapacitySettings, places

MONTH_DAYS = 365.25 / 12

OCCUPANCY_SCHEMA = pa.schema(
    [
        *REPLICATION_COLUMNS,
        ("resource", pa.string()),
        ("day", pa.int32()),
        *[(count, pa.int32()) for count in ("capacity", "in_use", "queued", "in_use_max", "queued_max")],
    ]
)


class _Tracked:
    """A SimPy resource that remembers the most places in use and patients queued since last asked."""

    name: str

    def _track_init(self, name: str) -> None:
        self.name = name
        self.in_use_max = 0
        self.queued_max = 0

    def request(self, *args, **kwargs):
        request = super().request(*args, **kwargs)
        self.queued_max = max(self.queued_max, len(self.queue))
        return request

    def _do_put(self, event) -> bool | None:
        granted = super()._do_put(event)
        self.in_use_max = max(self.in_use_max, len(self.users))
        return granted

    def reset_peaks(self) -> None:
        self.in_use_max, self.queued_max = len(self.users), len(self.queue)


class TrackedResource(_Tracked, simpy.Resource):
    def __init__(self, env: simpy.Environment, capacity: int, name: str) -> None:
        simpy.Resource.__init__(self, env, capacity)
        self._track_init(name)


class TrackedPriorityResource(_Tracked, simpy.PriorityResource):
    def __init__(self, env: simpy.Environment, capacity: int, name: str) -> None:
        simpy.PriorityResource.__init__(self, env, capacity)
        self._track_init(name)


@dataclass
class Resources:
    """The limited resources of one strategy's run in one replication (None where unlimited)."""

    beds: TrackedResource | None
    hsct_slots: TrackedPriorityResource | None
    blinatumomab_places: TrackedResource | None
    blinatumomab_inpatient: bool

    @property
    def blinatumomab(self) -> TrackedResource | None:
        """What a blinatumomab cycle takes: a bed (inpatient) or an infusion place (day care)."""
        return self.beds if self.blinatumomab_inpatient else self.blinatumomab_places

    def limited(self) -> list[_Tracked]:
        return [r for r in (self.beds, self.hsct_slots, self.blinatumomab_places) if r is not None]


def resources_for(env: simpy.Environment, capacity: CapacitySettings) -> Resources | None:
    """The resources ``capacity`` limits, built on ``env``; None when nothing is limited."""
    if not capacity.limited:
        return None

    def build(value: float | None, kind: type, name: str):
        return None if value is None else kind(env, places(value), name)

    return Resources(
        beds=build(capacity.inpatient_beds, TrackedResource, "inpatient_beds"),
        hsct_slots=build(capacity.hsct_slots_per_month, TrackedPriorityResource, "hsct_slots"),
        blinatumomab_places=build(capacity.blinatumomab_places, TrackedResource, "blinatumomab_places"),
        blinatumomab_inpatient=capacity.blinatumomab_setting == "inpatient",
    )


def hold_for_a_month(env: simpy.Environment, slots: simpy.Resource, request: simpy.Event) -> None:
    """The unit keeps a granted HSCT slot for a month, whatever happens to the patient meanwhile."""
    env.timeout(MONTH_DAYS).callbacks.append(lambda _: slots.release(request))


def occupancy_monitor(
    env: simpy.Environment, resources: Resources, rows: list[tuple]
) -> Generator[simpy.Event, object, None]:
    """Each study day, append (resource, day, capacity, in use, queued, most in use, most queued).

    A day's row is appended when the next day starts (its maxima are then
    known). The run stops when the last patient's pathway ends, so the
    monitor never outlives the patients by more than the unfinished day.
    """
    limited = resources.limited()
    day = 0
    while True:
        starts = [(len(r.users), len(r.queue)) for r in limited]
        for resource in limited:
            resource.reset_peaks()
        yield env.timeout(1.0)
        for resource, (in_use, queued) in zip(limited, starts):
            rows.append((resource.name, day, resource.capacity, in_use, queued, resource.in_use_max,
                         resource.queued_max))
        day += 1


def occupancy_table(strategy: str, replication: int, rows: list[tuple]) -> pa.Table:
    return table_of(OCCUPANCY_SCHEMA, strategy, replication, OCCUPANCY_SCHEMA.names[len(REPLICATION_COLUMNS):], rows)
