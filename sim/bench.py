"""Benchmark on this machine: ``python -m sim.bench [--quick] [--json-out FILE]``.

Measures what a user pays, in one run:

1. **End to end.** The marginal cost of a replication of
   ``scenarios/aall1331.toml`` through the ``simulate`` command itself, one
   worker, summaries and Parquet included: the wall time of a run of
   ``base + extra`` replications minus that of ``base`` replications, over
   ``extra`` (start-up cancels out). Reported as patient trajectories per
   second per core: the median of five interleaved pairs of runs, with the
   range. The simulation alone and bare SimPy keep the fastest of three
   passes in this process.
2. **Simulation only.** ``run_replication`` in this process (cohort, SimPy
   processes, patient and event tables; no summaries, no Parquet).
3. **Bare SimPy, same run.** The simulator's SimPy timeouts per patient are
   counted (an environment that counts what it schedules); a bare SimPy model
   then runs one process per patient pushing exactly as many plain timeouts
   in total, with the garbage collector paused as in a replication. The
   ratios ``bare seconds / simulator seconds`` per patient, end to end and
   simulation only, say how close each patient's pathway
   comes to the engine's own cost (1 would mean the model adds nothing).
   Bare SimPy is timed again just before each end-to-end round, and each
   round's ratio to that time is reported too (median and range): on a
   machine whose speed drifts during the benchmark, it moves less than the
   ratio to bare SimPy's time at the start.
4. **Parallel efficiency** from 1 worker to all cores: ``T1 / (cores x Tn)``
   with ``T`` the marginal wall time per replication of the ``simulate``
   command (start-up excluded, as end to end: what the pool, its tasks and
   their writing cost); also the whole command's at the larger size,
   start-up included (a fixed second of imports that a short run notices);
   and the CPU time of all the command's processes with 1 worker over that
   with all cores (1 when running in parallel adds no work). Runs with 1 and
   with all workers are interleaved in rounds and the median round reported
   with the range: single runs move by several % on a machine whose speed
   drifts.
5. **Peak memory** (largest resident set of any process of the run) of the
   command at 100 and at 2,000 replications.
6. **A sampled sweep:** the wall time of a 64-point Latin hypercube sweep of
   ``scenarios/mitcl_sensitivity.toml`` at 10 replications per point, on all
   cores, start-up and the sensitivity analysis included, and the patient
   trajectories it simulated per second per core (and per CPU second): what
   a user of sweeps gets, events and unread columns left out as a sweep
   leaves them.
   **Probabilistic sensitivity analysis:** end to end as in 1, for
   ``scenarios/mitcl.toml``'s three strategies with every parameter drawn
   afresh for each replication (``run.parameter_mode = "sampled"``), which
   realises the parameters and builds the phase models for every
   replication (median of three rounds, 10 and 40 replications).
   **Without events:** each round of 1 also runs its pair of commands
   with ``simulate --no-events`` (no event logged, no ``events/``
   dataset), right after its own; the CPU ratio of the two pairs of each
   round (median and range) compares them at the same moment.
7. **Where the time goes:** ``run_replication`` (100 replications) sampled
   by the CPU-time timer (``SIGPROF``; at most every half millisecond, in
   practice at the kernel's tick, every 4 ms on a common Linux), each sample
   weighted by the CPU time since the previous one, so a long call into
   Arrow or numpy counts in full, and given to the part of the program it
   stood in (the innermost frame of the package or of SimPy): SimPy's engine,
   each phase, the random streams, the tables, and so on. Python runs a
   signal handler only between bytecodes, so a little of a caller's time
   goes to what it calls next. Left out where ``SIGPROF`` is missing
   (Windows).

It prints a table and writes it as JSON (``--json-out``). A benchmark, not a
test: nothing here fails on a slow machine. Each time is measured as wall
time and as CPU time (of this process, or of all the command's processes):
on a machine other work shares, CPU times and their ratios are the steady
figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import simpy

from sim.model.replication import collector_paused, run_replication
from sim.scenario.load import load_scenario

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "aall1331.toml"
SWEEP_SCENARIO = REPO / "scenarios" / "mitcl_sensitivity.toml"
SIMULATE = Path(sys.executable).parent / "simulate"
REPEATS = 3  # timed measures keep their fastest run
SWEEP_PARAMETERS = (
    "reinduction.mitcl.toxic_death_prob.bm_lt18",
    "reinduction.mitcl.early_treatment_failure_prob.bm_lt18",
    "reinduction.mitcl.mrd_ge_0_01_prob.bm_lt18",
    "reinduction.mitcl.infectious_death_share",
    "hsct.trm_rr_aya",
)


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the timeouts it creates and the events it processes."""

    def __init__(self) -> None:
        super().__init__()
        self.n_timeouts = 0
        self.n_steps = 0

    def timeout(self, delay: float = 0, value: object = None) -> simpy.Timeout:
        self.n_timeouts += 1
        return super().timeout(delay, value)

    def step(self) -> None:
        self.n_steps += 1
        super().step()


