"""Flat records: one row per patient, one row per event, with explicit schemas.

Processes only append; nothing here computes statistics. ``None`` (null in
Parquet) means "did not happen" or "unknown", never a sentinel value.
All times are days from the patient's own enrolment.
"""

from __future__ import annotations

import math
from dataclasses import field, make_dataclass
from operator import attrgetter, itemgetter

import pyarrow as pa

# Named Block 1 adverse events, each recorded as its worst grade (3, 4 or 5;
# null when below grade 3). Must match sim.scenario.schema.AdverseEvents.
BLOCK1_ADVERSE_EVENTS = (
    "febrile_neutropenia",
    "infection",
    "sepsis",
    "oral_mucositis",
    "hyperglycaemia",
    "hyperbilirubinaemia",
    "gi_toxicity",
    "hypoalbuminaemia",
)

PATIENT_SCHEMA = pa.schema(
    [
        ("strategy", pa.string()),
        ("replication", pa.int32()),
        ("patient_id", pa.int32()),
        ("enrolment_day", pa.float64()),
        ("relapse_group", pa.string()),
        ("relapse_site", pa.string()),
        ("months_to_relapse", pa.float64()),
        ("age_years", pa.float64()),
        ("sex", pa.string()),
        ("ethnicity", pa.string()),
        ("obese", pa.bool_()),
        ("cns_status", pa.string()),
        ("testicular_disease", pa.bool_()),
        ("cytogenetics", pa.string()),
        ("reinduction", pa.string()),
        ("reinduction_cycles", pa.int8()),
        ("block1_bed_wait_days", pa.float64()),
        ("bed_wait_days", pa.float64()),
        ("blinatumomab_wait_days", pa.float64()),
        ("block1_max_grade", pa.int8()),
        *[(f"block1_{name}_grade", pa.int8()) for name in BLOCK1_ADVERSE_EVENTS],
        ("block1_death", pa.bool_()),
        ("block1_death_day", pa.float64()),
        ("block1_death_cause", pa.string()),
        ("early_treatment_failure", pa.bool_()),
        ("eob1_day", pa.float64()),
        ("eob1_mrd_percent", pa.float64()),
        ("risk_group", pa.string()),
        ("not_assigned_reason", pa.string()),
        ("randomized", pa.bool_()),
        ("arm", pa.string()),
        ("not_randomized_reason", pa.string()),
        ("off_protocol_therapy", pa.string()),
        ("consolidation_cycles", pa.int8()),
        ("cycle1_mrd_percent", pa.float64()),
        ("cycle2_mrd_percent", pa.float64()),
        ("late_treatment_failure", pa.bool_()),
        ("donor_type", pa.string()),
        ("hsct", pa.bool_()),
        ("hsct_day", pa.float64()),
        ("hsct_wait_days", pa.float64()),
        ("hsct_wait_outcome", pa.string()),
        ("relapse_day", pa.float64()),
        ("salvage", pa.string()),
        ("efs_days", pa.float64()),
        ("efs_event", pa.bool_()),
        ("efs_event_type", pa.string()),
        ("os_days", pa.float64()),
        ("os_event", pa.bool_()),
        ("death_cause", pa.string()),
        ("inpatient_days", pa.float64()),
        ("blinatumomab_days", pa.float64()),
        ("therapy_end_day", pa.float64()),
        ("on_therapy_days", pa.float64()),
        ("remission_days", pa.float64()),
        ("after_relapse_days", pa.float64()),
        ("pathway_end", pa.string()),
        ("pathway_end_day", pa.float64()),
    ]
)

EVENT_SCHEMA = pa.schema(
    [
        ("strategy", pa.string()),
        ("replication", pa.int32()),
        ("patient_id", pa.int32()),
        ("time_days", pa.float64()),
        ("event", pa.string()),
        ("detail", pa.string()),
        ("value", pa.float64()),
    ]
)

_PATIENT_FIELDS = tuple(PATIENT_SCHEMA.names)
_CONSTANT_FIELDS = ("strategy", "replication")
# Facts that are false until a phase makes them true, and running totals. `block1_death` and
# `early_treatment_failure` turn null when follow-up ends inside reinduction (not known).
_STARTING_VALUES = {
    "inpatient_days": 0.0,
    "blinatumomab_days": 0.0,
    "block1_death": False,
    "early_treatment_failure": False,
    "randomized": False,
    "late_treatment_failure": False,
    "hsct": False,
    "efs_event": False,
    "os_event": False,
}

