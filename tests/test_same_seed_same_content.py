"""Same seed, same content: one replication of each shipped scenario writes what it wrote
when ``tests/data/fingerprints.json`` was made, and a few replications' outcome measures and
summary are what they were (see ``tests/fingerprints.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fingerprints import fingerprints

RECORDED = json.loads((Path(__file__).parent / "data" / "fingerprints.json").read_text())


@pytest.fixture(scope="module")
def current() -> dict[str, str]:
    return fingerprints()


@pytest.mark.parametrize("key", sorted(RECORDED))
def test_a_replication_writes_what_it_wrote(current: dict[str, str], key: str) -> None:
    assert current[key] == RECORDED[key], (
        f"{key} changed for the same seed; if the change is meant to alter the model or its draws, "
        "regenerate tests/data/fingerprints.json (python -m tests.fingerprints) and say why in the commit")


def test_every_table_is_recorded(current: dict[str, str]) -> None:
    assert sorted(current) == sorted(RECORDED)
