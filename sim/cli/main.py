"""The ``simulate`` command line: the only place that prints and exits.

``simulate SCENARIO.toml`` runs a scenario (the default command);
``simulate validate SCENARIO.toml`` compares a run with the published figures.
Known errors become one line on stderr and exit status 2; no traceback.
"""

from __future__ import annotations

import contextlib
import functools
import json
import secrets
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sim import __version__

# Everything heavy (pandas, pyarrow, scipy, lifelines, the model itself) is
# imported inside the command that needs it, so `simulate --help` starts fast.
if TYPE_CHECKING:
    import pandas as pd
    from rich.progress import Progress

    from sim.execution.run import RunRequest


def known_error_types() -> tuple[type[Exception], ...]:
    """The package's errors that mean bad input, not a bug (imported when a command runs)."""
    from sim.analysis.notebook import RunError
    from sim.execution.output import OutputError
    from sim.scenario.load import ScenarioError

    return (ScenarioError, OutputError, RunError, MemoryError)


WORKERS_OPTION = click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Worker processes [default: all cores]."
)
QUIET_OPTION = click.option("--quiet", is_flag=True, help="No progress bar.")


def EXECUTOR_OPTIONS(command):
    """--workers, --executor and --scheduler, shared by every command that runs replications on an executor."""
    command = click.option("--scheduler", default=None,
                           help="Address of an existing Dask scheduler (with --executor dask).")(command)
    command = click.option("--executor", "executor_kind", type=click.Choice(["process", "dask"]), default="process",
                           show_default=True, help="Local process pool, or Dask (a local cluster, or --scheduler).")(command)
    return WORKERS_OPTION(command)


def scenario_command(name: str):
    """A ``simulate`` subcommand whose argument is a scenario file."""

    def decorate(command):
        command = click.argument("scenario", type=click.Path(path_type=Path, dir_okay=False))(command)
        return main.command(name)(command)

    return decorate


def seed_option(help: str):
    """--seed: a root seed in the range ``numpy.random.SeedSequence`` is given (63 bits)."""
    return click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=None, help=help)


def out_option(help: str):
    """--out: the directory a run writes into."""
    return click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None, help=help)


def resume_options(resume_help: str):
    """--resume and --overwrite: what to do with a run already in --out."""

    def decorate(command):
        command = click.option("--overwrite", is_flag=True,
                               help="Replace the run in a non-empty --out directory.")(command)
        return click.option("--resume", is_flag=True, help=resume_help)(command)

    return decorate


def check_executor_and_resume(executor_kind: str, scheduler: str | None, resume: bool, out: Path | None,
                              run: str = "run") -> None:
    """The option combinations every resumable command refuses (raises ``OutputError``)."""
    from sim.execution.output import OutputError

    if scheduler is not None and executor_kind != "dask":
        raise OutputError("--scheduler needs --executor dask")
    if resume and out is None:
        raise OutputError(f"--resume needs --out DIR: the {run} to finish")


def _plural(n: int, word: str) -> str:
    plural = word[:-1] + "ies" if word.endswith("y") else word + "s"
    return f"{n} {word if n == 1 else plural}"


def _fail(message: str, status: int = 2) -> None:
    for line in message.splitlines() or [""]:
        click.echo(f"error: {line}", err=True)
    sys.exit(status)


def known_errors(command):
    """Turn the package's known errors into one clear line and a non-zero exit."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Stopped:
            sys.exit(130)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except MemoryError as exc:  # numpy's names the size it could not allocate
            _fail(f"not enough memory for this run ({exc or 'MemoryError'}); "
                  "Suggestion: fewer patients, replications or samples")
        except Exception as exc:
            if isinstance(exc, known_error_types()):
                _fail(str(exc))
            raise

    return wrapper


class DefaultGroup(click.Group):
    """A group whose first argument, when not a command name, goes to ``run``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
            ctx.meta[IMPLICIT_RUN] = True
        return super().parse_args(ctx, args)


IMPLICIT_RUN = "sim.implicit_run"


class _RunContext(click.Context):
    """``simulate SCENARIO.toml``: usage lines and hints say ``simulate``, as the README does, not ``simulate run``."""

    @property
    def command_path(self) -> str:
        if self.meta.get(IMPLICIT_RUN) and self.parent is not None:
            return self.parent.command_path
        return super().command_path


