"""A run or a sweep, start to finish: plan, (resume), execute, summarise.

1. The run's identity (scenario hash, seed, replications, sweep design,
   whether events are logged) is written to ``run.json`` when the directory
   is first used; ``--resume`` refuses a directory whose identity differs,
   naming the difference.
2. Tasks are planned (``sim.execution.runner.plan``); only those without a finished
   part run, so a killed run resumes where it stopped with no duplicate rows.
3. When every task is done: ``summary/`` (strategies and paired differences;
   per point for a sweep, summarised and written point by point), read part
   by part so the driver holds no per-replication results; for sweeps
   ``points/`` and ``sensitivity/``; with an ``[economics]`` table
   ``economics/``, ``ceac/`` and (sampled sweeps) ``value_of_information/``
   (``sim.analysis.economics``); and finally ``manifest.json``. A plain run
   with limited capacity also runs its twin with unlimited capacity
   (``unlimited/``) and writes the paired effect of queueing
   (``capacity_effect/``).
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim import __version__
from sim.analysis.capacity import UNLIMITED, capacity_effect
from sim.analysis.summary import SummaryAccumulator
from sim.execution.designs import design_points
from sim.execution.output import (
    MANIFEST,
    OutputError,
    finish,
    run_metadata,
    write_manifest,
    write_part,
    write_part_in_blocks,
    write_text_file,
)
from sim.execution.runner import MARKER, BatchResult, Task, pending, plan, run_tasks
from sim.scenario.load import LoadedScenario
from sim.scenario.schema import CapacitySettings
from sim.scenario.sweep import SAMPLED, point_variant

IDENTITY = "run.json"

T = TypeVar("T")


@dataclass(frozen=True)
class RunRequest:
    loaded: LoadedScenario
    replications: int
    seed: int
    run_dir: Path
    workers: int
    executor_kind: str
    command_line: list[str]
    workers_requested: int | None = None  # as asked for, when ``workers`` was capped
    events: bool = True  # False: no event is logged, no events/ dataset (``simulate --no-events``)


def identity(request: RunRequest) -> dict:
    sweep = request.loaded.scenario.sweep
    return {
        "scenario_sha256": request.loaded.sha256,
        "seed": request.seed,
        "replications": request.replications,
        "sweep": sweep.model_dump() if sweep is not None else None,
        "events": request.events or sweep is not None,  # a sweep logs none either way: --no-events changes nothing
    }


# What a run recorded before its identity had the key (run.json of an earlier version).
IDENTITY_DEFAULTS = {"events": True}


def recorded_identity(run_dir: Path | None) -> dict:
    """What the run in ``run_dir`` recorded about itself (``IDENTITY``), or nothing when there is none;
    an unreadable record is an OutputError naming it."""
    path = None if run_dir is None else run_dir / IDENTITY
    if path is None or not path.exists():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        found = exc
    if not isinstance(found, dict):
        reason = f"{found.__class__.__name__}: {found}" if isinstance(found, Exception) else "not a JSON object"
        raise OutputError(f"--resume {run_dir}: {IDENTITY} cannot be read ({reason}); Suggestion: start a new "
                          "--out directory, or --overwrite this one")
    return found


def check_resumable(run_dir: Path, expected: dict) -> None:
    """Refuse to resume into a directory of another run, naming what differs."""
    path = run_dir / IDENTITY
    if not path.exists():
        raise OutputError(f"--resume {run_dir}: no run to resume here ({IDENTITY} missing)")
    found = recorded_identity(run_dir)
    kinds = {"run": "run of `simulate SCENARIO`", "trial": "trial run of `simulate trial`"}
    recorded_kind, kind = found.get("kind", "run"), expected.get("kind", "run")  # plain runs record no kind
    if recorded_kind != kind:
        raise OutputError(
            f"--resume {run_dir}: the directory holds a {kinds.get(recorded_kind, repr(recorded_kind))}, "
            f"not a {kinds[kind]}; Suggestion: resume it with the command that started it, or start a new "
            "--out directory"
        )
    for key, value in expected.items():
        recorded = found.get(key, IDENTITY_DEFAULTS.get(key))
        if recorded == value:
            continue
        if key == "events":
            raise OutputError(
                f"--resume {run_dir}: {path.name} records events = {recorded!r} (the run "
                f"{'logs' if recorded else 'logs no'} events), not {value!r}; Suggestion: resume "
                f"{'without' if recorded else 'with'} --no-events, or start a new --out directory"
            )
        raise OutputError(
            f"--resume {run_dir}: the directory holds a run with a different {key} "
            f"({recorded!r}, not {value!r}); Suggestion: resume with the same scenario, "
            "--seed and --reps, or start a new --out directory"
        )


def planned_tasks(request: RunRequest) -> tuple[list[Task], tuple | None]:
    """Every task of the request, and for a sweep its design ``(paths, values, unit)``."""
    scenario = request.loaded.scenario
    sweep = scenario.sweep
    if sweep is None:
        return plan(request.replications), None
    paths, values, unit = design_points(sweep, scenario, request.seed)
    points = [dict(zip(paths, map(float, row), strict=True)) for row in values]
    for k, point in enumerate(points):  # every point obeys the scenario's rules, before anything runs
        point_variant(scenario, point, k)
    return plan(request.replications, points), (paths, values, unit)


def tasks_to_run(request: RunRequest) -> int:
    """How many tasks the request still has to run (all of them in a new directory)."""
    tasks, _ = planned_tasks(request)
    return len(pending(tasks, request.run_dir)) if request.run_dir.exists() else len(tasks)


def execute(
    request: RunRequest,
    executor: Executor,
    on_start: Callable[[int, int], None] | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> dict:
    """Run every pending task of the request and write the summaries and manifest."""
    scenario = request.loaded.scenario
    run_dir = request.run_dir
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    sweep = scenario.sweep
    tasks, design = planned_tasks(request)
    points_table = None
    if design is not None:
        paths, values, unit = design
        points_table = pd.DataFrame(values, columns=paths).rename_axis("point").reset_index()
    if not (run_dir / IDENTITY).exists():
        write_text_file(run_dir / IDENTITY, json.dumps(identity(request), indent=1, default=str))
    todo = pending(tasks, run_dir)
    # With limited capacity, a plain run also runs its twin with unlimited capacity (same seed, same
    # patients and draws) so the effect of queueing is a paired difference (``sim.analysis.capacity``).
    twin_dir = run_dir / UNLIMITED
    twin_todo = pending(tasks, twin_dir) if sweep is None and scenario.capacity.limited else []
    if on_start is not None:
        total = sum(t.replications for t in tasks) * (2 if sweep is None and scenario.capacity.limited else 1)
        on_start(total, total - sum(t.replications for t in todo + twin_todo))
    results = run_tasks(scenario, request.seed, todo, run_dir, executor, on_batch, keep_patients=sweep is None,
                        scenario_sha256=request.loaded.sha256, keep_events=request.events)
    if sweep is None and scenario.capacity.limited:
        twin_dir.mkdir(exist_ok=True)
        unlimited = scenario.model_copy(update={"capacity": CapacitySettings()})
        results += run_tasks(unlimited, request.seed, twin_todo, twin_dir, executor, on_batch, keep_patients=False,
                             scenario_sha256=request.loaded.sha256)
        finish(twin_dir)
        effect = capacity_effect(run_dir / MARKER, twin_dir / MARKER, scenario.strategies)
        write_part(run_dir, "capacity_effect", "part-0", pa.Table.from_pandas(effect, preserve_index=False))

    reference = scenario.reference_strategy
    if sweep is not None:
        # imported here: it loads scipy.stats (0.7 s), which only sweeps need
        from sim.analysis.sensitivity import analyse, point_differences

        write_part(run_dir, "points", "part-0", pa.Table.from_pandas(points_table, preserve_index=False))
        overall = read_part(run_dir / MARKER, lambda path: pd.read_parquet(
            path, filters=[("subgroup", "==", "all"), ("measure", "in", list(sweep.outcomes))]))
        differences = point_differences(overall, list(sweep.outcomes), reference)
        sensitivity = analyse(sweep.design, paths, values, unit, differences, request.seed)
        write_part(run_dir, "sensitivity", "part-0", pa.Table.from_pandas(sensitivity, preserve_index=False))
        write_part(run_dir, "point_differences", "part-0", pa.Table.from_pandas(differences, preserve_index=False))
    blocks = summary_blocks(run_dir / MARKER, scenario.strategies, reference, by_point=sweep is not None)
    write_part_in_blocks(run_dir, "summary", "part-0",
                         (pa.Table.from_pandas(block, preserve_index=False) for block in blocks),
                         run_metadata(request.seed, request.loaded.sha256, {}, []))
    if scenario.economics is not None:
        _write_economics(run_dir, scenario, points_table if sweep is not None and sweep.design in SAMPLED else None,
                         request.seed)

    manifest = {
        "scenario": scenario.name,
        "scenario_file": str(request.loaded.path),
        "scenario_sha256": request.loaded.sha256,
        "scenario_sources": request.loaded.sources,
        "strategies": scenario.strategies,
        "reference": reference,
        "seed": request.seed,
        "replications": request.replications,
        "n_patients": scenario.cohort.n_patients,
        "parameter_mode": scenario.run.parameter_mode,
        "events": request.events and sweep is None,  # whether events/ was written
        "sweep_design": sweep.design if sweep is not None else None,
        "points": len(points_table) if points_table is not None else 1,
        "tasks": len(tasks),
        "tasks_run_now": len(todo),
        "resumed": len(todo) < len(tasks),
        "package_version": __version__,
        "command_line": request.command_line,
        "executor": request.executor_kind,
        "workers": request.workers,  # effective: at most one per task to run
        "workers_requested": request.workers_requested or request.workers,
        "driver_pid": os.getpid(),
        "worker_pids": sorted({b.worker_pid for b in results if b.worker_pid is not None}),
        "started_at": started_at.isoformat(),
        "elapsed_seconds": round(time.perf_counter() - started, 3),
        "task_seconds": round(sum(b.seconds for b in results), 3),
        "patient_rows": _rows(run_dir / "patients"),
        "event_rows": _rows(run_dir / "events"),
        "limited_capacity": list(scenario.capacity.limited),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
    }
    if scenario.economics is not None:
        from sim.scenario.distributions import central_value

        manifest["economics"] = {"currency": scenario.economics.currency,
                                 "willingness_to_pay": float(central_value(scenario.economics.willingness_to_pay))}
    write_manifest(run_dir, manifest)
    finish(run_dir)
    return manifest


def _write_economics(run_dir: Path, scenario, points: pd.DataFrame | None, seed: int) -> None:
    """``economics/``, ``ceac/`` and (sampled sweeps) ``value_of_information/`` (``sim.analysis.economics``).

    The willingness to pay is the central value of the scenario's (a PSA does not sample it).
    """
    from sim.analysis.economics import analyse
    from sim.scenario.distributions import central_value

    per_rep = pd.read_parquet(run_dir / MARKER, filters=[("subgroup", "==", "all"),
                                                         ("measure", "in", ["cost", "qalys", "life_years"])])
    outputs = analyse(per_rep, points, scenario.strategies, scenario.reference_strategy,
                      float(central_value(scenario.economics.willingness_to_pay)), seed)
    for name, table in outputs.items():
        write_part(run_dir, name, "part-0", pa.Table.from_pandas(table, preserve_index=False))


def summary_blocks(dataset: Path, strategies: list[str], reference: str, by_point: bool) -> Iterator[pd.DataFrame]:
    """The summary of a ``replication_summary`` dataset, read one part file at a time, in blocks.

    The driver holds running moments only, never every replication's measures, so its memory
    stays flat in replications. A plain run's summary is one block. A sweep's parts come in
    point order (their names number the point, read as a number), so each point is summarised
    as soon as the next point's first part is read, and its block is yielded and dropped: memory
    and time per point stay flat in points too (one accumulator over every point would hold the
    whole summary, and grow every part's work with the points seen). A point's block has rows
    for the strategies that point has (a sweep runs every strategy at every point); a point
    with no complete row has no block; with none at all, the one block is empty.
    """
    def fresh() -> SummaryAccumulator:
        return SummaryAccumulator(strategies, reference, by=["point"] if by_point else None)

    def block(accumulator: SummaryAccumulator) -> pd.DataFrame:
        summary = accumulator.table()
        return summary[[c for c in summary.columns if c != "point"] + ["point"]] if by_point else summary

    accumulator, summarised, highest = fresh(), -1, -1  # points: the last one yielded, the highest read
    yielded = False
    for part in sorted(dataset.glob("*.parquet"), key=_part_order):
        per_rep = read_part(part, pq.read_table).to_pandas()
        if by_point and not per_rep.empty:
            first, last = int(per_rep["point"].min()), int(per_rep["point"].max())
            if first <= summarised:
                raise RuntimeError(f"{part}: point {first} was summarised before this part was read "
                                   "(parts out of point order)")
            if first > highest >= 0:  # every point read so far is complete
                if accumulator.keys:
                    yield block(accumulator)
                    yielded = True
                accumulator, summarised = fresh(), highest
            highest = max(highest, last)
        accumulator.add(per_rep)
    if accumulator.keys or not yielded:
        yield block(accumulator)


def _part_order(part: Path) -> list:
    """A part's name with its numbers read as numbers: ``part-p1000000-...`` after ``part-p999999-...``
    (the names pad the point and replications to six digits, and a sweep may have more points)."""
    return [int(piece) if piece.isdigit() else piece for piece in re.split(r"(\d+)", part.name)]


def read_part(path: Path, reader: Callable[[Path], T]) -> T:
    """``reader(path)`` for a part (or dataset) the run wrote; one that cannot be read (damaged, or a
    foreign file among the parts) is an OutputError naming it and saying what to do."""
    try:
        return reader(path)
    except (pa.ArrowInvalid, pa.ArrowIOError) as exc:
        raise OutputError(
            f"{path}: cannot be read as Parquet ({exc.__class__.__name__}: {exc}); Suggestion: if a part is "
            "damaged, delete it and rerun with --resume: its task runs again"
        ) from None


def _rows(dataset: Path) -> int:
    """Rows of a Parquet dataset, from its files' footers one at a time (0 when absent, as in
    sweeps): a dataset scan would hold every footer at once, memory growing with the run."""
    if not dataset.exists():
        return 0
    return sum(read_part(part, pq.read_metadata).num_rows for part in dataset.glob("*.parquet"))


def is_finished(run_dir: Path) -> bool:
    return (run_dir / MANIFEST).exists()
