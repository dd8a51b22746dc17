"""Flat records: one row per patient, one row per event, with explicit schemas.

Processes only append; nothing here computes statistics. ``None`` (null in
Parquet) means "did not happen" or "unknown", never a sentinel value.
All times are days from the patient's own enrolment.

MRD: the processes carry the continuous latent level of residual disease
(capped at 100%), which drives the model; the tables record what a flow
assay reports (:func:`mrd_reading`): below the detection limit the status
``negative`` and a null value, else ``positive`` and the value; null status
when no result exists.
"""

from __future__ import annotations

import functools
import math
from dataclasses import field, make_dataclass
from operator import attrgetter
from typing import Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from sim.clinical import MRD_MAX_PERCENT

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

# The columns that lead every table a replication writes: which run a row belongs to.
REPLICATION_COLUMNS = [("strategy", pa.string()), ("replication", pa.int32())]
PATIENT_KEY_COLUMNS = [*REPLICATION_COLUMNS, ("patient_id", pa.int32())]


def mrd_columns(prefix: str = "") -> list[tuple[str, pa.DataType]]:
    """An MRD result as the tables record it (:func:`mrd_reading`): the value, then the status."""
    return [(f"{prefix}mrd_percent", pa.float64()), (f"{prefix}mrd_status", pa.string())]


PATIENT_SCHEMA = pa.schema(
    [
        *PATIENT_KEY_COLUMNS,
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
        *mrd_columns("eob1_"),
        ("risk_group", pa.string()),
        ("not_assigned_reason", pa.string()),
        ("randomized", pa.bool_()),
        ("arm", pa.string()),
        ("not_randomized_reason", pa.string()),
        ("off_protocol_therapy", pa.string()),
        ("consolidation_cycles", pa.int8()),
        *mrd_columns("cycle1_"),
        *mrd_columns("cycle2_"),
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
        *PATIENT_KEY_COLUMNS,
        ("time_days", pa.float64()),
        ("event", pa.string()),
        ("detail", pa.string()),
        # typed numbers (EventLog): whole ones, the MRD reading, then measures
        *[(name, pa.int8()) for name in ("cycle", "grade")],
        *mrd_columns(),
        *[(name, pa.float64()) for name in ("dose_gy", "wait_days")],
    ]
)

# Each column's unit (written into the Parquet schema metadata); columns not named have none.
UNITS = {
    **{name: "days since the patient's enrolment" for name in PATIENT_SCHEMA.names + EVENT_SCHEMA.names
       if name.endswith("_days") or name.endswith("_day")},
    "enrolment_day": "days since the start of accrual",
    "inpatient_days": "days",
    "block1_bed_wait_days": "days",
    "months_to_relapse": "months from diagnosis",
    "age_years": "years",
    **{name: "% of marrow mononuclear cells (flow MRD; null when negative or unknown)"
       for name in PATIENT_SCHEMA.names + EVENT_SCHEMA.names if name.endswith("mrd_percent")},
    **{name: "CTCAE grade" for name in PATIENT_SCHEMA.names + EVENT_SCHEMA.names
       if name.endswith("_grade") or name == "grade"},
    "dose_gy": "Gy",
}

MRD_COLUMNS = ("eob1_mrd_percent", "cycle1_mrd_percent", "cycle2_mrd_percent")
MRD_NEGATIVE, MRD_POSITIVE = "negative", "positive"


def mrd_reading(level_percent: float | None, detection_limit_percent: float) -> tuple[float | None, str | None]:
    """What a flow assay reports for a latent MRD level: ``(value, status)``.

    Below the detection limit: ``(None, "negative")``; at or above it:
    ``(level, "positive")`` (the level is at most 100%); no result:
    ``(None, None)``.
    """
    if level_percent is None:
        return None, None
    if level_percent < detection_limit_percent:
        return None, MRD_NEGATIVE
    return min(level_percent, MRD_MAX_PERCENT), MRD_POSITIVE