def simpy_work_per_patient(scenario, seed: int, replications: int) -> dict:
    """SimPy timeouts and processed events per patient trajectory, counted."""
    environments: list[CountingEnvironment] = []

    def counting() -> CountingEnvironment:
        environments.append(CountingEnvironment())
        return environments[-1]

    patients = sum(run_replication(scenario, seed, r, environment=counting)[0].num_rows for r in range(replications))
    return {"timeouts_per_patient": sum(e.n_timeouts for e in environments) / patients,
            "steps_per_patient": sum(e.n_steps for e in environments) / patients}


def simulation_only(scenario, seed: int, replications: int) -> dict:
    """The fastest of ``REPEATS`` passes over ``replications`` replications, after a warm-up."""
    run_replication(scenario, seed, replications)  # warm-up: imports, caches
    passes = []
    for _ in range(REPEATS):
        started, started_cpu = time.perf_counter(), time.process_time()
        patients = events = 0
        for r in range(replications):
            p, e = run_replication(scenario, seed, r)
            patients, events = patients + p.num_rows, events + e.num_rows
        passes.append((time.perf_counter() - started, time.process_time() - started_cpu))
    seconds, cpu_seconds = min(p[0] for p in passes), min(p[1] for p in passes)
    return {"patients": patients, "event_rows": events, "seconds": seconds, "cpu_seconds": cpu_seconds,
            "seconds_per_patient": seconds / patients, "patients_per_second": patients / seconds,
            "cpu_seconds_per_patient": cpu_seconds / patients, "patients_per_cpu_second": patients / cpu_seconds}


PACKAGE = Path(__file__).resolve().parent
SIMPY = Path(simpy.__file__).resolve().parent
TABLES = "patients and events tables"
# The part of the program each module of the model is (``where_time_goes``); other modules of the package: "other".
PARTS = {
    "model/phases/block1.py": "Block 1 with its MRD map", "model/phases/mrd.py": "Block 1 with its MRD map",
    "model/phases/common.py": "waits and closing (phases/common.py)", "model/pathway.py": "routing (pathway.py)",
    "model/streams.py": "random streams", "model/records.py": TABLES,
    "model/cohort.py": "the cohort", "model/replication.py": "records, processes, replication",
    "model/capacity.py": "records, processes, replication", "model/survival.py": "the other phases",
}


_FILE_PARTS: dict[str, str] = {}  # each code file's part, found once


def _part(frame) -> str:
    """The part of the program a sample stands in: its innermost frame of the package or of SimPy
    (a call into Arrow, numpy or the standard library counts for the code that made it)."""
    while frame is not None:
        code = frame.f_code
        part = _FILE_PARTS.get(code.co_filename)
        if part is None:
            part = _FILE_PARTS[code.co_filename] = _part_of_file(code.co_filename)
        if part == TABLES and code.co_name in ("add", "add_at"):  # records.py: the event log's own
            return "event log"
        if part:
            return part
        frame = frame.f_back
    return "other"


def _part_of_file(filename: str) -> str:
    """A code file's part; "" for one outside the package and SimPy (look at its caller)."""
    path = Path(filename).resolve()
    if path.is_relative_to(SIMPY):
        return "SimPy engine"
    if not path.is_relative_to(PACKAGE):
        return ""
    module = path.relative_to(PACKAGE).as_posix()
    if module.startswith("model/phases/") and module not in PARTS:
        return "the other phases"
    return PARTS.get(module, "other")