@click.group(cls=DefaultGroup)
@click.version_option(__version__, prog_name="simulate")
def main() -> None:
    """Simulate treatment pathways in first relapse of childhood B-ALL.

    \b
    simulate SCENARIO.toml [--reps N] [--seed N] [--out DIR] [--workers N]
                           [--executor process|dask] [--scheduler ADDRESS]
                           [--resume | --overwrite] [--quiet]
    simulate validate SCENARIO.toml [--reps N]
    simulate calibrate SCENARIO.toml [--reps N] [--seed N]
    simulate report RUN_DIR [--out report.html]

    \b
    'simulate SCENARIO.toml --help' describes every option of a run.
    """


def _progress(quiet: bool) -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("replications  {task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
        transient=False,
    )


STOP_GRACE_SECONDS = 2.0


@contextlib.contextmanager
def _stop_on_interrupt(message: str):
    """Ctrl-C: say "stopping…" and ``message`` at once, end the worker processes, leave within seconds.

    Finished parts are on disk already (each is moved into place whole), so
    nothing is lost; the interrupted batches rerun on ``--resume``. Should
    the executor not let go within ``STOP_GRACE_SECONDS``, the process exits
    anyway; a second Ctrl-C exits at once. Exit status 130 either way.

    Worker processes get the terminal's Ctrl-C too; one caught while still
    starting may print a traceback before it is ended (making workers ignore
    SIGINT needs an initializer in the pool that ``sim.execution.runner`` creates).
    """
    import multiprocessing
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state = {"interrupted": False}

    def on_interrupt(signum, frame) -> None:
        if state["interrupted"]:
            os._exit(130)
        state["interrupted"] = True
        sys.stderr.write(f"stopping…\nerror: {message}\n")
        sys.stderr.flush()
        # The pool's own threads may complain about the workers ended under them: nothing to report.
        threading.excepthook = lambda args: None
        for child in multiprocessing.active_children():
            child.terminate()
        watchdog = threading.Timer(STOP_GRACE_SECONDS, os._exit, args=(130,))
        watchdog.daemon = True
        watchdog.start()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    except BaseException:
        if state["interrupted"]:  # whatever the executor raised once its workers were ended
            raise Stopped from None
        raise
    finally:
        signal.signal(signal.SIGINT, previous)


class Stopped(Exception):
    """A run stopped by Ctrl-C; the user has been told already."""


def execute(request: RunRequest, quiet: bool, scheduler: str | None = None, interrupted: str = "interrupted") -> dict:
    """Run a request with a progress bar on stderr; return the manifest.

    On Ctrl-C, ``interrupted`` is the last line printed."""
    from sim.execution.run import execute as run_execute
    from sim.execution.runner import BatchResult, make_executor  # noqa: F401 (BatchResult: annotations)

    request = capped_workers(request)
    scenario = request.loaded.scenario
    patients_per_replication = scenario.cohort.n_patients * len(scenario.strategies)
    started = time.perf_counter()
    with _stop_on_interrupt(interrupted), _progress(quiet) as progress, \
            make_executor(request.workers, request.executor_kind, scheduler) as executor:
        bar = progress.add_task(scenario.name, total=None, rate="")
        done_before = [0]

        def on_start(total: int, already: int) -> None:
            done_before[0] = already
            progress.update(bar, total=total, completed=already)

        def on_batch(batch: "BatchResult") -> None:
            progress.advance(bar, batch.stop - batch.first)
            new = progress.tasks[bar].completed - done_before[0]
            rate = new * patients_per_replication / max(time.perf_counter() - started, 1e-9)
            progress.update(bar, rate=f"{rate:,.0f} patients/s")

        return run_execute(request, executor, on_start, on_batch)


