"""Running replications in parallel and writing their parts.

Replications are cut into batches of a fixed size (so the files written do
not depend on the number of workers); each batch is a task that runs its
replications and writes its own Parquet parts (patients, events, and each
replication's outcome measures), so the driver never holds results. Any ``concurrent.futures.Executor`` can run the tasks; the default
is a process pool over all cores, and one worker runs in-process.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa

from .output import write_part
from .parameters import Scenario
from .replication import run_replication
from .summary import per_replication

BATCH_REPLICATIONS = 10


@dataclass(frozen=True)
class BatchResult:
    first: int
    stop: int
    n_patient_rows: int
    n_event_rows: int
    seconds: float


def run_batch(scenario: Scenario, seed: int, first: int, stop: int, run_dir: Path) -> BatchResult:
    """Run replications ``first .. stop-1`` and write their parts."""
    started = time.perf_counter()
    results = [run_replication(scenario, seed, r) for r in range(first, stop)]
    patients = pa.concat_tables([p for p, _ in results])
    events = pa.concat_tables([e for _, e in results])
    part = f"part-r{first:06d}-{stop - 1:06d}"
    write_part(run_dir, "patients", part, patients)
    write_part(run_dir, "events", part, events)
    outcomes = per_replication(patients.to_pandas())
    write_part(run_dir, "replication_summary", part, pa.Table.from_pandas(outcomes, preserve_index=False))
    return BatchResult(first, stop, patients.num_rows, events.num_rows, time.perf_counter() - started)


def batches(replications: int, size: int = BATCH_REPLICATIONS) -> list[tuple[int, int]]:
    return [(first, min(first + size, replications)) for first in range(0, replications, size)]


class _InProcess(Executor):
    """Runs each task at submission: one worker, no processes."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)
        return future


def default_workers() -> int:
    return os.cpu_count() or 1


def make_executor(workers: int) -> Executor:
    if workers == 1:
        return _InProcess()
    # spawn: workers start clean, whatever threads the parent runs (progress bar).
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def run_replications(
    scenario: Scenario,
    seed: int,
    replications: int,
    run_dir: Path,
    executor: Executor,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> list[BatchResult]:
    """Run all replications on ``executor``; parts land in ``run_dir``."""
    futures = [executor.submit(run_batch, scenario, seed, a, b, run_dir) for a, b in batches(replications)]
    done = []
    try:
        for future in as_completed(futures):
            result = future.result()
            done.append(result)
            if on_batch is not None:
                on_batch(result)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return sorted(done, key=lambda b: b.first)
