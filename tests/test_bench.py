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
    before = signal.getsignal(signal.SIGPROF)
    profile = where_time_goes(scenario, 1, 15)  # about a second of CPU: a couple of hundred samples or more
    shares = profile["shares"]
    assert profile["samples"] > 50
    assert math.isclose(sum(shares.values()), 1.0)
    for part in ("SimPy engine", "Block 1 with its MRD map", "the other phases"):  # each about a tenth or more
        assert shares.get(part, 0.0) > 0.02, (part, shares)
    assert shares.get("other", 0.0) < 0.1, shares  # nearly every sample lands in a named part
    assert signal.getsignal(signal.SIGPROF) == before and signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