def capped_workers(request: RunRequest) -> RunRequest:
    """The request with at most one worker per task to run; a warning on stderr above the core count."""
    import dataclasses
    import os

    from sim.execution.run import tasks_to_run
    from sim.execution.runner import effective_workers

    cores = os.cpu_count() or 1
    workers = effective_workers(request.workers, tasks_to_run(request))
    if request.workers > cores and request.executor_kind == "process":
        click.echo(f"warning: --workers {request.workers} is more than the {_plural(cores, 'core')} of this machine; "
                   f"running {_plural(workers, 'worker')} (at most one per task)", err=True)
    if workers == request.workers:
        return request
    return dataclasses.replace(request, workers=workers, workers_requested=request.workers)


@scenario_command("run")
@click.option("--reps", type=click.IntRange(min=1), default=None,
              help="Monte Carlo replications (per point of a sweep) [default: the scenario's; with --resume, the run's own].")
@seed_option("Root seed [default: a fresh one, recorded in the manifest; with --resume, the run's own].")
@out_option("Output directory [default: a new outputs/<scenario>/<time>/].")
@EXECUTOR_OPTIONS
@resume_options("Finish the run in --out: compute only what is missing.")
@click.option("--no-events", is_flag=True,
              help="Log no events: no events/ dataset, each replication a sixth or so cheaper; patients and "
                   "outcomes are the same (a sweep logs none either way) [default: with --resume, the run's own].")
@QUIET_OPTION
@known_errors
def run_command(scenario: Path, reps, seed, out, workers, executor_kind, scheduler, resume, overwrite, no_events,
                quiet) -> None:
    """Run SCENARIO (all its strategies, or its [sweep]) and write Parquet results.

    Writes patients/, events/ (not with --no-events), summary/ and
    manifest.json; a sweep writes points/, summary/ (per point),
    sensitivity/ and manifest.json.
    """
    from sim.execution.output import (
        default_run_dir,
        prepare_run_dir,
        remove_if_unstarted,
        replacing,
        run_lock,
    )
    from sim.execution.run import (
        RunRequest,
        check_resumable,
        identity,
        recorded_identity,
    )
    from sim.execution.runner import default_workers
    from sim.scenario.load import load_scenario

    loaded = load_scenario(scenario)
    check_executor_and_resume(executor_kind, scheduler, resume, out)
    sweep = loaded.scenario.sweep
    recorded = recorded_identity(out) if resume else {}
    replications = reps or recorded.get("replications") \
        or (sweep.replications if sweep is not None and sweep.replications else None) \
        or loaded.scenario.run.replications
    if seed is None:
        seed = recorded.get("seed")
    seed = secrets.randbits(63) if seed is None else seed
    workers = workers or default_workers()
    run_dir = out if out is not None else default_run_dir(loaded.scenario.name)
    events = False if no_events else recorded.get("events", True)
    request = RunRequest(loaded, replications, seed, run_dir, workers, executor_kind, sys.argv, events=events)
    if resume:
        check_resumable(run_dir, identity(request))
    created = prepare_run_dir(run_dir, overwrite, resume)
    interrupted = f"interrupted; finished parts are kept: rerun with --resume --out {run_dir} to complete"
    try:
        with replacing(run_dir, overwrite, (KeyboardInterrupt, Stopped)), run_lock(run_dir):
            manifest = execute(request, quiet, scheduler, interrupted)
    except Stopped:
        sys.exit(130)
    except KeyboardInterrupt:
        _fail(interrupted, 130)
    except Exception as exc:
        if isinstance(exc, known_error_types()):
            remove_if_unstarted(run_dir, created)  # e.g. no Dask scheduler answered: leave no --out behind
        raise
    reference = loaded.scenario.reference_strategy
    if sweep is not None:
        print_sensitivity(run_dir, sweep.design, reference)
    else:  # --quiet hides the progress bar only
        print_comparison(run_dir, loaded.scenario.strategies, reference, manifest["replications"])
        if manifest.get("limited_capacity"):
            print_queues(run_dir, loaded.scenario.strategies)
    if loaded.scenario.economics is not None:
        print_economics(run_dir, loaded.scenario, sweep)
    click.echo(
        " x ".join([_plural(manifest["replications"], "replication")]
                   + ([_plural(manifest["points"], "point")] if sweep is not None else [])
                   + [_plural(manifest["n_patients"], "patient"), _plural(len(manifest["strategies"]), "strategy")])
        + f" in {manifest['elapsed_seconds']:.1f} s ({_plural(manifest['workers'], 'worker')}, {executor_kind}), seed {seed}"
        + (f"; resumed, {manifest['tasks_run_now']} of {manifest['tasks']} tasks run now" if manifest["resumed"] else "")
    )
    click.echo(str(run_dir.resolve()))