# A slotted dataclass, so that a misspelt field is an error and building 661
# records per strategy is one generated __init__ each, not a setattr loop.
PatientRecord = make_dataclass(
    "PatientRecord",
    [(name, object, field(default=_STARTING_VALUES.get(name))) for name in _PATIENT_FIELDS]
    + [("now_days", float, field(default=0.0)), ("resistance_z", float, field(default=None)),
       ("censor_day", float, field(default=math.inf)),
       ("therapy_until_day", float, field(default=None))],
    slots=True, eq=False,
    namespace={"__doc__": """One patient's flat row, filled in by the phases as the patient moves.

    Every column of ``PATIENT_SCHEMA`` is a field (``None`` until a phase sets
    it, except the facts in ``_STARTING_VALUES``). Four fields are not
    written out: ``now_days``, the patient's own clock (days since
    enrolment), advanced only by :func:`sim.model.phases.common.wait` so recorded
    times add up exactly; ``resistance_z``, the latent disease resistance from
    the cohort; ``censor_day``, the end of follow-up (horizon or data
    cut-off) on the patient's clock; and ``therapy_until_day``, the planned
    end of the block of first-line therapy under way (set when a block
    starts; :func:`sim.model.phases.common.close_states` turns it into
    ``therapy_end_day`` and the state day counts).
    """},
)
PatientRecord.__module__ = __name__
_WRITTEN_FIELDS = tuple(name for name in _PATIENT_FIELDS if name not in _CONSTANT_FIELDS)
_written_values = attrgetter(*_WRITTEN_FIELDS)


class EventLog:
    """Event rows of one (strategy, replication): one tuple per event, in the order logged.

    ``patient_id``, ``time_days``, ``event``, ``detail`` and ``value`` read
    the rows as columns (for tests and traces).
    """

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[tuple[int, float, str, str | None, float | None]] = []

    def add(self, record: PatientRecord, event: str, detail: str | None = None, value: float | None = None) -> None:
        """An event now, on the patient's clock: text ``detail`` and a number ``value``, each optional."""
        self.rows.append((record.patient_id, record.now_days, event, detail, value))

    def add_at(
        self, record: PatientRecord, day: float, event: str, detail: str | None = None, value: float | None = None
    ) -> None:
        """An event at ``day`` on the patient's clock, possibly written ahead of time (no SimPy wait).

        The caller guarantees that no row added later for this patient has an
        earlier day: the table keeps each patient's rows in the order added.
        """
        self.rows.append((record.patient_id, day, event, detail, value))

    def _column(self, k: int) -> list:
        return [row[k] for row in self.rows]

    patient_id = property(lambda self: self._column(0))
    time_days = property(lambda self: self._column(1))
    event = property(lambda self: self._column(2))
    detail = property(lambda self: self._column(3))
    value = property(lambda self: self._column(4))


def _constant_columns(strategy: str, replication: int, n: int) -> list[pa.Array]:
    return [
        pa.array([strategy] * n, pa.string()),
        pa.array([replication] * n, pa.int32()) if n else pa.array([], pa.int32()),
    ]


def patients_table(strategy: str, replication: int, records: list[PatientRecord]) -> pa.Table:
    columns = _constant_columns(strategy, replication, len(records))
    values = list(zip(*map(_written_values, records))) if records else [()] * len(_WRITTEN_FIELDS)
    for name, column in zip(_WRITTEN_FIELDS, values):
        columns.append(pa.array(column, PATIENT_SCHEMA.field(name).type))
    return pa.Table.from_arrays(columns, schema=PATIENT_SCHEMA)


def events_table(strategy: str, replication: int, log: EventLog) -> pa.Table:
    """The log as a table, each patient's rows together (by patient, then in the order logged)."""
    rows = sorted(log.rows, key=itemgetter(0))  # stable: a patient's rows keep their order
    patient_id, time_days, event, detail, value = zip(*rows) if rows else ([],) * 5
    columns = _constant_columns(strategy, replication, len(rows)) + [
        pa.array(patient_id, pa.int32()),
        pa.array(time_days, pa.float64()),
        pa.array(event, pa.string()),
        pa.array(detail, pa.string()),
        pa.array(value, pa.float64()),
    ]
    return pa.Table.from_arrays(columns, schema=EVENT_SCHEMA)
