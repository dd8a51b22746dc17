"""A trial-design run, start to finish: plan, (resume), simulate, summarise, search.

Trials run in tasks of ten on any executor of ``sim.execution.runner`` (process pool or
Dask); each task writes one Parquet part of ``trial_looks/`` atomically, so a
killed run resumes where it stopped.

``execute`` runs the proposed design's trials (with their null twins) and the
assurance trials in tasks, writes ``trial_looks/`` part by part, then
``trial_summary/`` and ``manifest.json``. ``search_sample_size`` finds the
smallest N whose power reaches a target, by bisection over N with the same
seed, cohort and randomisation streams (common random numbers): a trial of N
patients is the first N patients of the trial of N + 1, so the power curve is
close to monotone.
"""

from __future__ import annotations

import json
import math
import platform
import time
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow as pa

from sim import __version__
from sim.execution.output import finish, write_manifest, write_part, write_text_file
from sim.execution.run import IDENTITY
from sim.scenario.load import LoadedScenario
from sim.trial.design import TrialDesign, TrialDesignError, randomise
from sim.trial.simulate import analyse, potential_outcomes, run_trial
from sim.trial.summary import summarise, value

DATASET = "trial_looks"
BATCH_TRIALS = 10


@dataclass(frozen=True)
class TrialTask:
    kinds: tuple[str, ...]          # ("alternative", "null") or ("assurance",)
    first: int
    stop: int

    @property
    def part(self) -> str:
        return f"part-{self.kinds[0]}-r{self.first:06d}-{self.stop - 1:06d}"


def plan(trials: int, assurance_trials: int) -> list[TrialTask]:
    tasks = [TrialTask(("alternative", "null"), a, min(a + BATCH_TRIALS, trials)) for a in range(0, trials, BATCH_TRIALS)]
    tasks += [TrialTask(("assurance",), a, min(a + BATCH_TRIALS, assurance_trials))
              for a in range(0, assurance_trials, BATCH_TRIALS)]
    return tasks


def run_task(design: TrialDesign, seed: int, task: TrialTask, run_dir: Path | None) -> pd.DataFrame:
    task_design = design.sampled() if task.kinds == ("assurance",) else design
    rows = [row for r in range(task.first, task.stop) for row in run_trial(task_design, seed, r, task.kinds)]
    frame = pd.DataFrame(rows)
    if run_dir is not None:
        write_part(run_dir, DATASET, task.part, pa.Table.from_pandas(frame, preserve_index=False))
    return frame


def pending(tasks: list[TrialTask], run_dir: Path) -> list[TrialTask]:
    return [t for t in tasks if not (run_dir / DATASET / f"{t.part}.parquet").exists()]


def run_tasks(
    design: TrialDesign, seed: int, tasks: list[TrialTask], executor: Executor, run_dir: Path | None = None,
    on_task: Callable[[TrialTask], None] | None = None,
) -> pd.DataFrame:
    """Run ``tasks`` on ``executor``; return their rows (and write parts when ``run_dir`` is given)."""
    futures = {executor.submit(run_task, design, seed, task, run_dir): task for task in tasks}
    frames = []
    try:
        for future in as_completed(futures):
            frames.append(future.result())
            if on_task is not None:
                on_task(futures[future])
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run_variants(
    design: TrialDesign, variants: dict[str, object], seed: int, first: int, stop: int, kind: str = "alternative"
) -> pd.DataFrame:
    """Trials ``first .. stop-1`` analysed under several analysis plans of the same design.

    ``variants`` maps a name to a ``TrialSettings`` that differs from the
    design's only in its analysis (alpha, looks, spending, test): every plan
    sees the same patients and the same randomisation, so plans are compared
    on identical trials. ``kind = "null"`` gives every arm the control's outcomes.
    """
    settings = design.settings
    rows = []
    for replication in range(first, stop):
        outcomes = potential_outcomes(design, seed, replication)
        if kind == "null":
            outcomes = outcomes.null(settings.control)
        arm_of = randomise(outcomes.strata, settings.ratio, settings.block, seed, replication)
        for name, variant in variants.items():
            for row in analyse(variant, outcomes, arm_of, kind, replication, truth=kind != "null"):
                rows.append({"variant": name, **row})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class TrialRequest:
    loaded: LoadedScenario
    design: TrialDesign
    trials: int
    assurance_trials: int
    seed: int
    run_dir: Path
    workers: int
    command_line: list[str]