run_command.context_class = _RunContext


def print_sensitivity(run_dir: Path, design: str, reference: str) -> None:
    """Per outcome difference: the parameters that move it most, and the Monte Carlo share."""
    import pandas as pd

    from sim.cli.tables import sensitivity_lines

    for line in sensitivity_lines(pd.read_parquet(run_dir / "sensitivity"), design, reference):
        click.echo(line)


def print_economics(run_dir: Path, scenario, sweep) -> None:
    """Costs, QALYs, the ICER with its interval, EVPI/EVPPI, and where the CEAC was written."""
    import pandas as pd

    from sim.cli.tables import economics_lines
    from sim.scenario.distributions import central_value

    wtp = float(central_value(scenario.economics.willingness_to_pay))
    voi = run_dir / "value_of_information"
    draws = "PSA draws" if sweep is not None else (
        "replications (parameter draws)" if scenario.run.parameter_mode == "sampled" else "replications")
    for line in economics_lines(pd.read_parquet(run_dir / "economics"), scenario.reference_strategy,
                                scenario.economics.currency, wtp, draws,
                                pd.read_parquet(voi) if voi.exists() else None):
        click.echo(line)
    click.echo(f"  CEAC (probability each strategy has the highest net benefit, by willingness to pay): "
               f"{(run_dir / 'ceac').resolve()}")


def print_comparison(run_dir: Path, strategies: list[str], reference: str, replications: int) -> None:
    """The whole-cohort comparison: each strategy, and its paired difference from the reference, fitted
    to the terminal's width (``COLUMNS``; no limit when the output is not a terminal)."""
    import pandas as pd
    from rich.console import Console

    from sim.cli.tables import comparison_tables, output_width

    width = output_width()
    console = Console(width=width or 100_000, soft_wrap=False)
    for item in comparison_tables(pd.read_parquet(run_dir / "summary"), strategies, reference, replications, width):
        if isinstance(item, str):
            click.echo(item)
        else:
            console.print(item, width=width or _widest(item))


def print_queues(run_dir: Path, strategies: list[str]) -> None:
    """With limited capacity: who queued and for how long, and what the queue did to outcomes."""
    import pandas as pd
    from rich.console import Console

    from sim.analysis.capacity import queue_summary, read_waits
    from sim.cli.tables import output_width, queue_tables

    width = output_width()
    console = Console(width=width or 100_000, soft_wrap=False)
    queue = queue_summary(read_waits(run_dir), strategies)
    effect_path = run_dir / "capacity_effect"
    effect = pd.read_parquet(effect_path) if effect_path.exists() else pd.DataFrame()
    for table in queue_tables(queue, effect):
        console.print(table, width=width or _widest(table))


def _widest(table) -> int:
    from sim.cli.tables import natural_width

    return natural_width(table)


@scenario_command("validate")
@click.option("--reps", type=click.IntRange(min=1), default=100, show_default=True,
              help="Monte Carlo replications.")
@seed_option("Root seed [default: a fresh one, printed].")
@WORKERS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON records.")
@click.option("--subgroups/--no-subgroups", default=True, show_default=True,
              help="Also print EFS/OS by relapse group, time to relapse, risk group x randomisation and MRD band.")
@click.option("--cross-validate", "cross_validate_groups", is_flag=True,
              help="Refit with each group of targets left out (HR/IR arms, LR arms, off-protocol outcomes) "
                   "and report the left-out z-scores; takes tens of minutes.")
