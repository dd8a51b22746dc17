"""``simulate trial SCENARIO.toml``: operating characteristics of a proposed trial.

Registered on the ``simulate`` group by ``sim.cli.main``; prints the design's
power, type I error, stopping probabilities, expected N, events and
duration, bias and coverage, and assurance. Bad input is refused before
anything is written.
"""

from __future__ import annotations

import math
import secrets
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sim.cli.main import (
    EXECUTOR_OPTIONS,
    QUIET_OPTION,
    _fail,
    _progress,
    check_executor_and_resume,
    known_errors,
    out_option,
    resume_options,
    scenario_command,
    seed_option,
)
from sim.clinical import YEAR_DAYS

if TYPE_CHECKING:  # the heavy modules load when the command runs, so `simulate --help` starts fast
    import pandas as pd


def _a_number(context: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A float option's value, refusing NaN (which every range comparison lets through)."""
    if value is not None and math.isnan(value):
        raise click.BadParameter(f"{value} is not a number in the range", param=param)
    return value


@scenario_command("trial")
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Simulated trials [default: the scenario's trial.trials].")
@click.option("--assurance-trials", type=click.IntRange(min=0), default=None,
              help="Trials with a fresh parameter set each (assurance) [default: trial.assurance_trials].")
@seed_option("Root seed [default: a fresh one, recorded; with --resume, the run's own].")
@out_option("Output directory [default: a new outputs/<scenario>-trial/<time>/].")
@click.option("--target-power", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=None,
              callback=_a_number,
              help="Find the smallest N reaching this power (bisection on common random numbers).")
@click.option("--max-n", type=click.IntRange(min=4), default=None,
              help="Largest N the search tries [default: 3 x trial.n_patients].")
@EXECUTOR_OPTIONS
@resume_options("Finish the trial run in --out.")
@QUIET_OPTION
@known_errors
def trial_command(scenario: Path, trials, assurance_trials, seed, out, target_power, max_n, workers, executor_kind,
                  scheduler, resume, overwrite, quiet) -> None:
    """Simulate the randomised trial proposed in SCENARIO's [trial] table.

    Each simulated trial is one replication: eligible patients run under
    every arm (common random numbers), are randomised, and are seen only on
    their arm at each look. Writes trial_looks/, trial_summary/ and
    manifest.json (and power_curve/ with --target-power).
    """
    import pandas as pd

    from sim.execution.output import (
        OutputError,
        default_run_dir,
        prepare_run_dir,
        replacing,
        run_lock,
    )
    from sim.execution.run import check_resumable, recorded_identity
    from sim.execution.runner import default_workers, make_executor
    from sim.scenario.load import load_scenario
    from sim.trial.design import build_design
    from sim.trial.run import (
        DATASET,
        TrialRequest,
        execute,
        identity,
        search_sample_size,
    )

    loaded = load_scenario(scenario)
    check_executor_and_resume(executor_kind, scheduler, resume, out, run="trial run")
    if resume and target_power is not None:
        raise OutputError("--resume and --target-power: choose one (a search is not resumable)")
    settings = loaded.scenario.trial
    if settings is not None and max_n is not None and target_power is not None and max_n < settings.n_patients:
        raise OutputError(f"--max-n {max_n}: must be at least trial.n_patients ({settings.n_patients})")
    if target_power is not None and settings is not None:
        max_n = max_n or 3 * settings.n_patients
    design = build_design(loaded.scenario, n_max=max_n if target_power is not None else None, source=str(scenario))
    settings = design.settings
    recorded = recorded_identity(out) if resume else {}
    trials = trials or recorded.get("replications") or settings.trials
    assurance_trials = (assurance_trials if assurance_trials is not None
                        else recorded.get("assurance_trials", settings.assurance_trials))
    seed = seed if seed is not None else recorded.get("seed")
    seed = secrets.randbits(63) if seed is None else seed
    workers = workers or default_workers()
    run_dir = out if out is not None else default_run_dir(f"{loaded.scenario.name}-trial")
    if not resume and not overwrite and run_dir.exists() and any(run_dir.iterdir()):
        prepare_run_dir(run_dir, overwrite, resume)  # raises the usual message

    extra = {}
    try:
        with make_executor(workers, executor_kind, scheduler) as executor:
            if target_power is not None:
                def on_point(n: int, power: float) -> None:
                    if not quiet:
                        click.echo(f"  N = {n:4d}: power {power:.3f}", err=True)

                chosen, curve = search_sample_size(design, seed, trials, target_power, max_n, executor, on_point)
                design = design.with_n(chosen)
                extra["power_curve"] = curve
            request = TrialRequest(loaded, design, trials, assurance_trials, seed, run_dir, workers, sys.argv)
            if resume:
                check_resumable(run_dir, identity(request))
            prepare_run_dir(run_dir, overwrite, resume)
            with replacing(run_dir, overwrite), run_lock(run_dir), _progress(quiet) as progress:
                bar = progress.add_task(f"{loaded.scenario.name} trials", total=None, rate="")

                def on_start(total: int, already: int) -> None:
                    progress.update(bar, total=total, completed=already)

                manifest = execute(request, executor, on_start, lambda task: progress.advance(bar), extra)
    except KeyboardInterrupt:
        if target_power is not None:  # a search is not resumable, nor is the run after it
            _fail("interrupted; a sample-size search cannot be resumed: run the command again", 130)
        if not (run_dir / DATASET).is_dir():
            _fail("interrupted before any trial finished: nothing to resume", 130)
        _fail(f"interrupted; finished parts are kept: rerun with --resume --out {run_dir} to complete", 130)
    summary = pd.read_parquet(run_dir / "trial_summary")
    print_trial(summary, design, manifest)
    if "power_curve" in extra:
        curve = extra["power_curve"]
        points = ", ".join(f"{n}: {p:.3f}" for n, p in zip(curve["n_patients"], curve["power"]))
        click.echo(f"Sample size for power {target_power:g}: N = {design.settings.n_patients} (power by N: {points})")
    click.echo(
        f"{trials} trials (+ {trials} null, {assurance_trials} assurance) x {design.settings.n_patients} patients "
        f"in {manifest['elapsed_seconds']:.1f} s ({workers} workers, {executor_kind}), seed {seed}"
    )
    click.echo(str(run_dir.resolve()))


def _cell(summary: "pd.DataFrame", kind: str, comparison: str, statistic: str, scale: float = 1.0,
          digits: int = 3) -> str:
    from sim.trial.summary import value

    mean, se = value(summary, kind, comparison, statistic)
    if math.isnan(mean):
        return "-"
    return f"{mean * scale:.{digits}f}" + ("" if math.isnan(se) else f" ({se * scale:.{digits}f})")


def print_trial(summary: "pd.DataFrame", design, manifest: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    settings = design.settings
    looks = settings.analysis.n_looks
    effect = "HR" if settings.test == "logrank" else "difference"
    for comparison in settings.experimental_arms:
        table = Table(title=f"{comparison} vs {settings.control}: {settings.endpoint}, {settings.test}, "
                            f"alpha {settings.alpha:g} ({settings.sided}-sided), N {settings.n_patients}, "
                            f"{looks} look{'s' if looks > 1 else ''} (mean (Monte Carlo SE))")
        table.add_column("measure")
        table.add_column("design (model's effect)", justify="right")
        table.add_column("null (control in every arm)", justify="right")
        table.add_column("assurance (sampled parameters)", justify="right")
        kinds = ("alternative", "null", "assurance")
        rows = [("power / type I error / assurance", "reject_for_experimental", 1.0, 3)]
        rows += [(f"stop for efficacy at look {k}", f"stop_efficacy_look_{k}", 1.0, 3) for k in range(1, looks + 1)]
        if settings.analysis.futility_z is not None:
            rows += [(f"stop for futility at look {k}", f"stop_futility_look_{k}", 1.0, 3) for k in range(1, looks)]
        rows += [
            ("expected patients", "expected_patients", 1.0, 1),
            ("expected events (information)", "expected_information", 1.0, 1),
            ("expected duration (years)", "expected_duration_days", 1 / YEAR_DAYS, 2),
            (f"mean estimated {effect}", "mean_estimate", 1.0, 3),
            (f"mean true {effect} (same patients, every arm)", "mean_true_effect", 1.0, 3),
            ("bias" + (" (log HR)" if effect == "HR" else ""), "bias", 1.0, 3),
            ("coverage of the 95% interval", "coverage_95", 1.0, 3),
        ]
        for label, statistic, scale, digits in rows:
            table.add_row(label, *(_cell(summary, kind, comparison, statistic, scale, digits) for kind in kinds))
        Console(width=max(shutil.get_terminal_size().columns, 140)).print(table)
    click.echo(f"Eligible share of relapses: {design.share:.1%}; accrual {settings.accrual_per_year:g} per year.")
