"""Fingerprints of what one replication of each shipped scenario writes, for a fixed seed.

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

import pyarrow as pa

from sim.model.replication import simulate_replication
from sim.scenario.load import load_scenario

SCENARIOS = ("aall1331", "mitcl", "reduced_intensity", "capacity", "trial_reduced_vs_r3", "economics_example")
SEED, REPLICATION = 7, 1


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
    return out


if __name__ == "__main__":
    print(json.dumps(fingerprints(), indent=1))
