"""What ``simulate`` shows after a run, laid out to fit the terminal (the CLI prints it).

The comparison table has one row per outcome and, per strategy, its value and
its paired difference from the reference. It is built in the widest layout
that fits: every cell as ``mean [95% interval]``; then ``mean ±half-width``
(the Monte Carlo interval is symmetric, so nothing is lost); then the values
and the differences as two tables; then strategies spread over as many tables
as the width needs, each repeating the outcome column. No column is ever
cut off. Output that goes to a file or pipe (no terminal, no ``COLUMNS``)
gets the widest layout.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import sys
import textwrap

import pandas as pd
from rich.console import Console
from rich.table import Table

from sim.analysis.summary import MEASURE_LABELS, MEASURES, measure_label, measure_scale

MIN_WIDTH = 40
LABEL_WIDTHS = (None, 36, 30, 24, 18)  # the outcome column wraps rather than pushing others off the screen


def output_width() -> int | None:
    """Columns to fit: ``COLUMNS`` if set, else the terminal's; None when stdout is no terminal."""
    if os.environ.get("COLUMNS", "").isdigit():
        return max(int(os.environ["COLUMNS"]), MIN_WIDTH)
    if sys.stdout.isatty():
        return max(shutil.get_terminal_size().columns, MIN_WIDTH)
    return None


def natural_width(table: Table) -> int:
    """The width ``table`` takes when nothing wraps."""
    buffer = io.StringIO()
    Console(file=buffer, width=100_000, color_system=None, legacy_windows=False).print(table)
    return max((len(line.rstrip()) for line in buffer.getvalue().splitlines()), default=0)


def _cell(row: pd.Series | None, scale: float, digits: int, compact: bool) -> str:
    if row is None or not math.isfinite(row["mean"]):
        return "-"
    mean = row["mean"] * scale
    if not (math.isfinite(row["ci_low"]) and math.isfinite(row["ci_high"])):
        return f"{mean:.{digits}f}"  # one replication: no interval
    if compact:
        return f"{mean:.{digits}f} ±{(row['ci_high'] - row['mean']) * scale:.{digits}f}"
    return f"{mean:.{digits}f} [{row['ci_low'] * scale:.{digits}f}, {row['ci_high'] * scale:.{digits}f}]"


def _columns(strategies: list[str], reference: str, values: bool, differences: bool) -> list[tuple[str, str]]:
    columns = []
    for strategy in strategies:
        if values:
            columns.append((strategy, "value"))
        if differences and strategy != reference:
            columns.append((strategy, "difference"))
    return columns


def _table(overall: pd.DataFrame, columns: list[tuple[str, str]], reference: str, compact: bool, title: str,
           label_width: int | None) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("outcome", max_width=label_width, overflow="fold")
    for strategy, comparison in columns:
        table.add_column(strategy if comparison == "value" else f"{strategy}\n− {reference}", justify="right",
                         no_wrap=True)
    indexed = overall.set_index(["measure", "strategy", "comparison"])
    for measure in MEASURES:
        scale, digits = measure_scale(measure)
        cells = []
        for strategy, comparison in columns:
            key = (measure, strategy, comparison)
            cells.append(_cell(indexed.loc[key] if key in indexed.index else None, scale, digits, compact))
        table.add_row(measure_label(measure), *cells)
    return table


def comparison_tables(summary: pd.DataFrame, strategies: list[str], reference: str, replications: int,
                      width: int | None) -> list[Table | str]:
    """The comparison, as the fewest tables that fit ``width`` (None: no limit), and notes under them."""
    overall = summary[summary["subgroup"] == "all"]
    several = len(strategies) > 1
    if not several:
        title = f"{strategies[0]}: outcomes over {replications} replication{'s' if replications != 1 else ''}"
    else:
        title = f"Outcomes, and paired differences from {reference}"
    notes = []
    if replications < 2:
        notes.append("One replication: no Monte Carlo SE or interval; they need --reps 2 or more.")

    def fits(tables: list[Table]) -> bool:
        return width is None or all(natural_width(t) <= width for t in tables)

    def first_fitting(columns: list[tuple[str, str]], compact: bool, heading: str,
                      label_widths: tuple[int | None, ...]) -> Table | None:
        for label_width in label_widths:
            table = _table(overall, columns, reference, compact, f"{heading} ({_legend(compact, replications)})", label_width)
            if fits([table]):
                return table
        return None

    everything = _columns(strategies, reference, True, True)
    for compact in (False, True):
        table = first_fitting(everything, compact, title, (None,) if not compact else LABEL_WIDTHS)
        if table is not None:
            return [table, *_notes(overall, several, notes, width)]
    # Too wide for one table: the values, then the differences, each over as few tables as the width allows.
    tables = []
    for values, differences, heading in ((True, False, "Outcomes"), (False, True, f"Paired differences from {reference}")):
        columns = _columns(strategies, reference, values, differences)
        while columns:
            for take in range(len(columns), 0, -1):
                table = first_fitting(columns[:take], True, heading, LABEL_WIDTHS)
                if table is not None or take == 1:
                    break
            tables.append(table or _table(overall, columns[:1], reference, True, heading, LABEL_WIDTHS[-1]))
            columns = columns[take:]
    return [*tables, *_notes(overall, several, notes, width)]


