"""Running replications in parallel and writing their parts.

Work is cut into tasks: a batch of replications (a fixed number, so the files
written do not depend on the number of workers) of one parameter point (a
plain run has one point). Each task runs its replications and writes its own
Parquet parts, atomically: patients, events and, when the scenario limits a
resource, occupancy (plain runs), then each
replication's outcome measures, written last, whose presence marks the task
done. The driver never holds results, and a run killed at any moment can
resume by running only the tasks whose marker part is missing.

Any ``concurrent.futures.Executor`` can run the tasks: a process pool over
all cores by default, one worker in-process, or a Dask cluster
(``make_executor(kind="dask")``, existing scheduler or a local cluster).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa

from sim.analysis.economics import PATIENT_COLUMNS as ECONOMICS_INPUTS
from sim.analysis.summary import PATIENT_COLUMNS as SUMMARY_INPUTS
from sim.analysis.summary import per_replication
from sim.execution.output import (
    OutputError,
    dictionary_encoded,
    run_metadata,
    write_part,
)
from sim.model.records import UNITS
from sim.model.replication import (
    realised_parameters,
    simulate_replication,
)
from sim.scenario.schema import Scenario
from sim.scenario.sweep import point_variant

BATCH_REPLICATIONS = 10
MARKER = "replication_summary"


@dataclass(frozen=True)
class Task:
    """Replications ``first .. stop-1`` of parameter point ``point`` (None: a plain run)."""

    first: int
    stop: int
    point: int | None = None
    values: dict[str, float] = field(default_factory=dict)

    @property
    def part(self) -> str:
        reps = f"r{self.first:06d}-{self.stop - 1:06d}"
        return f"part-{reps}" if self.point is None else f"part-p{self.point:06d}-{reps}"

    @property
    def replications(self) -> int:
        return self.stop - self.first


@dataclass(frozen=True)
class BatchResult:
    first: int
    stop: int
    n_patient_rows: int
    n_event_rows: int
    seconds: float
    point: int | None = None
    worker_pid: int | None = None  # the process that ran the task (the driver's own with one worker)


def run_task(scenario: Scenario, seed: int, task: Task, run_dir: Path, keep_patients: bool = True,
             scenario_sha256: str = "", keep_events: bool = True) -> BatchResult:
    """Run one task and write its parts; the outcome-measure part is written last.

    Patients and events (unless ``keep_events`` is false: then no event is logged) are written
    with their string columns dictionary-encoded; every part carries the seed, the scenario's
    SHA-256 and the columns' units in its schema metadata. A sweep's task (``keep_patients``
    false) writes only the outcome measures.
    """
    started = time.perf_counter()
    point_scenario = _as_last_task(point_variant(scenario, task.values, task.point) if task.values else scenario)
    economics = point_scenario.economics is not None
    columns = list(SUMMARY_INPUTS) + (list(ECONOMICS_INPUTS) if economics else [])
    # A sweep keeps only the outcome measures: its replications log no events and build only the
    # patient columns the measures read (nothing would read the rest).
    logged = keep_patients and keep_events
    results = [simulate_replication(point_scenario, seed, r, events=logged,
                                    patient_columns=None if keep_patients else columns)
               for r in range(task.first, task.stop)]
    patients = pa.concat_tables([r.patients for r in results])
    events = pa.concat_tables([r.events for r in results]) if logged else None
    if keep_patients:
        for dataset, table in (("patients", patients), ("events", events)):
            if table is None:  # no events logged
                continue
            write_part(run_dir, dataset, task.part, dictionary_encoded(table),
                       run_metadata(seed, scenario_sha256, UNITS, table.column_names))
        occupancy = [r.occupancy for r in results if r.occupancy is not None]
        if occupancy:
            write_part(run_dir, "occupancy", task.part, pa.concat_tables(occupancy))
    realised = None
    if economics:  # each replication's realised costs and utilities (PSA draws them)
        realised = {r: realised_parameters(point_scenario, seed, r).economics for r in range(task.first, task.stop)}
    outcomes = per_replication(patients.select(columns).to_pandas(), realised)
    if task.point is not None:
        outcomes.insert(0, "point", task.point)
    write_part(run_dir, MARKER, task.part, pa.Table.from_pandas(outcomes, preserve_index=False),
               run_metadata(seed, scenario_sha256, UNITS, list(outcomes.columns)))
    return BatchResult(task.first, task.stop, patients.num_rows, 0 if events is None else events.num_rows,
                       time.perf_counter() - started,
                       task.point, os.getpid())


# The scenario object of the last task this process ran (see _as_last_task).
_LAST_TASK: list[Scenario] = []


def _as_last_task(scenario: Scenario) -> Scenario:
    """The last task's scenario object when ``scenario`` equals it (field by field), else ``scenario``.

    A pool or Dask worker unpickles each task's scenario as a new object, and a sweep makes each
    task's point variant afresh, while a replication's realised parameters and phase models are
    cached by scenario object (:func:`sim.model.replication.replication_models`): without this,
    every task would build them again (about 8 ms for ``aall1331.toml``, a fiftieth of a task of
    10 replications), where consecutive tasks of one run, or of one sweep point, need the same.
    Comparing costs under half a millisecond.
    """
    last = _LAST_TASK[0] if _LAST_TASK else None
    if last is not None and (last is scenario or last == scenario):
        return last
    _LAST_TASK[:] = [scenario]
    return scenario


def run_batch(scenario: Scenario, seed: int, first: int, stop: int, run_dir: Path) -> BatchResult:
    """Run replications ``first .. stop-1`` of a plain run and write their parts."""
    return run_task(scenario, seed, Task(first, stop), run_dir)


def batches(replications: int, size: int = BATCH_REPLICATIONS) -> list[tuple[int, int]]:
    return [(first, min(first + size, replications)) for first in range(0, replications, size)]


def plan(replications: int, points: list[dict[str, float]] | None = None) -> list[Task]:
    """Every task of a run: one point (plain run) or each sweep point, in batches."""
    if points is None:
        return [Task(a, b) for a, b in batches(replications)]
    return [Task(a, b, k, values) for k, values in enumerate(points) for a, b in batches(replications)]


def pending(tasks: list[Task], run_dir: Path) -> list[Task]:
    """Tasks whose marker part is not in ``run_dir`` yet (all of them in a new run)."""
    return [t for t in tasks if not (run_dir / MARKER / f"{t.part}.parquet").exists()]


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


def effective_workers(requested: int, n_tasks: int) -> int:
    """Workers worth starting: never more than the tasks to run (at least one)."""
    return max(1, min(requested, n_tasks))


PARENT_POLL_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _worker_init(driver_pid: int) -> None:
    """Tie a pool worker's life to the driver's, and leave Ctrl-C to the driver.

    On Linux the kernel sends the worker SIGKILL when the driver dies
    (``prctl(PR_SET_PDEATHSIG)``); everywhere, a daemon thread ends the
    worker once its parent is no longer the driver (it was re-parented,
    e.g. after ``kill -9`` on the driver). Either way no orphan keeps
    writing parts into the run directory. SIGINT is ignored: the driver
    alone handles stopping, and ends its workers itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog below remains
            pass
    if os.getppid() != driver_pid:  # the driver died before the line above took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(driver_pid,), name="driver-watchdog", daemon=True).start()


