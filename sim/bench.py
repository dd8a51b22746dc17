"""Benchmark on this machine: ``python -m sim.bench [--quick]``.

Measures, in one run:

1. **Throughput.** Patient trajectories per second on one core, and events
   (rows of ``events/``) per patient, for ``scenarios/aall1331.toml``.
2. **Against bare SimPy.** The same number of events pushed through a bare
   SimPy model (one process per patient doing plain timeouts), in the same
   run; the ratio of the simulator's event rate to bare SimPy's.
3. **Parallel efficiency** from 1 worker to all cores (the real CLI path:
   process pool, Parquet parts): ``T1 / (cores x Tn)``.
4. **Peak memory** (largest resident set of any process of the run) of the
   CLI at 100 and at 2,000 replications.
5. **Wall time** of ``simulate scenarios/mitcl.toml`` at its default replications.

It prints a table and writes it as JSON (``--json-out``). A benchmark, not a
test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simpy

from .replication import run_replication
from .scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "aall1331.toml"
SIMULATE = Path(sys.executable).parent / "simulate"


def simulator_rate(replications: int) -> dict:
    scenario = load_scenario(SCENARIO).scenario
    run_replication(scenario, 1, 0)  # warm-up: imports, caches
    started = time.perf_counter()
    patients = events = 0
    for r in range(replications):
        p, e = run_replication(scenario, 1, r)
        patients, events = patients + p.num_rows, events + e.num_rows
    seconds = time.perf_counter() - started
    return {"patients": patients, "events": events, "seconds": seconds,
            "patients_per_second": patients / seconds, "events_per_patient": events / patients,
            "events_per_second": events / seconds}


def bare_simpy_rate(n_processes: int, events_per_process: int) -> dict:
    """The same number of events through processes that only time out."""

    def patient(env: simpy.Environment, steps: int):
        for _ in range(steps):
            yield env.timeout(1.0)

    env = simpy.Environment()
    for _ in range(n_processes):
        env.process(patient(env, events_per_process))
    started = time.perf_counter()
    env.run()
    seconds = time.perf_counter() - started
    events = n_processes * events_per_process
    return {"events": events, "seconds": seconds, "events_per_second": events / seconds}


def cli_run(args: list[str]) -> dict:
    """Run `simulate` in a child that reports the largest resident set of any descendant."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], capture_output=True); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(SIMULATE), *args], capture_output=True, text=True, check=True)
    seconds, max_rss_kib, returncode = out.stdout.split()
    if returncode != "0":
        raise RuntimeError(f"simulate {' '.join(args)} failed ({returncode})")
    return {"seconds": float(seconds), "peak_rss_mib": int(max_rss_kib) / 1024}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m sim.bench", description=__doc__.split("\n\n")[0].replace("``", ""))
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, for a smoke test: its figures are not comparable with a full run's")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the results as JSON here")
    options = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    sizes = {"throughput": 3, "parallel": 4, "memory": (4, 8), "mitcl": True} if options.quick else \
        {"throughput": 30, "parallel": 60, "memory": (100, 2000), "mitcl": True}

    sim = simulator_rate(sizes["throughput"])
    per_patient = max(1, round(sim["events_per_patient"]))
    bare = bare_simpy_rate(sim["patients"], per_patient)
    results = {
        "machine": f"{platform.system()} {platform.machine()}, {cores} cores, Python {platform.python_version()}",
        "simulator": sim,
        "bare_simpy": bare,
        "ratio_to_bare_simpy": sim["events_per_second"] / bare["events_per_second"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        reps = str(sizes["parallel"])
        one = cli_run([str(SCENARIO), "--reps", reps, "--seed", "1", "--out", f"{tmp}/w1", "--workers", "1", "--quiet"])
        many = cli_run([str(SCENARIO), "--reps", reps, "--seed", "1", "--out", f"{tmp}/wn", "--workers", str(cores), "--quiet"])
        results["parallel"] = {"replications": sizes["parallel"], "seconds_1_worker": one["seconds"],
                               f"seconds_{cores}_workers": many["seconds"],
                               "efficiency": one["seconds"] / (cores * many["seconds"])}
        memory = {}
        for reps in sizes["memory"]:
            run = cli_run([str(SCENARIO), "--reps", str(reps), "--seed", "1", "--out", f"{tmp}/m{reps}", "--quiet"])
            memory[f"peak_rss_mib_{reps}_replications"] = run["peak_rss_mib"]
            memory[f"seconds_{reps}_replications"] = run["seconds"]
        low, high = sizes["memory"]
        memory["ratio"] = memory[f"peak_rss_mib_{high}_replications"] / memory[f"peak_rss_mib_{low}_replications"]
        results["memory"] = memory
        mitcl = cli_run([str(REPO / "scenarios" / "mitcl.toml"), "--seed", "1", "--out", f"{tmp}/mitcl", "--quiet"]
                        + (["--reps", "4"] if options.quick else []))
        results["mitcl_default_seconds"] = mitcl["seconds"]

    print(f"machine: {results['machine']}")
    if options.quick:
        print("--quick: small sizes, a smoke test; these figures are not comparable with a full run's")
    print(f"simulator: {sim['patients_per_second']:,.0f} patient trajectories/s on 1 core, "
          f"{sim['events_per_patient']:.1f} events/patient, {sim['events_per_second']:,.0f} events/s")
    print(f"bare SimPy: {bare['events_per_second']:,.0f} events/s; simulator / bare = {results['ratio_to_bare_simpy']:.2f}")
    p = results["parallel"]
    print(f"parallel efficiency 1 -> {cores} workers: {p['efficiency']:.2f} ({p['replications']} replications)")
    print("peak memory: " + ", ".join(f"{k} {v:.0f}" for k, v in memory.items() if k.startswith("peak"))
          + f" MiB (ratio {memory['ratio']:.2f})")
    print(f"simulate scenarios/mitcl.toml: {results['mitcl_default_seconds']:.1f} s")
    if options.json_out is not None:
        options.json_out.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