def _legend(compact: bool, replications: int) -> str:
    if replications < 2:
        return "one replication: values, no interval"
    return "mean ±Monte Carlo 95% half-width" if compact else "mean [Monte Carlo 95% interval]"


def _notes(overall: pd.DataFrame, several: bool, notes: list[str], width: int | None) -> list[str]:
    lines = list(notes)
    if several:
        lines.append("Differences are paired within replications; for % outcomes they are in percentage points.")
        reduction = overall[overall["comparison"] == "difference"]["variance_reduction"].dropna()
        if len(reduction):
            lines.append(
                f"Common random numbers: pairing removed a median {100 * reduction.median():.0f}% "
                f"(range {100 * reduction.min():.0f}% to {100 * reduction.max():.0f}%) of the variance of the differences."
            )
    return [textwrap.fill(line, width) for line in lines] if width else lines


SENSITIVITY_KEY = {"one_way": "swing", "sobol": "ST", "morris": "mu_star"}


def sensitivity_lines(table: pd.DataFrame, design: str, reference: str) -> list[str]:
    """Per outcome difference: the three parameters that move it most, and the Monte Carlo share."""
    key = SENSITIVITY_KEY.get(design, "spearman_rho")
    lines = []
    for (outcome, strategy), group in table.groupby(["outcome", "strategy"], sort=False):
        share = group.loc[group["statistic"] == "monte_carlo_share", "value"]
        ranked = group[group["statistic"] == key].assign(size=lambda g: g["value"].abs()) \
            .sort_values("size", ascending=False)
        scale, _ = measure_scale(outcome)
        in_units = key in ("swing", "mu_star")
        unit = ("percentage points" if scale == 100.0 else MEASURE_LABELS.get(outcome, ("", ""))[1]) if in_units else ""
        factor = scale if in_units else 1.0
        top = ", ".join(f"{row.parameter} {row.value * factor:+.3g}" for row in ranked.head(3).itertuples())
        name = MEASURE_LABELS.get(outcome, (outcome, ""))[0]
        share_text = ""
        if len(share) and math.isfinite(share.iloc[0]):
            share_text = f"; Monte Carlo share of variance {share.iloc[0]:.0%}"
            if share.iloc[0] >= 1:
                share_text += " (replication noise alone explains the spread between points: add replications)"
        lines.append(f"{name}, {strategy} minus {reference}: {key}{f' ({unit})' if unit else ''} {top}{share_text}")
    return lines