def _watch_parent(driver_pid: int) -> None:
    while os.getppid() == driver_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


@contextmanager
def make_executor(workers: int, kind: str = "process", scheduler: str | None = None) -> Iterator[Executor]:
    """An executor for ``workers`` processes: in-process, a process pool, or Dask."""
    if kind == "dask":
        with _dask_executor(workers, scheduler) as executor:
            yield executor
        return
    if workers == 1:
        yield _InProcess()
        return
    method = start_method()
    frozen = method == "fork" and gc.get_freeze_count() == 0
    if frozen:
        # Objects alive now move out of the collector's reach, so that collections in a forked
        # worker do not touch (and copy) the pages it shares with the driver.
        gc.freeze()
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                                 initializer=_worker_init, initargs=(os.getpid(),)) as pool:
            yield pool
    finally:
        if frozen:
            gc.unfreeze()


def start_method() -> str:
    """``fork`` when this process runs no other thread, else ``spawn``.

    Forked workers start at once with the package already imported (a spawned
    one spends a second or more importing it, which a short run notices as
    lost parallel efficiency); but forking a process with other threads (the
    progress bar's) can deadlock, so then workers are spawned clean.
    """
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


@contextmanager
def _dask_executor(workers: int, scheduler: str | None) -> Iterator[Executor]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - depends on the install
        raise OutputError("--executor dask needs Dask distributed; Suggestion: pip install -e '.[dask]'") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="5s")
        except ValueError as exc:  # not an address at all, e.g. no port
            raise OutputError(f"--scheduler {scheduler}: not a scheduler address ({exc}); "
                              "Suggestion: give it as tcp://HOST:PORT") from None
        except (OSError, TimeoutError) as exc:
            raise OutputError(
                f"--scheduler {scheduler}: no Dask scheduler answered within 5 s ({exc.__class__.__name__}); "
                "Suggestion: check the address, or omit --scheduler to start a local cluster"
            ) from None
        with client:
            yield client.get_executor()
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client.get_executor()


def run_tasks(
    scenario: Scenario,
    seed: int,
    tasks: list[Task],
    run_dir: Path,
    executor: Executor,
    on_batch: Callable[[BatchResult], None] | None = None,
    keep_patients: bool = True,
    scenario_sha256: str = "",
    keep_events: bool = True,
) -> list[BatchResult]:
    """Run ``tasks`` on ``executor``; parts land in ``run_dir`` (see :func:`run_task`)."""
    futures = [executor.submit(run_task, scenario, seed, task, run_dir, keep_patients, scenario_sha256, keep_events)
               for task in tasks]
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
    return sorted(done, key=lambda b: (b.point if b.point is not None else -1, b.first))


def run_replications(
    scenario: Scenario,
    seed: int,
    replications: int,
    run_dir: Path,
    executor: Executor,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> list[BatchResult]:
    """A plain run: all replications on ``executor``; parts land in ``run_dir``."""
    return run_tasks(scenario, seed, plan(replications), run_dir, executor, on_batch)
