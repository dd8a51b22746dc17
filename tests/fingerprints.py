"""Fingerprints of what one replication of each shipped scenario writes, for a fixed seed,
and of the outcome measures and summary of a few replications of one scenario.

``tests/test_same_seed_same_content.py`` compares them with ``tests/data/fingerprints.json``,
so a change meant only to make the code faster or clearer cannot change a table unnoticed.
A change that alters the model or its draws on purpose (a new decision, a refit) regenerates
the file and says so in its commit::

    python -m tests.fingerprints > tests/data/fingerprints.json

Floating-point values are rounded to 10 significant digits first, so a last-bit difference
of another platform's maths library does not count as a change.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pyarrow as pa

from sim.analysis.summary import PATIENT_COLUMNS, SummaryAccumulator, per_replication
from sim.model.replication import simulate_replication
from sim.scenario.load import load_scenario

SCENARIOS = ("aall1331", "mitcl", "reduced_intensity", "capacity", "trial_reduced_vs_r3", "economics_example")
SEED, REPLICATION = 7, 1
# The outcome measures and their summary, as a run computes them: one part per replication.
SUMMARY_SCENARIO, SUMMARY_REPLICATIONS = "mitcl", (1, 2, 3)


def fingerprint(table: pa.Table) -> str:
    """A short hash of a table's schema and values (floats to 10 significant digits)."""
    digest = hashlib.sha256(str(table.schema).encode())
    for name in table.column_names:
        values = table.column(name).to_pylist()
        if pa.types.is_floating(table.schema.field(name).type):
            values = [None if v is None else float(f"{v:.10g}") for v in values]
        digest.update(name.encode())
        digest.update(repr(values).encode())
    return digest.hexdigest()[:16]


def fingerprints() -> dict[str, str]:
    out = {}
    for name in SCENARIOS:
        result = simulate_replication(load_scenario(f"scenarios/{name}.toml").scenario, SEED, REPLICATION)
        for table in ("patients", "events", "occupancy"):
            if getattr(result, table) is not None:
                out[f"{name}/{table}"] = fingerprint(getattr(result, table))
    out.update(summary_fingerprints())
    return out


def summary_fingerprints() -> dict[str, str]:
    """The per-replication outcome measures of a few replications and their summary."""
    scenario = load_scenario(f"scenarios/{SUMMARY_SCENARIO}.toml").scenario
    accumulator = SummaryAccumulator(scenario.strategies, scenario.reference_strategy)
    parts = []
    for replication in SUMMARY_REPLICATIONS:
        patients = simulate_replication(scenario, SEED, replication).patients
        parts.append(per_replication(patients.select(list(PATIENT_COLUMNS)).to_pandas()))
        accumulator.add(parts[-1])
    return {
        f"{SUMMARY_SCENARIO}/replication_summary":
            fingerprint(pa.Table.from_pandas(pd.concat(parts, ignore_index=True), preserve_index=False)),
        f"{SUMMARY_SCENARIO}/summary": fingerprint(pa.Table.from_pandas(accumulator.table(), preserve_index=False)),
    }


if __name__ == "__main__":
    print(json.dumps(fingerprints(), indent=1))