def where_time_goes(scenario, seed: int, replications: int, interval: float = 0.0005) -> dict | None:
    """Shares of ``run_replication``'s CPU time by part of the program, from samples of the CPU-time
    timer (``interval``, or the kernel's tick where that is coarser: 4 ms on a common Linux),
    each weighted by the CPU time since the previous one; with the number of samples. None where
    the platform has no ``SIGPROF`` (Windows) or when called outside the main thread."""
    if not hasattr(signal, "SIGPROF") or threading.current_thread() is not threading.main_thread():
        return None
    seconds: Counter[str] = Counter()
    last, samples = [time.process_time()], [0]

    def sample(signum, frame) -> None:
        now = time.process_time()
        seconds[_part(frame)] += now - last[0]
        last[0], samples[0] = now, samples[0] + 1

    run_replication(scenario, seed, replications)  # warm-up: caches, as in the other measures
    previous_handler = signal.getsignal(signal.SIGPROF)
    previous_timer = signal.getitimer(signal.ITIMER_PROF)
    try:
        signal.signal(signal.SIGPROF, sample)
        last[0] = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, interval, interval)
        for r in range(replications):
            run_replication(scenario, seed, r)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL if previous_handler is None else previous_handler)
        signal.setitimer(signal.ITIMER_PROF, *previous_timer)
    total = sum(seconds.values())
    return {"samples": samples[0], "replications": replications,
            "shares": {part: value / total for part, value in seconds.most_common()} if total else {}}


def timeouts_of_each(n_processes: int, total_timeouts: int) -> list[int]:
    """Split ``total_timeouts`` over ``n_processes`` as evenly as whole numbers allow."""
    base, extra = divmod(total_timeouts, n_processes)
    return [base + (k < extra) for k in range(n_processes)]


def bare_simpy(n_processes: int, total_timeouts: int) -> dict:
    """``total_timeouts`` plain timeouts, spread over one process per patient."""

    def patient(env: simpy.Environment, steps: int):
        for _ in range(steps):
            yield env.timeout(1.0)

    passes = []
    for _ in range(REPEATS):
        env = simpy.Environment()
        started, started_cpu = time.perf_counter(), time.process_time()
        with collector_paused():  # as a replication runs, so the two compare like with like
            for steps in timeouts_of_each(n_processes, total_timeouts):
                env.process(patient(env, steps))
            env.run()
        passes.append((time.perf_counter() - started, time.process_time() - started_cpu))
    seconds, cpu_seconds = min(p[0] for p in passes), min(p[1] for p in passes)
    return {"patients": n_processes, "timeouts": total_timeouts, "seconds": seconds, "cpu_seconds": cpu_seconds,
            "seconds_per_patient": seconds / n_processes, "cpu_seconds_per_patient": cpu_seconds / n_processes}