def identity(request: TrialRequest) -> dict:
    return {
        "scenario_sha256": request.loaded.sha256, "seed": request.seed, "replications": request.trials,
        "assurance_trials": request.assurance_trials, "n_patients": request.design.settings.n_patients,
        "kind": "trial",
    }


def execute(
    request: TrialRequest, executor: Executor, on_start: Callable[[int, int], None] | None = None,
    on_task: Callable[[TrialTask], None] | None = None, extra: dict[str, pd.DataFrame] | None = None,
) -> dict:
    """Run every pending task of the request, then write the summary and the manifest."""
    run_dir = request.run_dir
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    if not (run_dir / IDENTITY).exists():
        write_text_file(run_dir / IDENTITY, json.dumps(identity(request), indent=1))
    tasks = plan(request.trials, request.assurance_trials)
    todo = pending(tasks, run_dir)
    if on_start is not None:
        on_start(len(tasks), len(tasks) - len(todo))
    run_tasks(request.design, request.seed, todo, executor, run_dir, on_task)
    looks = pd.read_parquet(run_dir / DATASET)
    summary = summarise(looks)
    write_part(run_dir, "trial_summary", "part-0", pa.Table.from_pandas(summary, preserve_index=False))
    for name, frame in (extra or {}).items():
        write_part(run_dir, name, "part-0", pa.Table.from_pandas(frame, preserve_index=False))
    settings = request.design.settings
    manifest = {
        "scenario": request.loaded.scenario.name, "scenario_file": str(request.loaded.path),
        "scenario_sha256": request.loaded.sha256, "scenario_sources": request.loaded.sources,
        "trial": settings.model_dump(), "eligible_share": request.design.share,
        "seed": request.seed, "trials": request.trials, "assurance_trials": request.assurance_trials,
        "tasks": len(tasks), "tasks_run_now": len(todo), "resumed": len(todo) < len(tasks),
        "package_version": __version__, "command_line": request.command_line, "workers": request.workers,
        "started_at": started_at.isoformat(), "elapsed_seconds": round(time.perf_counter() - started, 3),
        "python": platform.python_version(), "machine": f"{platform.system()} {platform.machine()}",
    }
    write_manifest(run_dir, manifest)
    finish(run_dir)
    return manifest


def power_at(design: TrialDesign, seed: int, trials: int, executor: Executor) -> tuple[float, pd.DataFrame]:
    """Power of the first comparison at the design's N (no files written)."""
    tasks = [t for t in plan(trials, 0)]
    tasks = [TrialTask(("alternative",), t.first, t.stop) for t in tasks]
    looks = run_tasks(design, seed, tasks, executor)
    summary = summarise(looks)
    comparison = design.settings.experimental_arms[0]
    return value(summary, "alternative", comparison, "reject_for_experimental")[0], looks


def search_sample_size(
    design: TrialDesign, seed: int, trials: int, target_power: float, max_n: int, executor: Executor,
    on_point: Callable[[int, float], None] | None = None,
) -> tuple[int, pd.DataFrame]:
    """Smallest N in [max(2 x block, max_n / 10), max_n] with power >= target, and the power curve evaluated.

    Raises :class:`TrialDesignError` naming the best power found when even
    ``max_n`` falls short.
    """
    curve: dict[int, float] = {}

    def power(n: int) -> float:
        if n not in curve:
            curve[n] = power_at(design.with_n(n), seed, trials, executor)[0]
            if on_point is not None:
                on_point(n, curve[n])
        return curve[n]

    low = max(2 * design.settings.block, max_n // 10)
    if power(max_n) < target_power:
        best = max(curve.values())
        raise TrialDesignError(
            f"--target-power {target_power:g}: not reached within the maximum N {max_n} "
            f"(best power found {best:.3f} at N = {max(curve, key=curve.get)}); Suggestion: raise --max-n, "
            "lengthen follow-up (trial.analysis) or choose another endpoint"
        )
    high = max_n
    if power(low) >= target_power:
        high = low
    while high - low > 1:
        middle = (low + high) // 2
        if power(middle) >= target_power:
            high = middle
        else:
            low = middle
    table = pd.DataFrame({"n_patients": list(curve), "power": list(curve.values())}).sort_values("n_patients")
    table["mc_se"] = [math.sqrt(p * (1 - p) / trials) for p in table["power"]]
    return high, table.reset_index(drop=True)
