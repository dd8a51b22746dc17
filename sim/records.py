"""Flat records: one row per patient, one row per event, with explicit schemas.

Processes only append; nothing here computes statistics. ``None`` (null in
Parquet) means "did not happen" or "unknown", never a sentinel value.
All times are days from the patient's own enrolment.
"""

from __future__ import annotations

import pyarrow as pa

# Named Block 1 adverse events, each recorded as its worst grade (3, 4 or 5;
# null when below grade 3). Must match sim.parameters.AdverseEvents.
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
        ("relapse_day", pa.float64()),
        ("salvage", pa.string()),
        ("efs_days", pa.float64()),
        ("efs_event", pa.bool_()),
        ("efs_event_type", pa.string()),
        ("os_days", pa.float64()),
        ("os_event", pa.bool_()),
        ("death_cause", pa.string()),
        ("inpatient_days", pa.float64()),
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
    ]
)

_PATIENT_FIELDS = tuple(PATIENT_SCHEMA.names)
_CONSTANT_FIELDS = ("strategy", "replication")


class PatientRecord:
    """One patient's flat row, filled in by the phases as the patient moves.

    Two attributes are not written out: ``now_days``, the patient's own clock
    (days since enrolment), advanced only by :func:`sim.phases.common.wait`
    so recorded times add up exactly; and ``resistance_z``, the latent
    disease resistance from the cohort; ``censor_day``, the end of follow-up
    (horizon or data cut-off) on the patient's clock.
    """

    __slots__ = _PATIENT_FIELDS + ("now_days", "resistance_z", "censor_day")

    def __init__(self, **covariates: object) -> None:
        for name in _PATIENT_FIELDS:
            setattr(self, name, None)
        for name, value in covariates.items():
            setattr(self, name, value)
        self.now_days = 0.0
        self.inpatient_days = 0.0
        # Facts that are false until a phase makes them true (never unknown).
        self.block1_death = False
        self.early_treatment_failure = False
        self.randomized = False
        self.late_treatment_failure = False
        self.hsct = False
        self.efs_event = False
        self.os_event = False
        self.censor_day = float("inf")


class EventLog:
    """Event rows of one (strategy, replication), kept as columns."""

    __slots__ = ("patient_id", "time_days", "event", "detail")

    def __init__(self) -> None:
        self.patient_id: list[int] = []
        self.time_days: list[float] = []
        self.event: list[str] = []
        self.detail: list[str | None] = []

    def add(self, record: PatientRecord, event: str, detail: str | None = None) -> None:
        self.patient_id.append(record.patient_id)
        self.time_days.append(record.now_days)
        self.event.append(event)
        self.detail.append(detail)


def _constant_columns(strategy: str, replication: int, n: int) -> list[pa.Array]:
    return [
        pa.array([strategy] * n, pa.string()),
        pa.array([replication] * n, pa.int32()) if n else pa.array([], pa.int32()),
    ]


def patients_table(strategy: str, replication: int, records: list[PatientRecord]) -> pa.Table:
    columns = _constant_columns(strategy, replication, len(records))
    for field in PATIENT_SCHEMA:
        if field.name in _CONSTANT_FIELDS:
            continue
        columns.append(pa.array([getattr(r, field.name) for r in records], field.type))
    return pa.Table.from_arrays(columns, schema=PATIENT_SCHEMA)


def events_table(strategy: str, replication: int, log: EventLog) -> pa.Table:
    n = len(log.event)
    columns = _constant_columns(strategy, replication, n) + [
        pa.array(log.patient_id, pa.int32()),
        pa.array(log.time_days, pa.float64()),
        pa.array(log.event, pa.string()),
        pa.array(log.detail, pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=EVENT_SCHEMA)
