"""One self-contained HTML report of a run or sweep (``simulate report RUN_DIR``).

Figures are embedded as PNG data, so the page needs no network. Sections: the
question and the scenario's assumptions, CONSORT-style patient flow, survival
curves (bands: the spread of one trial-sized cohort), per-arm curves from
randomisation when the run randomises, outcome and toxicity tables with Monte
Carlo 95% intervals, paired strategy differences, occupancy over time, queues
and the effect of the wait when the scenario limits a resource, sweep results when present,
and a reproducibility section laid out along the STRESS-DES reporting items
for discrete-event simulation (objectives, logic, data, experimentation,
implementation, code access).

The page reads at any width from about 800 px: wide tables scroll inside
their own box, scenario text wraps, figures shrink to the column.
"""

from __future__ import annotations

import base64
import html
import io
import math
import platform

import pandas as pd

from sim.analysis.notebook import (
    FLOW_STEPS,
    Run,
    flow,
    kaplan_meier,
    plot_arms,
    plot_differences,
    plot_flow,
    plot_survival,
    plot_tornado,
    tornado,
    toxicity,
)
from sim.analysis.summary import MEASURE_LABELS, MEASURES, measure_label, measure_scale

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222;
       line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: .85em; margin: .8em 0; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; vertical-align: top; }
