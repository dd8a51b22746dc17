"""The benchmark's sampled profile: every part of a replication is found, and the shares add up."""

from __future__ import annotations

import math
import signal

import pytest

from sim.bench import where_time_goes
from sim.scenario.load import load_scenario


@pytest.mark.skipif(not hasattr(signal, "SIGPROF"), reason="needs SIGPROF")
def test_where_time_goes_names_the_engine_and_the_phases() -> None:
    scenario = load_scenario("scenarios/aall1331.toml").scenario
    shares = where_time_goes(scenario, 1, 4)
    assert math.isclose(sum(shares.values()), 1.0)
    for part in ("SimPy engine", "Block 1 with its MRD map", "the other phases", "random streams"):
        assert shares.get(part, 0.0) > 0.01, (part, shares)
    assert shares.get("other", 0.0) < 0.05, shares  # nearly every sample lands in a named part
    assert signal.getsignal(signal.SIGPROF) in (signal.SIG_DFL, None)  # the handler is removed afterwards