@QUIET_OPTION
@known_errors
def validate_command(scenario: Path, reps, seed, workers, as_json, subgroups, cross_validate_groups, quiet) -> None:
    """Compare a run of SCENARIO with every published in-sample figure.

    Prints each target with its simulated mean, Monte Carlo SE and z against
    the trial's own SE; then the gradient of 5-year OS by time to first
    relapse against Rheingold 2024 (a prior, not a target) and the subgroup
    views. Exits 1 when any target lies more than two trial standard errors
    away.
    """
    from rich.console import Console
    from rich.table import Table

    from sim.analysis.notebook import read_dataset
    from sim.analysis.validate import compare, load_targets
    from sim.execution.run import RunRequest
    from sim.execution.runner import default_workers
    from sim.scenario.load import load_scenario

    loaded = load_scenario(scenario)
    seed = secrets.randbits(63) if seed is None else seed
    if cross_validate_groups:
        return _cross_validate(scenario, loaded, workers)
    with tempfile.TemporaryDirectory(prefix="simulate-validate-") as tmp:
        run_dir = Path(tmp)
        execute(RunRequest(loaded, reps, seed, run_dir, workers or default_workers(), "process", sys.argv,
                           events=False), quiet)  # the patients alone are compared
        patients = read_dataset(run_dir / "patients")
    try:
        result = compare(patients)
    except ValueError as exc:
        _fail(f"{scenario}: {exc}")
    failed = int((~result["passed"]).sum())
    if as_json:
        click.echo(json.dumps(result.to_dict(orient="records"), indent=1))
    else:
        table = Table(title=f"{loaded.scenario.name}: {reps} replications, seed {seed}")
        for column in ("target", "published", "n", "simulated", "MC SE", "trial SE", "z", "result"):
            table.add_column(column, justify="left" if column == "target" else "right")
        for row in result.itertuples():
            table.add_row(
                f"{row.section} {row.description}" + ("" if row.strategy == "aall1331" else f" [{row.strategy}]"), f"{row.published:.3f}", str(row.n),
                f"{row.simulated:.3f}", f"{row.mc_se:.4f}", f"{row.trial_se:.3f}", f"{row.z:+.2f}",
                "pass" if row.passed else "[bold red]FAIL[/]",
            )
        Console(width=max(shutil.get_terminal_size().columns, 120)).print(table)
        _print_gradient(patients)
        if subgroups:
            _print_subgroups(patients)
        skipped = len(load_targets()) - len(result)
        if skipped:
            click.echo(f"{skipped} targets describe strategies this scenario does not run.")
        click.echo(f"{len(result) - failed} of {len(result)} targets within 2 trial SE")
    if failed:
        sys.exit(1)


def _console():
    from rich.console import Console

    return Console(width=max(shutil.get_terminal_size().columns, 100))


def _print_gradient(patients: "pd.DataFrame") -> None:
    from rich.table import Table

    from sim.analysis.subgroups import GRADIENT_TOLERANCE, gradient_check

    gradient = gradient_check(patients)
    table = Table(title="5-year OS by time to first relapse vs Rheingold 2024 (a prior for the gradient, not a target)")
    for column in ("strategy", "time to first relapse", "simulated", "MC SE", "Rheingold", "log OR vs late (sim)",
                   "log OR vs late (Rheingold)", "direction", "size"):
        table.add_column(column, justify="left" if column in ("strategy", "time to first relapse") else "right")
    for row in gradient.itertuples():
        table.add_row(row.strategy, row.cell, f"{row.simulated_os_5y:.3f}", f"{row.mc_se:.3f}", f"{row.rheingold_os_5y:.3f}",
                      f"{row.simulated_log_or_vs_late:+.2f}", f"{row.rheingold_log_or_vs_late:+.2f}",
                      "ok" if row.direction else "[bold red]reversed[/]",
                      "ok" if row.size_within_range else "[bold red]outside[/]")
    _console().print(table)
    low, high = GRADIENT_TOLERANCE
    click.echo(f"size: simulated log odds ratio of death vs late within {low:g}-{high:g} x Rheingold's")


def subgroup_grid(view: "pd.DataFrame", values: str) -> "pd.DataFrame":
    """One row per (strategy, cell, patients per replication) of a subgroup view, in the view's
    order, and one column per (endpoint, years): the cells that exist, not every combination."""
    import pandas as pd

    rows = pd.MultiIndex.from_frame(view[["strategy", "cell", "patients_per_replication"]].drop_duplicates())
    columns = pd.MultiIndex.from_frame(view[["endpoint", "years"]].drop_duplicates())
    grid = view.pivot(index=["strategy", "cell", "patients_per_replication"], columns=["endpoint", "years"],
                      values=values)
    return grid.reindex(index=rows, columns=columns)