th { background: #f3f3f3; } td.label, th.label { text-align: left; }
td { white-space: nowrap; } td.label, td.text { white-space: normal; } td.label { min-width: 8em; }
td .published { display: block; white-space: normal; font-size: .85em; color: #555; max-width: 12em; margin-left: auto; }
@media (max-width: 900px) { table { font-size: .75em; } th, td { padding: .2em .4em; } }
img { max-width: 100%; height: auto; }
.figures { display: flex; flex-wrap: wrap; gap: .5em; }
pre { background: #f7f7f7; padding: 1em; font-size: .8em; white-space: pre-wrap; overflow-wrap: anywhere; }
.note { color: #555; font-size: .9em; }
"""

RELAPSE_GROUPS = {"bm_lt18": "marrow, < 18 months", "bm_18_36": "marrow, 18-36 months",
                  "bm_ge36": "marrow, ≥ 36 months", "iem_lt18": "isolated extramedullary, < 18 months",
                  "iem_ge18": "isolated extramedullary, ≥ 18 months"}
SURVIVAL_NOTE = ("Lines: pooled Kaplan-Meier over all replications. Bands: 2.5th-97.5th percentile of the "
                 "per-replication curves, the spread one trial-sized cohort would show; they are not Monte Carlo "
                 "intervals of the pooled curve, which are much narrower (see the outcome table).")


def _figure(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", pad_inches=0.1)
    plt.close(figure)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _scroll(table_html: str) -> str:
    return f"<div class='scroll'>{table_html}</div>"


def _breakable(text: str) -> str:
    """Escaped text that may wrap after dots and underscores (long parameter paths)."""
    return html.escape(text).replace(".", ".<wbr>").replace("_", "_<wbr>")


def _table(header: list[str], rows: list[list[str]], label_columns: int = 1) -> str:
    """An HTML table from already-escaped cells; the first ``label_columns`` are left-aligned text."""
    def row(cells: list[str], tag: str) -> str:
        return "<tr>" + "".join(f"<{tag}{' class=label' if k < label_columns else ''}>{c}</{tag}>"
                                for k, c in enumerate(cells)) + "</tr>"

    return _scroll("<table>" + row(header, "th") + "".join(row(r, "td") for r in rows) + "</table>")


def _percent(value: float) -> str:
    """A proportion as a percentage to 0.1, or a dash where there is none (e.g. an SE of one replication)."""
    return f"{100 * value:.1f}" if math.isfinite(value) else "&ndash;"


def _interval(mean: float, low: float, high: float, scale: float, digits: int) -> str:
    if not math.isfinite(mean):
        return "&ndash;"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean * scale:.{digits}f}"  # one replication: no interval
    return f"{mean * scale:.{digits}f} [{low * scale:.{digits}f}, {high * scale:.{digits}f}]"


def _interval_table(summary: pd.DataFrame, strategies: list[str], reference: str) -> str:
    overall = summary[summary["subgroup"] == "all"]
    header = ["outcome"]
    for s in strategies:
        header.append(html.escape(s))
        if s != reference:
            header.append(f"{html.escape(s)} &minus; {html.escape(reference)}")
    rows = []
    for measure in MEASURES:
        table = overall[overall["measure"] == measure].set_index(["strategy", "comparison"])
        scale, digits = measure_scale(measure)
        cells = [html.escape(measure_label(measure))]
        for strategy in strategies:
            for comparison in ("value", "difference"):
                if (strategy, comparison) in table.index:
                    r = table.loc[(strategy, comparison)]
                    cells.append(_interval(r["mean"], r["ci_low"], r["ci_high"], scale, digits))
        rows.append(cells)
    return _table(header, rows)


def _flow_section(run: Run, patients: pd.DataFrame) -> str:
    table = flow(patients, run.strategies)
    figures = "".join(_figure(plot_flow(table, [s])) for s in run.strategies)
    wide = table.pivot(index="step", columns="strategy", values="per_replication")
    rows = [[html.escape(step)] + [f"{wide.loc[step, s]:,.1f}" for s in run.strategies] for step, _ in FLOW_STEPS]
    return (f"<div class='figures'>{figures}</div>"
            "<p class='note'>Mean patients per replication at each step, strategies in the scenario's order. "
            "HSCT counts every transplant, on protocol or as salvage.</p>"
            + _table(["step", *map(html.escape, run.strategies)], rows))


def _toxicity_section(patients: pd.DataFrame, strategies: list[str]) -> str:
    """Reinduction toxicity as % [Monte Carlo 95% interval], wide by strategy: all patients, then by relapse group."""
    def cells(group: pd.DataFrame) -> list[str]:
        by_strategy = group.set_index("strategy")
        return [_interval(*by_strategy.loc[s, ["rate", "ci_low", "ci_high"]], 100.0, 1)
                if s in by_strategy.index else "&ndash;" for s in strategies]

    overall = toxicity(patients, "strategy")
    rows = [[html.escape(name)] + cells(group) for name, group in overall.groupby("toxicity", sort=False)]
    by_group = toxicity(patients, "relapse_group")
    order = [g for g in RELAPSE_GROUPS if g in set(by_group["relapse_group"])]
    order += sorted(set(by_group["relapse_group"].dropna()) - set(order))
    group_rows = []
    for relapse_group in order:
        frame = by_group[by_group["relapse_group"] == relapse_group]
        for k, (name, group) in enumerate(frame.groupby("toxicity", sort=False)):
            label = html.escape(f"{RELAPSE_GROUPS.get(relapse_group, relapse_group)} ({relapse_group})") if k == 0 else ""
            group_rows.append([label, html.escape(name)] + cells(group))
    header = [html.escape(s) for s in strategies]
    return ("<p class='note'>Share of patients (%) with each event in reinduction, mean [Monte Carlo 95% interval] "
            "over replications.</p><h3>All patients</h3>"
            + _table(["toxicity", *header], rows)
            + "<h3>By relapse group (months from diagnosis to relapse)</h3>"
            + _table(["relapse group", "toxicity", *header], group_rows, 2))


def _assumptions(manifest: dict) -> str:
    parts = []
    for name, text in manifest.get("scenario_sources", {}).items():
        lines = text.count("\n") + 1
        parts.append(f"<details open><summary><b>{html.escape(name)}</b> ({lines} lines)</summary>"
                     f"<pre>{html.escape(text)}</pre></details>")
    return "".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def build_report(run: Run) -> str:
    """The report's HTML text."""
    import matplotlib

    matplotlib.use("Agg")
    m = run.manifest
    strategies = run.strategies
    body = [f"<h1>{html.escape(m['scenario'])}: simulated treatment pathways in first relapse of B-ALL</h1>",
            f"<p class='note'>{_plural(m['replications'], 'replication')} of {_plural(m['n_patients'], 'patient')}"
            + (f" at each of {_plural(m['points'], 'point')}" if run.is_sweep else "")
            + f"; {'strategies' if len(strategies) > 1 else 'strategy'}: {html.escape(', '.join(strategies))}"
            + (f"; differences are from the reference strategy, <b>{html.escape(run.reference)}</b>"
               if len(strategies) > 1 else "") + ".</p>"]
    if m["replications"] < 2:
        body.append("<p class='note'>One replication: no Monte Carlo interval can be computed; "
                    "rerun with --reps 2 or more.</p>")
    if run.is_sweep:
        body.append("<h2>Sweep</h2>" + _sweep_section(run))
    else:
        patients = run.patients
        body += ["<h2>Patient flow</h2>", _flow_section(run, patients),
                 "<h2>Survival</h2>",
                 _figure(plot_survival(kaplan_meier(patients, "os"), "os", order=strategies)),
                 _figure(plot_survival(kaplan_meier(patients, "efs"), "efs", order=strategies)),
                 f"<p class='note'>{SURVIVAL_NOTE}</p>"]
        if patients["randomized"].astype(bool).any():
            body += ["<h3>By randomised arm, from randomisation</h3>",
                     "<p class='note'>Randomised patients only, time from the end of Block 1 (randomisation), as "
                     "the trial reports its arms: HR/IR A (chemotherapy) vs B (blinatumomab), LR C vs D. "
                     "Bands as above: the spread of one trial-sized cohort.</p>",
                     _figure(plot_arms(patients, "efs")), _figure(plot_arms(patients, "os"))]
        title = "Outcomes and paired differences" if len(strategies) > 1 else "Outcomes"
        body += [f"<h2>{title}</h2>",
                 "<p class='note'>Mean [Monte Carlo 95% interval] over replications"
                 + (f"; differences from <b>{html.escape(run.reference)}</b> are paired within replications "
                    "(common random numbers), in percentage points for % outcomes" if len(strategies) > 1 else "")
                 + ".</p>",
                 _interval_table(run.summary, strategies, run.reference)]
        differences = run.differences()
        if len(differences):
            body.append(_figure(plot_differences(differences, reference=run.reference)))
        if (run.path / "occupancy").exists():
            body += ["<h2>Capacity: occupancy and queues</h2>", _capacity_section(run, patients)]
        body += ["<h2>Toxicity of reinduction</h2>", _toxicity_section(patients, strategies)]
        body += ["<h2>Who does well: EFS and OS by subgroup</h2>", _subgroup_section(patients, strategies)]
    if m.get("economics"):
        body += ["<h2>Costs and QALYs</h2>", _economics_section(run)]
    body += ["<h2>Scenario and assumptions</h2>",
             "<p class='note'>The scenario files as run (every parameter names its evidence row or states an "
             "assumption with its range).</p>", _assumptions(m),
             "<h2>Reproducibility (STRESS-DES)</h2>", _stress(m)]
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(m['scenario'])}"
            f"</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>")


def _capacity_section(run: Run, patients: pd.DataFrame) -> str:
    """Occupancy over time, the queue, and the queue's effect on relapse and survival (``sim.analysis.capacity``)."""
    from sim.analysis.capacity import (
        RESOURCES,
        WAIT_ENDINGS,
        occupancy_over_time,
        plot_occupancy,
        queue_summary,
    )

    strategies = run.strategies
    parts = [_figure(plot_occupancy(occupancy_over_time(run.dataset("occupancy")), strategies)),
             "<p class='note'>Weekly means over replications of the places in use (solid) and the patients "
             "queued (dashed) on each study day; the dotted line is the capacity.</p>"]
    queue = queue_summary(patients, strategies)
    rows = []
    for row in queue.itertuples():
        hsct = row.resource == "hsct_slots"
        ended = [f"{getattr(row, f'{o}_while_waiting_per_replication'):.1f}" if hsct else "-"
                 for o in WAIT_ENDINGS]
        rows.append([html.escape(row.strategy), RESOURCES[row.resource][1], f"{row.queued_per_replication:.1f}",
                     _percent(row.waited_share) + "%", f"{row.wait_mean_days:.1f}", f"{row.wait_p50_days:.1f}",
                     f"{row.wait_p90_days:.1f}", *ended])
    parts.append(_table(["strategy", "resource", "queued per replication", "waited", "mean wait (days)",
                         "median", "90th percentile", "relapsed waiting", "died waiting",
                         "follow-up ended waiting"], rows, label_columns=2))
    effect_path = run.path / "capacity_effect"
    if effect_path.exists():
        effect = pd.read_parquet(effect_path)
        rows = []
        for row in effect.itertuples():
            scale, digits = measure_scale(row.measure)
            rows.append([html.escape(row.strategy), html.escape(measure_label(row.measure)),
                         f"{row.limited * scale:.{digits}f}", f"{row.unlimited * scale:.{digits}f}",
                         _interval(row.difference, row.ci_low, row.ci_high, scale, digits)])
        parts += ["<h3>What the wait does to relapse and survival</h3>",
                  "<p class='note'>The same run with unlimited capacity (same seed, same patients, same draws: "
                  "streams are keyed by patient, not by place in the queue); differences are paired within "
                  "replications, in percentage points for % outcomes.</p>",
                  _table(["strategy", "outcome", "this capacity", "unlimited", "difference"], rows, label_columns=2)]
    return "".join(parts)


def _economics_section(run: Run) -> str:
    """Discounted costs, QALYs and net benefit per strategy, the ICER, the CEAC, EVPI and EVPPI."""
    from sim.analysis.notebook import plot_ceac

    settings = run.manifest["economics"]
    currency, wtp = settings["currency"], settings["willingness_to_pay"]
    table = run.economics()

    def money(v: float) -> str:
        return f"{v:,.0f}" if math.isfinite(v) else "–"

    def cell(row, measure: str, fmt) -> str:
        return f"{fmt(row[measure])} [{fmt(row[measure + '_ci_low'])}, {fmt(row[measure + '_ci_high'])}]"

    def qalys(v: float) -> str:
        return f"{v:.3f}" if math.isfinite(v) else "–"

    rows = []
    for row in table.to_dict("records"):
        icer = "" if row["strategy"] == run.reference else money(row["icer"])
        if icer and math.isfinite(row["icer_ci_low"]):
            icer += f" [{money(row['icer_ci_low'])}, {money(row['icer_ci_high'])}]"
        rows.append([html.escape(row["strategy"]), cell(row, "cost", money), cell(row, "qalys", qalys),
                     cell(row, "life_years", qalys), cell(row, "net_benefit", money), icer, html.escape(row["status"])])
    draws = int(table["draws"].iloc[0])
    parts = [f"<p class='note'>Per patient, discounted, {html.escape(currency)}; mean [95% interval] over {draws} "
             f"{'parameter draws (sweep points)' if run.is_sweep else 'replications'}. ICER against "
             f"<b>{html.escape(run.reference)}</b> with a bootstrap 95% interval over draws (none when the QALY "
             f"difference's interval holds 0); net benefit at {money(wtp)} per QALY. Unit costs and utilities are "
             "the scenario's: see its [economics] table.</p>",
             _table(["strategy", "cost", "QALYs", "life-years", f"net benefit at {money(wtp)}/QALY",
                     f"ICER vs {html.escape(run.reference)}", "quadrant"], rows),
             "<h3>Cost-effectiveness acceptability curve</h3>",
             _figure(plot_ceac(run.ceac(), currency, run.strategies))]
    voi = run.path / "value_of_information"
    if voi.exists():
        values = pd.read_parquet(voi).sort_values("evppi", ascending=False)
        parts += [f"<h3>Value of information at {money(wtp)} per QALY</h3>",
                  f"<p class='note'>EVPI per patient {money(float(values['evpi'].iloc[0]))}; EVPPI of each parameter "
                  "group by Gaussian-process regression on the draws (no nested Monte Carlo).</p>",
                  _table(["group", "EVPPI per patient", "parameters"],
                         [[html.escape(r.group), money(r.evppi), _breakable(html.escape(r.parameters))]
                          for r in values.itertuples()])]
    return "".join(parts)


def _cell_order(name: str, cells: list[str]) -> list[str]:
    from sim.analysis.subgroups import MRD_BANDS, TIME_TO_RELAPSE

    known = {"relapse group": list(RELAPSE_GROUPS), "time to first relapse": [c for c, _, _ in TIME_TO_RELAPSE],
             "EOB1 MRD": list(MRD_BANDS)}.get(name, [])
    return [c for c in known if c in cells] + [c for c in cells if c not in known]


def _subgroup_section(patients: pd.DataFrame, strategies: list[str]) -> str:
    """Subgroup views (``sim.analysis.subgroups``), and the time-to-relapse gradient next to Rheingold 2024."""
    from sim.analysis.subgroups import gradient_check, subgroup_views

    parts = ["<p class='note'>Kaplan-Meier from enrolment in each replication, in %: mean over replications "
             "(Monte Carlo SE in brackets); n: patients per replication. Where the calibration inputs give a figure "
             "for the cell it is shown below the value, with its source. The gradient by time to first relapse is "
             "set against Rheingold 2024 5-year OS (an earlier era: a prior for the gradient, not a target).</p>",
             "<h3>5-year OS by time to first relapse vs Rheingold 2024</h3>"]
    gradient = gradient_check(patients)
    parts.append(_table(
        ["strategy", "time to first relapse", "simulated (%)", "MC SE", "Rheingold (%)", "log OR of death vs late, "
         "simulated", "log OR of death vs late, Rheingold", "direction", "size"],
        [[html.escape(r.strategy), html.escape(r.cell), f"{100 * r.simulated_os_5y:.1f}", _percent(r.mc_se),
          f"{100 * r.rheingold_os_5y:.1f}", f"{r.simulated_log_or_vs_late:+.2f}", f"{r.rheingold_log_or_vs_late:+.2f}",
          "ok" if r.direction else "reversed", "ok" if r.size_within_range else "outside"]
         for r in gradient.itertuples()], 2))
    for name, view in subgroup_views(patients).items():
        columns = list(dict.fromkeys(zip(view["endpoint"], view["years"])))
        indexed = view.set_index(["strategy", "cell", "endpoint", "years"])
        rows = []
        for strategy in [s for s in strategies if s in set(view["strategy"])]:
            cells = _cell_order(name, list(dict.fromkeys(view.loc[view["strategy"] == strategy, "cell"])))
            for k, cell in enumerate(cells):
                shown = f"{RELAPSE_GROUPS[cell]} ({cell})" if cell in RELAPSE_GROUPS else str(cell)
                row = [html.escape(strategy) if k == 0 else "", html.escape(shown)]
                n = indexed.loc[(strategy, cell, *columns[0]), "patients_per_replication"]
                row.append(f"{n:.0f}")
                for endpoint, years in columns:
                    r = indexed.loc[(strategy, cell, endpoint, years)]
                    text = f"{_percent(r['mean'])} ({_percent(r['mc_se'])})"
                    if isinstance(r["evidence_source"], str):
                        text += (f"<span class='published'>published {100 * r['evidence']:.1f} "
                                 f"({html.escape(r['evidence_source'])})</span>")
                    row.append(text)
                rows.append(row)
        header = ["strategy", html.escape(name), "n", *[f"{e} {y}-year" for e, y in columns]]
        parts += [f"<h3>By {html.escape(name)}</h3>", _table(header, rows, 2)]
    return "".join(parts)


SENSITIVITY_KEY = {"one_way": "swing", "sobol": "ST", "morris": "mu_star"}


def _sweep_section(run: Run) -> str:
    design = run.manifest["sweep_design"]
    points = run.dataset("points")
    parameters = [c for c in points.columns if c != "point"]
    parts = [f"<p>Design: {html.escape(design)}, {_plural(run.manifest['points'], 'point')}; each point runs "
             f"every strategy on the same patients. Differences are from <b>{html.escape(run.reference)}</b>.</p>",
             "<h3>Points</h3>",
             _table(["point", *map(_breakable, parameters)],
                    [[str(int(row["point"]))] + [f"{row[p]:.4g}" for p in parameters] for _, row in points.iterrows()])]
    sensitivity = run.dataset("sensitivity")
    if design == "one_way":
        for outcome in sensitivity["outcome"].unique():
            table = tornado(run, outcome)
            parts.append(f"<h3>{html.escape(measure_label(outcome, difference=True))}</h3>"
                         + _figure(plot_tornado(table, outcome, reference=run.reference)))
    parts += ["<h3>Sensitivity statistics</h3>", _sensitivity_tables(sensitivity, run.reference)]
    return "".join(parts)


# Statistics in the outcome's own units (percentage points for % outcomes); the others have no unit.
IN_OUTCOME_UNITS = ("at_low", "central", "at_high", "swing", "mu_star", "sigma")


def _sensitivity_tables(sensitivity: pd.DataFrame, reference: str) -> str:
    """Per outcome difference: one row per parameter, one column per statistic (with its +/- conf or p)."""
    parts = ["<p class='note'>Differences at_low, central, at_high, swing and Morris mu_star and sigma are in "
             "percentage points for % outcomes; Sobol S1/ST and Spearman's rho have no unit. The Monte Carlo share "
             "is the part of the between-point variance that replication noise alone explains (near 0: the "
             "parameters are resolved; near 1: add replications per point).</p>"]
    for (outcome, strategy), group in sensitivity.groupby(["outcome", "strategy"], sort=False):
        scale = measure_scale(outcome)[0]
        share = group.loc[group["statistic"] == "monte_carlo_share", "value"]
        per_parameter = group[group["parameter"].astype(str) != ""]
        found = list(dict.fromkeys(per_parameter["statistic"]))
        statistics = [k for k in IN_OUTCOME_UNITS if k in found] + [k for k in found if k not in IN_OUTCOME_UNITS]
        rows = []
        for parameter, rows_of in per_parameter.groupby("parameter", sort=False):
            cells = [_breakable(str(parameter))]
            indexed = rows_of.set_index("statistic")
            for statistic in statistics:
                factor = scale if statistic in IN_OUTCOME_UNITS else 1.0
                value, conf = indexed.loc[statistic, "value"] * factor, indexed.loc[statistic, "conf"]
                text = f"{value:.3g}"
                if math.isfinite(conf):
                    text += f" (p {conf:.2g})" if statistic == "spearman_rho" else f" &plusmn; {conf * factor:.2g}"
                cells.append(text)
            rows.append(cells)
        name, unit = MEASURE_LABELS.get(outcome, (outcome, ""))
        unit = "percentage points" if unit == "%" else unit
        parts.append(f"<h4>{html.escape(name)}, {html.escape(str(strategy))} minus {html.escape(reference)}"
                     + (f" ({unit})" if unit else "")
                     + (f"; Monte Carlo share of the variance {share.iloc[0]:.0%}" if len(share)
                        and math.isfinite(share.iloc[0]) else "") + "</h4>")
        parts.append(_table(["parameter", *map(html.escape, statistics)], rows))
    return "".join(parts)


def _stress(m: dict) -> str:
    items = [
        ("1 Objectives", "Compare reinduction strategies for first relapse of childhood B-ALL: toxicity, MRD, HSCT, relapse, EFS and OS."),
        ("2 Logic", "Patient-level discrete-event simulation (SimPy): reinduction, toxicity, MRD, COG risk assignment, "
                    "allocation, consolidation, HSCT, relapse, salvage, death; see the package's phase modules."),
        ("3 Data", "Calibration inputs: AALL1331 and companion publications (sim/data/targets.csv lists every target)."),
        ("4 Experimentation", f"{_plural(m['replications'], 'replication')}; seed {m['seed']}; common random numbers across strategies; "
                              f"parameter mode {m.get('parameter_mode')}; sweep design {m.get('sweep_design') or 'none'}."),
        ("5 Implementation", f"relapse-sim {m['package_version']}, Python {m.get('python')}, {m.get('machine')}; "
                             f"executor {m.get('executor')} with {_plural(int(m.get('workers') or 0), 'worker')}; "
                             f"run time {m['elapsed_seconds']} s."),
        ("6 Code access", f"Scenario {m['scenario_file']} (SHA-256 {m['scenario_sha256']}); command line: "
                          f"{' '.join(m.get('command_line', []))}."),
    ]
    rows = "".join(f"<tr><td class=label>{html.escape(k)}</td><td class=text style='text-align:left; "
                   f"overflow-wrap:anywhere'>{html.escape(str(v))}</td></tr>" for k, v in items)
    return f"<table>{rows}</table><p class='note'>Report made on {html.escape(platform.node() or 'this machine')}.</p>"
