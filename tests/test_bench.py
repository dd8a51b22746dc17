"""The benchmark: the sampled profile finds every part of a replication and its shares add up; each
end-to-end round is compared with bare SimPy timed just before it."""

from __future__ import annotations

import math
import signal

import pytest

from sim.bench import end_to_end, where_time_goes
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


def test_each_end_to_end_round_is_compared_with_bare_simpy_timed_before_it(tmp_path) -> None:
    """Two rounds of real `simulate` runs: the reference is timed once before each round, and each
    round's ratio is the reference's seconds per patient then over that round's."""
    calls = []

    def reference() -> float:
        calls.append(len(calls))
        return 1e-5 * len(calls)  # 1e-5 before the first round, 2e-5 before the second

    e2e = end_to_end(str(tmp_path), 1, 1, 661, rounds=2, reference=reference)
    assert e2e["bare_seconds_per_patient_by_round"] == [1e-5, 2e-5]
    first, second = e2e["seconds_per_replication_by_round"]
    assert sorted(e2e["seconds_per_replication_by_round"]) == list(e2e["seconds_per_replication_range"])
    ratios = sorted([1e-5 / (first / 661), 2e-5 / (second / 661)])
    assert e2e["ratio_by_round_range"] == (ratios[0], ratios[1])
    assert e2e["ratio_by_round"] == ratios[1]  # the median of two, as of five: the middle index, rounded up


def test_the_psa_measure_runs_mitcl_with_every_parameter_drawn_for_each_replication(tmp_path) -> None:
    from sim.bench import REPO, psa_scenario
    from sim.model.replication import realised_parameters
    from sim.scenario.keypaths import value_at
    from sim.scenario.schema import distribution_paths

    scenario = load_scenario(psa_scenario(str(tmp_path))).scenario
    mitcl = load_scenario(REPO / "scenarios" / "mitcl.toml").scenario
    assert scenario.run.parameter_mode == "sampled" and mitcl.run.parameter_mode == "central"
    assert scenario.strategies == mitcl.strategies and len(scenario.strategies) == 3
    assert distribution_paths(scenario) == distribution_paths(mitcl) and len(distribution_paths(scenario)) > 20
    first, second = (realised_parameters(scenario, 1, r) for r in (0, 1))
    differ = [path for path in distribution_paths(mitcl) if value_at(first, path) != value_at(second, path)]
    assert differ == distribution_paths(mitcl)  # each replication draws every parameter afresh


def test_each_round_runs_its_paired_options_right_after_its_own(tmp_path) -> None:
    """The measure without events: each round runs its pair with `--no-events` after its own (those
    runs write no events), and each round's CPU is compared with its own round's."""
    e2e = end_to_end(str(tmp_path), 1, 1, 661, rounds=2, paired=("--no-events",))
    paired = e2e["paired"]
    assert paired["options"] == ("--no-events",) and paired["rounds"] == 2 and paired["replications"] == (1, 2)
    low, high = e2e["paired_cpu_ratio_range"]
    assert low <= e2e["paired_cpu_ratio"] <= high  # (one replication apart, a round's CPU may be noise)
    for k in (0, 1):
        for size in ("small", "large"):
            own, other = tmp_path / f"e2e_aall1331_{size}_{k}", tmp_path / f"e2e_aall1331_no-events_{size}_{k}"
            assert (own / "events").is_dir()
            assert (other / "patients").is_dir() and not (other / "events").exists()
            assert own.stat().st_mtime_ns < other.stat().st_mtime_ns  # the round's own runs first


def test_the_sweep_measure_counts_the_trajectories_its_points_simulated(tmp_path) -> None:
    """A real (small) Latin hypercube sweep through the command on 2 workers: the trajectories
    counted are the (point, strategy, replication) runs its outcome measures record, times the
    patients, and the rate per core is over the workers the run's manifest says it used."""
    import json

    import pandas as pd

    from sim.bench import lhs_sweep

    sweep = lhs_sweep(str(tmp_path), 4, 2, 2)
    runs = pd.read_parquet(tmp_path / "lhs" / "replication_summary")[["point", "strategy", "replication"]]
    assert sweep["trajectories"] == len(runs.drop_duplicates()) * 661 == 4 * 2 * 2 * 661
    assert (sweep["points"], sweep["strategies"], sweep["replications_per_point"]) == (4, 2, 2)
    assert sweep["workers"] == json.loads((tmp_path / "lhs" / "manifest.json").read_text())["workers"] == 2
    assert sweep["trajectories_per_second_per_core"] * sweep["seconds"] * 2 == pytest.approx(sweep["trajectories"])
    assert (tmp_path / "lhs" / "sensitivity").is_dir()


def test_a_marginal_time_of_zero_or_less_gives_no_rate_and_no_efficiency() -> None:
    """At --quick sizes a round's extra replications can take no longer than start-up's noise: the
    report says so rather than printing a negative throughput or efficiency."""
    from sim.bench import UNMEASURABLE, _efficiency, _rate

    def measure(median: float, low: float, high: float) -> dict:
        return {"seconds_per_replication": median, "seconds_per_replication_range": (low, high),
                "patients_per_second": 661 / median if median else 0.0,
                "patients_per_second_range": (661 / high if high else 0.0, 661 / low if low else 0.0)}

    assert _rate(measure(0.05, 0.04, 0.06)) == "13,220 [11,017, 16,525] trajectories/s/core"
    assert _rate(measure(-0.2, -0.3, 0.1)) == UNMEASURABLE
    assert _rate(measure(0.05, -0.01, 0.06)) == f"13,220 trajectories/s/core [range {UNMEASURABLE}]"
    assert _efficiency(0.95, 0.9, 1.1) == "0.95 [0.90, 1.10]"
    assert _efficiency(0.13, -3.01, 0.13) == UNMEASURABLE