def _print_subgroups(patients: "pd.DataFrame") -> None:
    from rich.table import Table

    from sim.analysis.subgroups import subgroup_views

    for name, view in subgroup_views(patients).items():
        wide, se = subgroup_grid(view, "mean"), subgroup_grid(view, "mc_se")  # SE NaN with one replication: "-"
        table = Table(title=f"EFS and OS from enrolment by {name} (mean over replications +/- MC SE)")
        table.add_column("strategy")
        table.add_column(name)
        table.add_column("n/rep", justify="right")
        for endpoint, years in wide.columns:
            table.add_column(f"{endpoint} {years}y", justify="right")
        evidence = view.dropna(subset=["evidence"]).set_index(["strategy", "cell", "endpoint", "years"])
        for index, values in wide.iterrows():
            strategy, cell, n = index
            cells = []
            for column, value in values.items():
                error = se.loc[index, column] if index in se.index else float("nan")
                text = f"{value:.3f} +/- " + ("-" if error != error else f"{error:.3f}")
                key = (strategy, cell, *column)
                if key in evidence.index:
                    text += f" [{evidence.loc[key, 'evidence']:.3f}: {evidence.loc[key, 'evidence_source']}]"
                cells.append(text)
            table.add_row(strategy, str(cell), f"{n:.0f}", *cells)
        _console().print(table)
    click.echo("[value: source] is the published figure for the cell, where the calibration inputs give one.")


def _cross_validate(scenario: Path, loaded, workers) -> None:
    from rich.table import Table

    from sim.analysis.calibrate import (
        FREE_PARAMETERS,
        cross_validate,
        cross_validation_summary,
    )
    from sim.execution.runner import default_workers, make_executor
    from sim.scenario.load import fitted_values_path, load_scenario
    from sim.scenario.sweep import parameter_value

    priors = load_scenario(scenario, use_fitted=False).scenario
    fitted = {path: float(parameter_value(loaded.scenario, path)) for path in FREE_PARAMETERS}
    record = tomllib.loads(fitted_values_path(scenario).read_text(encoding="utf-8")).get("calibration", {})
    seed, reps = int(record.get("seed", 20261121)), int(record.get("replications", 30))
    started = time.perf_counter()
    with make_executor(workers or default_workers()) as executor:
        table = cross_validate(priors, fitted, seed, reps, executor,
                               on_group=lambda g: click.echo(f"refitting without {g} ...", err=True))
    summary = cross_validation_summary(table)
    out = Table(title=f"Cross-validation: refit without each group (seed {seed}, {reps} replications)")
    for column in ("left out", "targets", "mean |z| in sample", "mean |z| left out", "within 2 SE in sample",
                   "within 2 SE left out", "max |z| left out"):
        out.add_column(column, justify="left" if column == "left out" else "right")
    for row in summary.itertuples():
        out.add_row(row.group, str(int(row.targets)), f"{row.in_sample_mean_abs_z:.2f}", f"{row.left_out_mean_abs_z:.2f}",
                    f"{row.in_sample_within_2se:.0%}", f"{row.left_out_within_2se:.0%}", f"{row.left_out_max_abs_z:.2f}")
    _console().print(out)
    click.echo(f"{time.perf_counter() - started:.0f} s")


@scenario_command("calibrate")
@click.option("--reps", type=click.IntRange(min=2), default=None,
              help="Replications per evaluation [default: 30].")
@seed_option("Root seed, fixed for every evaluation (common random numbers) [default: 20261121].")
@WORKERS_OPTION
@click.option("--max-iterations", type=click.IntRange(min=1), default=12, show_default=True,
              help="Most optimiser steps (each costs one Jacobian: one simulation per free parameter).")
@click.option("--check", is_flag=True,
              help="Fit, compare with the shipped fitted values and ensemble, write nothing; exit 1 if they differ.")
