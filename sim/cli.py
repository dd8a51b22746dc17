"""The ``simulate`` command line: the only place that prints and exits.

``simulate SCENARIO.toml`` runs a scenario (the default command);
``simulate validate SCENARIO.toml`` compares a run with the published figures.
Known errors become one line on stderr and exit status 2; no traceback.
"""

from __future__ import annotations

import functools
import json
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import click
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from . import __version__
from .output import (
    OutputError,
    default_run_dir,
    prepare_run_dir,
    write_text_file,
)
from .summary import MEASURES
from .analysis import RunError
from .run import IDENTITY, RunRequest, check_resumable, identity
from .run import execute as run_execute
from .runner import BatchResult, default_workers, make_executor
from .scenario import ScenarioError, fitted_values_path, load_scenario
from .validate import compare, load_targets

KNOWN_ERRORS = (ScenarioError, OutputError, RunError)

WORKERS_OPTION = click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Worker processes [default: all cores]."
)
QUIET_OPTION = click.option("--quiet", is_flag=True, help="No progress bar.")


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
        except KNOWN_ERRORS as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted", 130)

    return wrapper


class DefaultGroup(click.Group):
    """A group whose first argument, when not a command name, goes to ``run``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultGroup)
@click.version_option(__version__, prog_name="simulate")
def main() -> None:
    """Simulate treatment pathways in first relapse of childhood B-ALL.

    \b
    simulate SCENARIO.toml [--reps N] [--seed N] [--out DIR] [--workers N]
    simulate validate SCENARIO.toml [--reps N]
    simulate calibrate SCENARIO.toml [--reps N] [--seed N]
    simulate report RUN_DIR [--out report.html]
    """


def _progress(quiet: bool) -> Progress:
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


def execute(request: RunRequest, quiet: bool, scheduler: str | None = None) -> dict:
    """Run a request with a progress bar on stderr; return the manifest."""
    scenario = request.loaded.scenario
    patients_per_replication = scenario.cohort.n_patients * len(scenario.strategies)
    started = time.perf_counter()
    with _progress(quiet) as progress, make_executor(request.workers, request.executor_kind, scheduler) as executor:
        bar = progress.add_task(scenario.name, total=None, rate="")
        done_before = [0]

        def on_start(total: int, already: int) -> None:
            done_before[0] = already
            progress.update(bar, total=total, completed=already)

        def on_batch(batch: BatchResult) -> None:
            progress.advance(bar, batch.stop - batch.first)
            new = progress.tasks[bar].completed - done_before[0]
            rate = new * patients_per_replication / max(time.perf_counter() - started, 1e-9)
            progress.update(bar, rate=f"{rate:,.0f} patients/s")

        return run_execute(request, executor, on_start, on_batch)


@main.command("run")
@click.argument("scenario", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--reps", type=click.IntRange(min=1), default=None,
              help="Monte Carlo replications (per point of a sweep) [default: the scenario's; with --resume, the run's own].")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=None,
              help="Root seed [default: a fresh one, recorded in the manifest; with --resume, the run's own].")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Output directory [default: a new outputs/<scenario>/<time>/].")
@WORKERS_OPTION
@click.option("--executor", "executor_kind", type=click.Choice(["process", "dask"]), default="process",
              show_default=True, help="Local process pool, or Dask (a local cluster, or --scheduler).")
@click.option("--scheduler", default=None, help="Address of an existing Dask scheduler (with --executor dask).")
@click.option("--resume", is_flag=True, help="Finish the run in --out: compute only what is missing.")
@click.option("--overwrite", is_flag=True, help="Replace the run in a non-empty --out directory.")
@QUIET_OPTION
@known_errors
def run_command(scenario: Path, reps, seed, out, workers, executor_kind, scheduler, resume, overwrite, quiet) -> None:
    """Run SCENARIO (all its strategies, or its [sweep]) and write Parquet results.

    Writes patients/, events/, summary/ and manifest.json; a sweep writes
    points/, summary/ (per point), sensitivity/ and manifest.json.
    """
    loaded = load_scenario(scenario)
    if scheduler is not None and executor_kind != "dask":
        raise OutputError("--scheduler needs --executor dask")
    if resume and out is None:
        raise OutputError("--resume needs --out DIR: the run to finish")
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
    request = RunRequest(loaded, replications, seed, run_dir, workers, executor_kind, sys.argv)
    if resume:
        check_resumable(run_dir, identity(request))
    prepare_run_dir(run_dir, overwrite, resume)
    try:
        manifest = execute(request, quiet, scheduler)
    except KeyboardInterrupt:
        _fail(f"interrupted; finished parts are kept: rerun with --resume --out {run_dir} to complete", 130)
    if sweep is not None:
        print_sensitivity(run_dir, sweep.design)
    elif not quiet or sys.stdout.isatty():
        print_comparison(run_dir, loaded.scenario.strategies, loaded.scenario.reference_strategy)
    click.echo(
        f"{manifest['replications']} replications x {manifest['points']} points x {manifest['n_patients']} "
        f"patients x {len(manifest['strategies'])} strategies in {manifest['elapsed_seconds']:.1f} s "
        f"({workers} workers, {executor_kind}), seed {seed}"
        + (f"; resumed, {manifest['tasks_run_now']} of {manifest['tasks']} tasks run now" if manifest["resumed"] else "")
    )
    click.echo(str(run_dir))


def recorded_identity(run_dir: Path) -> dict:
    """What a run in ``run_dir`` recorded about itself (seed, replications), or nothing."""
    path = run_dir / IDENTITY
    return json.loads(path.read_text()) if path.exists() else {}


def print_sensitivity(run_dir: Path, design: str) -> None:
    """Per outcome difference: the parameters that move it most, and the Monte Carlo share."""
    table = pd.read_parquet(run_dir / "sensitivity")
    key = {"one_way": "swing", "sobol": "ST", "morris": "mu_star"}.get(design, "spearman_rho")
    for (outcome, strategy), group in table.groupby(["outcome", "strategy"]):
        mc = group.loc[group["statistic"] == "monte_carlo_share", "value"].iloc[0]
        ranked = group[group["statistic"] == key].assign(size=lambda g: g["value"].abs()).sort_values("size", ascending=False)
        top = ", ".join(f"{row.parameter} {row.value:+.3g}" for row in ranked.head(3).itertuples())
        click.echo(f"{outcome} ({strategy} - reference): {key} {top}; Monte Carlo share of variance {mc:.0%}")


def print_comparison(run_dir: Path, strategies: list[str], reference: str) -> None:
    """The whole-cohort comparison table: each strategy, and its paired difference from the reference."""
    summary = pd.read_parquet(run_dir / "summary")
    overall = summary[summary["subgroup"] == "all"]
    table = Table(title=f"Strategies (mean [Monte Carlo 95% interval]); differences vs {reference}, paired")
    table.add_column("outcome")
    for strategy in strategies:
        table.add_column(strategy, justify="right")
        if strategy != reference:
            table.add_column(f"{strategy} - {reference}", justify="right")

    def cell(row: pd.Series, scale: float, digits: int) -> str:
        return f"{row['mean'] * scale:.{digits}f} [{row['ci_low'] * scale:.{digits}f}, {row['ci_high'] * scale:.{digits}f}]"

    for measure, label in MEASURES.items():
        rows = overall[overall["measure"] == measure].set_index(["strategy", "comparison"])
        percent = not measure.endswith("days")
        scale, digits = (100.0, 1) if percent else (1.0, 0)
        cells = []
        for strategy in strategies:
            cells.append(cell(rows.loc[(strategy, "value")], scale, digits))
            if strategy != reference:
                cells.append(cell(rows.loc[(strategy, "difference")], scale, digits))
        table.add_row(label + (" (%)" if percent else ""), *cells)
    Console(width=max(shutil.get_terminal_size().columns, 160)).print(table)
    differences = overall[overall["comparison"] == "difference"]["variance_reduction"].dropna()
    if len(differences):
        click.echo(
            f"Common random numbers: pairing removed a median {100 * differences.median():.0f}% "
            f"(range {100 * differences.min():.0f}-{100 * differences.max():.0f}%) of the variance of the differences."
        )


@main.command("validate")
@click.argument("scenario", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--reps", type=click.IntRange(min=1), default=100, show_default=True,
              help="Monte Carlo replications.")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=None,
              help="Root seed [default: a fresh one, printed].")
@WORKERS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON records.")
@QUIET_OPTION
@known_errors
def validate_command(scenario: Path, reps, seed, workers, as_json, quiet) -> None:
    """Compare a run of SCENARIO with every published in-sample figure.

    Exits 1 when any target lies more than two trial standard errors away.
    """
    loaded = load_scenario(scenario)
    seed = secrets.randbits(63) if seed is None else seed
    with tempfile.TemporaryDirectory(prefix="simulate-validate-") as tmp:
        run_dir = Path(tmp)
        execute(RunRequest(loaded, reps, seed, run_dir, workers or default_workers(), "process", sys.argv), quiet)
        patients = pd.read_parquet(run_dir / "patients")
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
        skipped = len(load_targets()) - len(result)
        if skipped:
            click.echo(f"{skipped} targets describe strategies this scenario does not run.")
        click.echo(f"{len(result) - failed} of {len(result)} targets within 2 trial SE")
    if failed:
        sys.exit(1)


@main.command("calibrate")
@click.argument("scenario", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--reps", type=click.IntRange(min=2), default=None,
              help="Replications per iteration [default: 60].")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=None,
              help="Root seed, fixed for every iteration (common random numbers) [default: 20261121].")
@WORKERS_OPTION
@click.option("--max-iterations", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--check", is_flag=True, help="Fit, compare with the shipped values, write nothing; exit 1 if they differ.")
@known_errors
def calibrate_command(scenario: Path, reps, seed, workers, max_iterations, check) -> None:
    """Fit the post-induction parameters of SCENARIO to their in-sample targets.

    Writes the fitted values into the file the scenario names with
    `fitted = "..."`; rerunning with the same --seed and --reps reproduces it.
    """
    from .calibrate import DEFAULT_REPLICATIONS, DEFAULT_SEED, FREE_PARAMETERS, calibrate, fitted_toml

    target_file = fitted_values_path(scenario)
    loaded = load_scenario(scenario)
    seed = DEFAULT_SEED if seed is None else seed
    reps = reps or DEFAULT_REPLICATIONS

    def report(iteration: int, residuals: pd.DataFrame) -> None:
        worst = residuals.loc[residuals["z"].abs().idxmax()]
        click.echo(f"iteration {iteration:2d}: worst target {worst['id']} z {worst['z']:+.2f}", err=True)

    with make_executor(workers or default_workers()) as executor:
        result = calibrate(loaded.scenario, seed, reps, executor, max_iterations, on_iteration=report)
    text = fitted_toml(result, seed, reps, str(scenario))
    for p in FREE_PARAMETERS:
        click.echo(f"{p.path:50s} {result.values[p.path]:.6g}")
    if not result.converged:
        click.echo(f"warning: not converged after {result.iterations} iterations", err=True)
    if check:
        shipped = target_file.read_text(encoding="utf-8") if target_file.exists() else ""
        same = shipped.split("[calibration]", 1)[-1] == text.split("[calibration]", 1)[-1]
        click.echo("shipped values reproduced" if same else f"{target_file} differs from this fit")
        sys.exit(0 if same else 1)
    write_text_file(target_file, text)
    click.echo(f"wrote {target_file}")



@main.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="HTML file to write [default: RUN_DIR/report.html].")
@known_errors
def report_command(run_dir: Path, out) -> None:
    """Write one self-contained HTML report of RUN_DIR (figures embedded, no network needed)."""
    from .analysis import open_run
    from .report import write_report
    from .trial.report import is_trial_run, write_trial_report

    if is_trial_run(run_dir):
        click.echo(str(write_trial_report(run_dir, out or run_dir / "report.html")))
        return
    run = open_run(run_dir)
    click.echo(str(write_report(run, out or run_dir / "report.html")))


if __name__ == "__main__":
    main()


from . import cli_trial  # noqa: E402,F401  (registers `simulate trial`)