_STATUS_COLUMNS = tuple(name.replace("_percent", "_status") for name in MRD_COLUMNS)
# What a record holds and the table writes: every column but the replication columns and MRD statuses,
# in the schema's order (patient_id, then the cohort's covariates: a record is built positionally from them).
_WRITTEN_FIELDS = tuple(name for name in PATIENT_SCHEMA.names[len(REPLICATION_COLUMNS):] if name not in _STATUS_COLUMNS)
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
    [(name, object, field(default=_STARTING_VALUES.get(name))) for name in _WRITTEN_FIELDS]
    + [("now_days", float, field(default=0.0)), ("resistance_z", float, field(default=None)),
       ("censor_day", float, field(default=math.inf)),
       ("therapy_until_day", float, field(default=None))],
    slots=True, eq=False,
    namespace={"__doc__": """One patient's flat row, filled in by the phases as the patient moves.

    Every column of ``PATIENT_SCHEMA`` but the replication columns and the MRD
    status columns is a field, in the schema's order: ``patient_id``, then the
    cohort's covariates (so a record is built as ``PatientRecord(i, *covariates,
    resistance_z=z)``), then what the phases fill in (``None`` until a phase
    sets it, except the facts in ``_STARTING_VALUES``);
    the ``*_mrd_percent`` fields hold the latent level, which the table turns
    into the assay's reading and status. Four fields are not
    written out: ``now_days``, the patient's own clock (days since
    enrolment), advanced only by :func:`sim.model.phases.common.race`,
    :func:`~sim.model.phases.common.advance` (and the queue) so recorded
    times add up exactly; ``resistance_z``, the latent disease resistance from
    the cohort; ``censor_day``, the end of follow-up (horizon or data
    cut-off) on the patient's clock; and ``therapy_until_day``, the planned
    end of the block of first-line therapy under way (set when a block
    starts; :func:`sim.model.phases.common.close_states` turns it into
    ``therapy_end_day`` and the state day counts).
    """},
)
PatientRecord.__module__ = __name__
_written_values = attrgetter(*_WRITTEN_FIELDS)


class EventLog:
    """Event rows of one (strategy, replication): one tuple per event, in the order logged.

    ``detail`` is a label (a name, never a number); numbers go in typed
    fields: ``cycle``, ``grade``, ``mrd_percent`` (the latent level; the
    table records the assay's reading), ``dose_gy`` and ``wait_days`` (a
    queue). Each of ``FIELDS`` reads the rows as a column (for tests and
    traces).
    """

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    # The typed numbers are passed by keyword; they are not keyword-only because a call must then
    # look each missing one's default up in a dict: a third of the cost of ``add``, made ~15 times a patient.
    def add(self, record: PatientRecord, event: str, detail: str | None = None, cycle: int | None = None,
            grade: int | None = None, mrd_percent: float | None = None, dose_gy: float | None = None,
            wait_days: float | None = None) -> None:
        """An event now, on the patient's clock, with an optional label and typed numbers (by keyword)."""
        self.rows.append(
            (record.patient_id, record.now_days, event, detail, cycle, grade, mrd_percent, dose_gy, wait_days)
        )

    def add_at(self, record: PatientRecord, day: float, event: str, detail: str | None = None,
               grade: int | None = None) -> None:
        """An event at ``day`` on the patient's clock, possibly written ahead of time (no SimPy wait).

        The caller guarantees that no row added later for this patient has an
        earlier day: the table keeps each patient's rows in the order added.
        """
        self.rows.append((record.patient_id, day, event, detail, None, grade, None, None, None))

    # A row's fields, in order (``mrd_percent`` holds the latent level); each reads as a column.
    FIELDS = ("patient_id", "time_days", "event", "detail", "cycle", "grade", "mrd_percent", "dose_gy", "wait_days")

    def __getattr__(self, name: str) -> list:
        """A field of every row as a column, e.g. ``log.event`` (for tests and traces)."""
        if name not in EventLog.FIELDS:
            raise AttributeError(f"EventLog has no column {name!r} (columns: {', '.join(EventLog.FIELDS)})")
        k = EventLog.FIELDS.index(name)
        return [row[k] for row in self.rows]


class DiscardedEvents(EventLog):
    """An event log that keeps no rows: for a replication whose events table nobody reads (a run
    with ``--no-events``, ``simulate validate``, a sweep's points, the unlimited twin of a run with
    limited capacity, calibration, a trial's simulated patients), which then skips the cost of
    logging each event (some fifteen a patient) and of its table. The phases call it as they call
    an :class:`EventLog`; nothing they do depends on what is logged."""

    __slots__ = ()

    def add(self, record: PatientRecord, event: str, detail: str | None = None, cycle: int | None = None,
            grade: int | None = None, mrd_percent: float | None = None, dose_gy: float | None = None,
            wait_days: float | None = None) -> None:
        """Nothing (see :meth:`EventLog.add`)."""

    def add_at(self, record: PatientRecord, day: float, event: str, detail: str | None = None,
               grade: int | None = None) -> None:
        """Nothing (see :meth:`EventLog.add_at`)."""


def replication_columns(strategy: str, replication: int, n: int) -> list[pa.Array]:
    """The ``REPLICATION_COLUMNS`` of ``n`` rows of one (strategy, replication)."""
    return [pa.repeat(pa.scalar(strategy, pa.string()), n), pa.repeat(pa.scalar(replication, pa.int32()), n)]