def cli_run(args: list[str]) -> dict:
    """Run `simulate` in a child that reports its wall time, the CPU time of all its
    processes, and the largest resident set of any of them."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], capture_output=True); "
        "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(time.perf_counter() - t, u.ru_utime + u.ru_stime, u.ru_maxrss, r.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(SIMULATE), *args], capture_output=True, text=True, check=True)
    seconds, cpu_seconds, max_rss_kib, returncode = out.stdout.split()
    if returncode != "0":
        raise RuntimeError(f"simulate {' '.join(args)} failed with status {returncode}; "
                           "Suggestion: run that command alone to see its message")
    return {"seconds": float(seconds), "cpu_seconds": float(cpu_seconds), "peak_rss_mib": int(max_rss_kib) / 1024}


def end_to_end(tmp: str, base: int, extra: int, patients_per_replication: int, rounds: int = 5,
               reference: Callable[[], float] | None = None, scenario: Path = SCENARIO,
               options: tuple[str, ...] = (), paired: tuple[str, ...] | None = None) -> dict:
    """Marginal seconds per replication of `simulate --workers 1`, start-up excluded: the median
    over ``rounds`` interleaved pairs of runs (``base`` and ``base + extra`` replications), so a
    machine whose speed drifts between runs moves the figure less than a single pair would.

    With ``reference`` (bare SimPy's seconds per patient, timed when called), bare SimPy is timed
    again just before each pair and each round's ratio taken against it: the median and range of
    those ratios move less with a drifting machine than a ratio to one time taken at the start.
    ``options`` are further options of the command. With ``paired`` (other options, e.g.
    ``("--no-events",)``), each round also runs a pair with those, right after its own: "paired"
    holds their figures, and "paired_cpu_ratio" the CPU of each round's pair over its own (median
    and range), which compares the two at the same moment of a drifting machine.
    """
    def pair(k: int, extra_options: tuple[str, ...]) -> tuple[dict, dict]:
        label = scenario.stem + "".join(f"_{option.lstrip('-')}" for option in extra_options)
        return tuple(cli_run([str(scenario), "--reps", str(reps), "--seed", "1", "--out", f"{tmp}/e2e_{label}_{size}_{k}",
                              "--workers", "1", "--quiet", *extra_options])
                     for size, reps in (("small", base), ("large", base + extra)))

    pairs, bare, others = [], [], []
    for k in range(rounds):
        if reference is not None:
            bare.append(reference())
        pairs.append(pair(k, options))
        if paired is not None:
            others.append(pair(k, options + paired))
    result = _marginal(pairs, base, extra, patients_per_replication)
    if bare:
        ratios = sorted(b / (w / patients_per_replication)
                        for b, w in zip(bare, result["seconds_per_replication_by_round"]))
        result.update(ratio_by_round=ratios[len(ratios) // 2], ratio_by_round_range=(ratios[0], ratios[-1]),
                      bare_seconds_per_patient_by_round=bare)
    if others:
        cpu = sorted(_cpu_per_replication(b, extra) / _cpu_per_replication(a, extra) for a, b in zip(pairs, others))
        result.update(paired={"options": paired, **_marginal(others, base, extra, patients_per_replication)},
                      paired_cpu_ratio=cpu[len(cpu) // 2], paired_cpu_ratio_range=(cpu[0], cpu[-1]))
    return result


def _cpu_per_replication(pair: tuple[dict, dict], extra: int) -> float:
    small, large = pair
    return (large["cpu_seconds"] - small["cpu_seconds"]) / extra


def _marginal(pairs: list[tuple[dict, dict]], base: int, extra: int, patients_per_replication: int) -> dict:
    """The marginal figures of ``pairs`` of runs (``base`` and ``base + extra`` replications): the median
    round and the range."""
    by_round = [(large["seconds"] - small["seconds"]) / extra for small, large in pairs]
    wall = sorted(by_round)
    cpu = sorted(_cpu_per_replication(pair, extra) for pair in pairs)
    per_replication, cpu_per_replication = wall[len(wall) // 2], cpu[len(cpu) // 2]
    return {"replications": (base, base + extra), "rounds": len(pairs),
            "seconds_per_replication_by_round": by_round,
            "seconds_per_replication_range": (wall[0], wall[-1]),
            "seconds_per_replication": per_replication,
            "seconds_per_patient": per_replication / patients_per_replication,
            "patients_per_second": patients_per_replication / per_replication,
            "patients_per_second_range": (patients_per_replication / wall[-1], patients_per_replication / wall[0]),
            "cpu_seconds_per_patient": cpu_per_replication / patients_per_replication,
            "patients_per_cpu_second": patients_per_replication / cpu_per_replication}


def parallel_efficiency(tmp: str, base: int, extra: int, cores: int, pairs: int) -> dict:
    """``T1 / (cores x Tn)`` from ``pairs`` interleaved rounds, each timing the command with 1
    worker and with all cores at ``base`` and ``base + extra`` replications; the median round
    and the range (a machine whose speed drifts between runs moves single runs by several %).

    Marginal: start-up excluded, as end to end (what the pool, its tasks and their writing cost);
    command: the whole command at the larger size, start-up included.
    """
    rounds = []
    for k in range(pairs):
        times = {}
        for workers in (1, cores):
            for reps in (base, base + extra):
                times[workers, reps] = cli_run([str(SCENARIO), "--reps", str(reps), "--seed", "1", "--out",
                                                f"{tmp}/parallel_{k}_{workers}_{reps}", "--workers", str(workers),
                                                "--quiet"])
        one, many = times[1, base + extra], times[cores, base + extra]
        rounds.append({
            "efficiency": (one["seconds"] - times[1, base]["seconds"])
            / (cores * (many["seconds"] - times[cores, base]["seconds"])),
            "command_efficiency": one["seconds"] / (cores * many["seconds"]),
            "cpu_efficiency": one["cpu_seconds"] / many["cpu_seconds"],
            "seconds_1_worker": one["seconds"], "seconds_all_workers": many["seconds"],
        })
    summary = {"replications": (base, base + extra), "cores": cores, "rounds": rounds}
    for name in ("efficiency", "command_efficiency", "cpu_efficiency", "seconds_1_worker", "seconds_all_workers"):
        values = sorted(r[name] for r in rounds)
        summary[name] = values[len(values) // 2]
        summary[f"{name}_range"] = (values[0], values[-1])
    return summary


def sweep_scenario(tmp: str, points: int, replications: int) -> Path:
    """The sensitivity scenario's base, strategies and outcomes, with a Latin hypercube design.

    ``mitcl_sensitivity.toml`` itself is one-way, and a scenario that extends
    it keeps its ``[sweep.one_way]`` table, so this one extends its base.
    """
    loaded = load_scenario(SWEEP_SCENARIO).scenario
    base = (SWEEP_SCENARIO.parent / "mitcl.toml").as_posix()
    path = Path(tmp) / "lhs_sweep.toml"
    quoted = lambda names: ", ".join(f'"{name}"' for name in names)  # noqa: E731
    path.write_text(
        f'extends = "{base}"\nname = "bench_lhs"\nstrategies = [{quoted(loaded.strategies)}]\n'
        f'[sweep]\ndesign = "latin_hypercube"\nsamples = {points}\nreplications = {replications}\n'
        f"parameters = [{quoted(SWEEP_PARAMETERS)}]\noutcomes = [{quoted(loaded.sweep.outcomes)}]\n",
        encoding="utf-8",
    )
    return path


def lhs_sweep(tmp: str, points: int, per_point: int, cores: int) -> dict:
    """The Latin hypercube sweep of ``sweep_scenario`` through the ``simulate`` command on ``cores``
    workers, start-up and the sensitivity analysis included: its wall and CPU time, and the patient
    trajectories it simulated (points x replications x strategies x patients, as its manifest
    records them) per second per worker it ran (its manifest's) and per CPU second."""
    out = Path(tmp) / "lhs"
    run = cli_run([str(sweep_scenario(tmp, points, per_point)), "--seed", "1", "--out", str(out),
                   "--workers", str(cores), "--quiet"])
    manifest = json.loads((out / "manifest.json").read_text())
    trajectories = (manifest["points"] * manifest["replications"] * len(manifest["strategies"])
                    * manifest["n_patients"])
    return {"points": manifest["points"], "replications_per_point": manifest["replications"],
            "strategies": len(manifest["strategies"]), "trajectories": trajectories,
            "workers": manifest["workers"], **run,
            "trajectories_per_second_per_core": trajectories / run["seconds"] / manifest["workers"],
            "trajectories_per_cpu_second": trajectories / run["cpu_seconds"]}


def psa_scenario(tmp: str) -> Path:
    """``scenarios/mitcl.toml`` with every parameter drawn afresh for each replication."""
    path = Path(tmp) / "mitcl_psa.toml"
    path.write_text(f'extends = "{(REPO / "scenarios" / "mitcl.toml").as_posix()}"\nname = "bench_psa"\n'
                    '[run]\nparameter_mode = "sampled"\n', encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m sim.bench", description=__doc__.split("\n\n")[0].replace("``", ""))
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, for a smoke test: its figures are not comparable with a full run's")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("--throughput-only", action="store_true",
                        help="only throughput and the bare SimPy ratios (a few minutes), not the scale measures")
    options = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    sizes = (
        {"count": 2, "simulation": 3, "e2e": (1, 4), "parallel": (2, 4), "pairs": 2, "memory": (4, 8), "sweep": (4, 2),
         "profile": 5, "psa": (1, 2, 1)}
        if options.quick else
        {"count": 10, "simulation": 30, "e2e": (10, 60), "parallel": (20, 100), "pairs": 5, "memory": (100, 2000),
         "sweep": (64, 10), "profile": 100, "psa": (10, 30, 3)}
    )
    scenario = load_scenario(SCENARIO).scenario
    n_patients = scenario.cohort.n_patients * len(scenario.strategies)

    work = simpy_work_per_patient(scenario, 1, sizes["count"])
    sim = simulation_only(scenario, 1, sizes["simulation"])
    bare = bare_simpy(sim["patients"], round(work["timeouts_per_patient"] * sim["patients"]))
    results = {
        "machine": f"{platform.system()} {platform.machine()}, {cores} cores, Python {platform.python_version()}",
        "load_average_at_start": os.getloadavg()[0],
        "simpy_work": work, "simulation_only": sim, "bare_simpy": bare,
        "where_time_goes": where_time_goes(scenario, 1, sizes["profile"]),
        "ratio_simulation_only": bare["seconds_per_patient"] / sim["seconds_per_patient"],
        "cpu_ratio_simulation_only": bare["cpu_seconds_per_patient"] / sim["cpu_seconds_per_patient"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        base, extra = sizes["e2e"]
        timeouts = bare["timeouts"]
        e2e = end_to_end(tmp, base, extra, n_patients,
                         reference=lambda: bare_simpy(sim["patients"], timeouts)["seconds_per_patient"],
                         paired=("--no-events",))
        results["end_to_end"] = e2e
        results["ratio_end_to_end"] = bare["seconds_per_patient"] / e2e["seconds_per_patient"]
        results["cpu_ratio_end_to_end"] = bare["cpu_seconds_per_patient"] / e2e["cpu_seconds_per_patient"]
        if options.throughput_only:
            return _report(results, sizes, cores, options.json_out, options.quick)

        base, extra = sizes["parallel"]
        results["parallel"] = parallel_efficiency(tmp, base, extra, cores, sizes["pairs"])
        memory = {}
        for reps in sizes["memory"]:
            run = cli_run([str(SCENARIO), "--reps", str(reps), "--seed", "1", "--out", f"{tmp}/m{reps}", "--quiet"])
            memory[f"peak_rss_mib_{reps}_replications"] = run["peak_rss_mib"]
            memory[f"seconds_{reps}_replications"] = run["seconds"]
        low, high = sizes["memory"]
        memory["ratio"] = memory[f"peak_rss_mib_{high}_replications"] / memory[f"peak_rss_mib_{low}_replications"]
        results["memory"] = memory
        points, per_point = sizes["sweep"]
        results["lhs_sweep"] = lhs_sweep(tmp, points, per_point, cores)
        base, extra, rounds = sizes["psa"]
        path = psa_scenario(tmp)
        psa = load_scenario(path).scenario
        results["psa"] = {"strategies": len(psa.strategies),
                          **end_to_end(tmp, base, extra, psa.cohort.n_patients * len(psa.strategies), rounds,
                                       scenario=path)}

    return _report(results, sizes, cores, options.json_out, options.quick)


UNMEASURABLE = "not measurable at these sizes (the extra replications took no longer than start-up's noise)"


def _rate(measure: dict) -> str:
    """An end-to-end measure's median throughput and range, as printed; a marginal time of zero or
    less (tiny sizes, as with --quick) gives no rate."""
    if measure["seconds_per_replication"] <= 0:
        return UNMEASURABLE
    if measure["seconds_per_replication_range"][0] <= 0:
        return f"{measure['patients_per_second']:,.0f} trajectories/s/core [range {UNMEASURABLE}]"
    low, high = measure["patients_per_second_range"]
    return f"{measure['patients_per_second']:,.0f} [{low:,.0f}, {high:,.0f}] trajectories/s/core"


def _efficiency(value: float, low: float, high: float) -> str:
    """A parallel efficiency and its range, as printed; none from marginal times of zero or less."""
    if min(value, low, high) <= 0:
        return UNMEASURABLE
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _report(results: dict, sizes: dict, cores: int, json_out: Path | None, quick: bool = False) -> dict:
    work, sim, bare, e2e = results["simpy_work"], results["simulation_only"], results["bare_simpy"], results["end_to_end"]
    print(f"machine: {results['machine']} (load average {results['load_average_at_start']:.2f} at start)")
    if quick:
        print("--quick: small sizes, a smoke test; these figures are not comparable with a full run's")
    print(f"SimPy work per patient: {work['timeouts_per_patient']:.2f} timeouts, {work['steps_per_patient']:.2f} events processed")
    print(f"end to end (simulate, 1 worker, marginal over {sizes['e2e'][1]} replications, median of {e2e['rounds']} "
          f"rounds [range]): {_rate(e2e)}"
          + (f", {e2e['patients_per_cpu_second']:,.0f} per CPU second; "
             f"vs bare SimPy {results['ratio_end_to_end']:.2f} (wall), {results['cpu_ratio_end_to_end']:.2f} (CPU)"
             if min(e2e["seconds_per_replication"], e2e["cpu_seconds_per_patient"]) > 0 else "")
          + (f"; vs bare SimPy timed again before each round {e2e['ratio_by_round']:.2f} "
             f"[{e2e['ratio_by_round_range'][0]:.2f}, {e2e['ratio_by_round_range'][1]:.2f}]"
             if "ratio_by_round" in e2e and e2e["seconds_per_replication_range"][0] > 0 else ""))
    if "paired" in e2e:
        quiet = e2e["paired"]
        measurable = min(quiet["cpu_seconds_per_patient"], e2e["cpu_seconds_per_patient"],
                         *e2e["paired_cpu_ratio_range"]) > 0
        print(f"end to end with {' '.join(quiet['options'])} (each round's pair right after its own): "
              f"{_rate(quiet)}"
              + (f", {quiet['patients_per_cpu_second']:,.0f} per CPU second; CPU per replication over "
                 "the round's own "
                 f"{e2e['paired_cpu_ratio']:.2f} [{e2e['paired_cpu_ratio_range'][0]:.2f}, "
                 f"{e2e['paired_cpu_ratio_range'][1]:.2f}]" if measurable else ""))
    print(f"simulation only: {sim['patients_per_second']:,.0f} trajectories/s/core, "
          f"{sim['patients_per_cpu_second']:,.0f} per CPU second; vs bare SimPy "
          f"{results['ratio_simulation_only']:.2f} (wall), {results['cpu_ratio_simulation_only']:.2f} (CPU)")
    print(f"bare SimPy, same timeouts per patient: {1 / bare['seconds_per_patient']:,.0f} trajectories/s, "
          f"{1 / bare['cpu_seconds_per_patient']:,.0f} per CPU second ({bare['timeouts'] / bare['seconds']:,.0f} timeouts/s)")
    profile = results["where_time_goes"]
    if profile:
        margin = 200 * math.sqrt(0.09 / max(profile["samples"], 1))  # two binomial SE of a 10% share, in points
        print(f"where the simulation's time goes ({profile['samples']:,} samples over {profile['replications']} "
              f"replications: a 10% share is good to about +/-{margin:.1f} points): "
              + ", ".join(f"{part} {share:.0%}" for part, share in profile["shares"].items()))
    if "parallel" not in results:
        if json_out is not None:
            json_out.write_text(json.dumps(results, indent=1))
        return results
    p, memory = results["parallel"], results["memory"]
    low, high = p["efficiency_range"]
    command_low, command_high = p["command_efficiency_range"]
    cpu_low, cpu_high = p["cpu_efficiency_range"]
    print(f"parallel efficiency 1 -> {cores} workers (median of {len(p['rounds'])} rounds [range]): start-up excluded "
          f"(marginal over replications {p['replications'][0]} -> {p['replications'][1]}) "
          f"{_efficiency(p['efficiency'], low, high)}; whole command at {p['replications'][1]} replications {p['command_efficiency']:.2f} "
          f"[{command_low:.2f}, {command_high:.2f}] ({p['seconds_1_worker']:.1f} s vs {p['seconds_all_workers']:.1f} s); "
          f"CPU time of all processes 1 worker / {cores} workers {p['cpu_efficiency']:.2f} [{cpu_low:.2f}, {cpu_high:.2f}] "
          "(1: running in parallel adds no work)")
    print("peak memory: " + ", ".join(f"{k} {v:.0f}" for k, v in memory.items() if k.startswith("peak"))
          + f" MiB (ratio {memory['ratio']:.2f})")
    s = results["lhs_sweep"]
    print(f"Latin hypercube sweep, {s['points']} points x {s['replications_per_point']} replications "
          f"of {SWEEP_SCENARIO.name}: {s['seconds']:.1f} s on {s['workers']} workers, start-up and sensitivity "
          f"analysis included ({s['trajectories']:,} trajectories: {s['trajectories_per_second_per_core']:,.0f} "
          f"trajectories/s/core, {s['trajectories_per_cpu_second']:,.0f} per CPU second)")
    psa = results["psa"]
    print(f"probabilistic sensitivity analysis (mitcl.toml, every parameter drawn for each replication; simulate, "
          f"1 worker, marginal over {psa['replications'][1] - psa['replications'][0]} replications, median of "
          f"{psa['rounds']} rounds [range]): {_rate(psa)}"
          + (f", {psa['seconds_per_replication'] * 1e3:.0f} ms a replication of {psa['strategies']} strategies"
             if psa["seconds_per_replication"] > 0 else ""))
    if json_out is not None:
        json_out.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