def queue_tables(queue: "pd.DataFrame", effect: "pd.DataFrame") -> list:
    """The queue per strategy and resource, then the effect of queueing on outcomes (limited minus unlimited)."""
    from sim.analysis.capacity import RESOURCES, WAIT_ENDINGS

    items: list = []
    table = Table(title="Queues (waits in days among patients who queued; intervals: Monte Carlo 95%)")
    for column in ("strategy", "resource", "queued / replication", "waited", "mean wait", "median", "90th pct",
                   "longest", "relapsed waiting", "died waiting", "follow-up ended waiting"):
        table.add_column(column, justify="left" if column in ("strategy", "resource") else "right")
    for row in queue.itertuples():
        low, high = row.waited_share_ci
        waited = f"{100 * row.waited_share:.1f}%" + (f" [{100 * low:.1f}, {100 * high:.1f}]" if math.isfinite(low) else "")
        low, high = row.wait_mean_ci
        mean = f"{row.wait_mean_days:.1f}" + (f" [{low:.1f}, {high:.1f}]" if math.isfinite(low) else "")
        ended = ["-"] * len(WAIT_ENDINGS)
        if row.resource == "hsct_slots":
            ended = [f"{getattr(row, f'{o}_while_waiting_per_replication'):.1f} "
                     f"({100 * getattr(row, f'{o}_while_waiting_share'):.1f}%)" for o in WAIT_ENDINGS]
        table.add_row(row.strategy, RESOURCES[row.resource][1], f"{row.queued_per_replication:.1f}", waited, mean,
                      f"{row.wait_p50_days:.1f}", f"{row.wait_p90_days:.1f}", f"{row.wait_max_days:.0f}", *ended)
    items.append(table)
    if len(effect):
        table = Table(title="Effect of the queue: under this capacity minus unlimited capacity, "
                            "paired by replication (same patients, same draws)")
        for column in ("strategy", "outcome", "this capacity", "unlimited", "difference [95% interval]"):
            table.add_column(column, justify="left" if column in ("strategy", "outcome") else "right")
        for row in effect.itertuples():
            scale, digits = measure_scale(row.measure)
            unit = "" if scale == 1.0 else " pp"
            interval = (f" [{row.ci_low * scale:+.{digits}f}, {row.ci_high * scale:+.{digits}f}]"
                        if math.isfinite(row.ci_low) else "")
            table.add_row(row.strategy, measure_label(row.measure), f"{row.limited * scale:.{digits}f}",
                          f"{row.unlimited * scale:.{digits}f}",
                          f"{row.difference * scale:+.{digits}f}{unit}{interval}")
        items.append(table)
    return items
def economics_lines(table: pd.DataFrame, reference: str, currency: str, willingness_to_pay: float, draws: str,
                    value_of_information: pd.DataFrame | None = None) -> list[str]:
    """Discounted cost, QALYs and net benefit per strategy, each with its 95% interval, and each
    strategy's ICER against the reference with its interval; then EVPI and the largest EVPPIs."""
    def money(value: float) -> str:
        return f"{value:,.0f}" if math.isfinite(value) else "n/a"

    def interval(row, measure: str, fmt) -> str:
        return f"{fmt(row[measure])} [{fmt(row[f'{measure}_ci_low'])} to {fmt(row[f'{measure}_ci_high'])}]"

    def qalys(value: float) -> str:
        return f"{value:.3f}"

    n = int(table["draws"].iloc[0])
    lines = [f"Costs and QALYs per patient (discounted, {currency}; means over {n} {draws} with 95% intervals):"]
    for row in table.to_dict("records"):
        lines.append(f"  {row['strategy']}: cost {interval(row, 'cost', money)}, QALYs {interval(row, 'qalys', qalys)}, "
                     f"life-years {interval(row, 'life_years', qalys)}, net benefit at {money(willingness_to_pay)}/QALY "
                     f"{interval(row, 'net_benefit', money)}")
    for row in table.to_dict("records"):
        if row["strategy"] == reference:
            continue
        per = "saved per QALY lost" if row["status"] == "cheaper, less effective" else "per QALY"
        icer = "n/a (equal QALYs)" if not math.isfinite(row["icer"]) else f"{money(row['icer'])} {per}"
        if math.isfinite(row["icer_ci_low"]):
            icer += f" [95% interval {money(row['icer_ci_low'])} to {money(row['icer_ci_high'])}]"
        elif math.isfinite(row["icer"]):
            icer += " [no interval: the QALY difference's 95% interval holds 0]"
        lines.append(f"  ICER {row['strategy']} vs {reference}: {icer}; incremental cost {money(row['incremental_cost'])}, "
                     f"incremental QALYs {row['incremental_qalys']:+.4f} ({row['status']})")
    if value_of_information is not None and len(value_of_information):
        evpi = float(value_of_information["evpi"].iloc[0])
        top = value_of_information.sort_values("evppi", ascending=False).head(3)
        groups = ", ".join(f"{row.group} {money(row.evppi)}" for row in top.itertuples())
        lines.append(f"  EVPI per patient at {money(willingness_to_pay)}/QALY: {money(evpi)}; largest EVPPI: {groups}")
    return lines