@known_errors
def calibrate_command(scenario: Path, reps, seed, workers, max_iterations, check) -> None:
    """Fit the post-induction parameters of SCENARIO jointly to every in-sample target.

    Starts from the priors written in the scenario, minimises the sum of
    squared z-scores plus the prior penalty, and writes the best point into
    the file the scenario names with `fitted = "..."` and an ensemble of
    parameter sets consistent with the targets into `ensemble = "..."`.
    Rerunning with the same --seed and --reps reproduces both.
    """
    from sim.analysis.calibrate import (
        DEFAULT_REPLICATIONS,
        DEFAULT_SEED,
        calibrate,
        fitted_toml,
    )
    from sim.execution.output import write_ensemble, write_text_file
    from sim.execution.runner import default_workers, make_executor
    from sim.scenario.load import ensemble_path, fitted_values_path, load_scenario

    target_file, ensemble_file = fitted_values_path(scenario), ensemble_path(scenario)
    loaded = load_scenario(scenario, use_fitted=False)
    seed = DEFAULT_SEED if seed is None else seed
    reps = reps or DEFAULT_REPLICATIONS
    started = time.perf_counter()

    def report(evaluation: int, objective: float) -> None:
        click.echo(f"evaluation {evaluation:4d}: objective {objective:10.2f}  ({time.perf_counter() - started:6.0f} s)",
                   err=True)

    with make_executor(workers or default_workers()) as executor:
        result = calibrate(
            loaded.scenario, seed, reps, executor, max_iterations, on_evaluation=report,
            on_proposal=lambda k, total: click.echo(f"ensemble: proposal {k} of {total} checked", err=True)
            if k % 20 == 0 or k == total else None,
        )
    text = fitted_toml(result, seed, reps, str(scenario))
    identification = result.identification()
    for row in identification.itertuples():
        pinned = "pinned by targets" if row.ratio < 0.5 else ("partly" if row.ratio < 0.9 else "prior")
        click.echo(f"{row.parameter:58s} {row.value:10.4g}  posterior/prior sd {row.ratio:5.2f} ({pinned})")
    z = result.residuals["z"].dropna()
    click.echo(f"{int((z.abs() <= 2).sum())} of {len(z)} in-sample targets within 2 trial SE at the best point; "
               f"objective {result.objective:.1f}; {result.evaluations} evaluations; "
               f"ensemble {len(result.ensemble)} of {result.proposals} proposals; "
               f"{time.perf_counter() - started:.0f} s")
    metadata = {"seed": seed, "replications": reps, "scenario": str(scenario), "proposals": result.proposals}
    if check:
        import tempfile as _tempfile

        import pyarrow.parquet as pq

        shipped = target_file.read_text(encoding="utf-8") if target_file.exists() else ""
        same = shipped.split("[calibration]", 1)[-1] == text.split("[calibration]", 1)[-1]
        with _tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / ensemble_file.name
            write_ensemble(fresh, result.ensemble, metadata)
            same_ensemble = ensemble_file.exists() and pq.read_table(fresh).equals(pq.read_table(ensemble_file))
        click.echo("shipped values reproduced" if same else f"{target_file} differs from this fit")
        click.echo("shipped ensemble reproduced" if same_ensemble else f"{ensemble_file} differs from this fit")
        sys.exit(0 if same and same_ensemble else 1)
    write_text_file(target_file, text)
    write_ensemble(ensemble_file, result.ensemble, metadata)
    click.echo(f"wrote {target_file} and {ensemble_file}")


@main.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="HTML file to write [default: RUN_DIR/report.html].")
@known_errors
def report_command(run_dir: Path, out) -> None:
    """Write one self-contained HTML report of RUN_DIR (figures embedded, no network needed)."""
    from sim.analysis.notebook import open_run
    from sim.analysis.report import build_report
    from sim.execution.output import OutputError, write_text_file
    from sim.trial.report import is_trial_run, write_trial_report

    if is_trial_run(run_dir):
        click.echo(str(write_trial_report(run_dir, out or run_dir / "report.html").resolve()))
        return
    run = open_run(run_dir)
    try:
        written = out or run_dir / "report.html"
        write_text_file(written, build_report(run))
    except OutputError as exc:
        raise OutputError(f"--out {exc}" if out is not None else str(exc)) from None
    click.echo(str(Path(written).resolve()))


if __name__ == "__main__":
    main()


from sim.cli import trial as cli_trial  # noqa: E402,F401  (registers `simulate trial`)