def patients_table(strategy: str, replication: int, records: list[PatientRecord],
                   mrd_detection_limit_percent: float, columns: Sequence[str] | None = None) -> pa.Table:
    """The records as a table; latent MRD levels become assay readings (value and status).

    With ``columns`` (names of ``PATIENT_SCHEMA``), only those are built, after the key columns
    (``PATIENT_KEY_COLUMNS``), and an MRD reading's value and status together: for a caller that
    reads a few (a sweep's outcome measures read a third), a table costs as much less."""
    schema, fields, values, levels = patient_table_layout(columns)
    return table_of(schema, strategy, replication, fields, list(map(values, records)), levels,
                    mrd_detection_limit_percent)


def patient_table_layout(columns: Sequence[str] | None) -> tuple[pa.Schema, tuple[str, ...], Callable,
                                                                  tuple[str, ...]]:
    """The schema, record fields, their getter and MRD levels of a patients table of ``columns``
    (None: all); a ValueError names an unknown column."""
    if isinstance(columns, str):
        raise TypeError(f"patient columns: a sequence of column names, not one string ({columns!r})")
    return _layout(None if columns is None else tuple(columns))


@functools.lru_cache(maxsize=16)
def _layout(columns: tuple[str, ...] | None) -> tuple[pa.Schema, tuple[str, ...], Callable, tuple[str, ...]]:
    if columns is None:
        return PATIENT_SCHEMA, _WRITTEN_FIELDS, _written_values, MRD_COLUMNS
    unknown = [name for name in columns if name not in PATIENT_SCHEMA.names]
    if unknown:
        raise ValueError(f"no patient column {', '.join(map(repr, unknown))} (columns: {', '.join(PATIENT_SCHEMA.names)})")
    status = dict(zip(MRD_COLUMNS, _STATUS_COLUMNS))
    levels = tuple(level for level in MRD_COLUMNS if level in columns or status[level] in columns)
    kept = {name for name, _ in PATIENT_KEY_COLUMNS} | set(columns) | set(levels) | {status[level] for level in levels}
    fields = tuple(name for name in _WRITTEN_FIELDS if name in kept)  # patient_id at least: a tuple getter
    schema = pa.schema([column for column in PATIENT_SCHEMA if column.name in kept])
    return schema, fields, attrgetter(*fields) if len(fields) > 1 else lambda record: (record.patient_id,), levels


def events_table(strategy: str, replication: int, log: EventLog, mrd_detection_limit_percent: float) -> pa.Table:
    """The log as a table, each patient's rows together (by patient, then in the order logged)."""
    return table_of(EVENT_SCHEMA, strategy, replication, EventLog.FIELDS, log.rows, ("mrd_percent",),
                    mrd_detection_limit_percent, sort_by="patient_id")


def table_of(schema: pa.Schema, strategy: str, replication: int, names: tuple[str, ...], rows: list[tuple],
             mrd_levels: tuple[str, ...] = (), mrd_detection_limit_percent: float = 0.0,
             sort_by: str | None = None) -> pa.Table:
    """A table of ``schema`` from ``rows``, tuples of the columns ``names`` (all but the replication
    columns, added here), converted by Arrow in one pass over the rows (a fifth faster than a column
    list each); each of ``mrd_levels`` holds latent levels, written as the assay's value and status.
    With ``sort_by``, the rows are stably sorted by that column (rows of equal values keep their order),
    before the replication columns are added (which need no reordering); rows already in order (a run
    with nothing limited logs each patient's rows together) are kept as they are."""
    converted = pa.array(rows, type=_row_type(schema, tuple(names)))
    if sort_by is not None and not _ascending(converted.field(sort_by)):
        converted = converted.take(pc.sort_indices(converted.field(sort_by)))  # Arrow's sort is stable
    arrays = dict(zip(names, converted.flatten()))
    for name in mrd_levels:
        arrays[name], arrays[name.replace("_percent", "_status")] = _reading_arrays(
            arrays[name], mrd_detection_limit_percent)
    columns = replication_columns(strategy, replication, len(rows))
    columns += [arrays[name] for name in schema.names[len(REPLICATION_COLUMNS):]]
    return pa.Table.from_arrays(columns, schema=schema)


def _ascending(keys: pa.Array) -> bool:
    """Whether ``keys`` (integers, no nulls) never decrease."""
    values = keys.to_numpy()
    return bool((values[1:] >= values[:-1]).all())


@functools.lru_cache(maxsize=16)
def _row_type(schema: pa.Schema, names: tuple[str, ...]) -> pa.StructType:
    """A row of the columns ``names`` of ``schema``, as an Arrow struct."""
    return pa.struct([schema.field(name) for name in names])


def _reading_arrays(levels: pa.Array, limit: float) -> tuple[pa.Array, pa.Array]:
    """:func:`mrd_reading` of every level at once: the value and status arrays."""
    below = pc.less(levels, limit)
    value = pc.if_else(below, pa.scalar(None, pa.float64()), pc.min_element_wise(levels, MRD_MAX_PERCENT))
    status = pc.if_else(below, MRD_NEGATIVE, MRD_POSITIVE)
    return value, status
