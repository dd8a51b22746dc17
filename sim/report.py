"""One self-contained HTML report of a run or sweep (``simulate report RUN_DIR``).

Figures are embedded as PNG data, so the page needs no network. Sections: the
question and the scenario's assumptions, patient flow, survival curves with
Monte Carlo bands, toxicity and outcome tables with intervals, strategy
differences, sweep results when present, and a reproducibility section laid
out along the STRESS-DES reporting items for discrete-event simulation
(objectives, logic, data, experimentation, implementation, code access).
"""

from __future__ import annotations

import base64
import html
import io
import platform
from pathlib import Path

import pandas as pd

from .analysis import (
    FLOW_STEPS,
    Run,
    flow,
    kaplan_meier,
    plot_differences,
    plot_flow,
    plot_survival,
    plot_tornado,
    tornado,
    toxicity,
)
from .summary import MEASURES

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: .85em; margin: .8em 0; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; } th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: .8em; }
.note { color: #555; font-size: .9em; }
"""


def _figure(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _interval_table(summary: pd.DataFrame, strategies: list[str], reference: str) -> str:
    overall = summary[summary["subgroup"] == "all"]
    header = "".join(f"<th>{html.escape(s)}</th>" + (f"<th>{html.escape(s)} &minus; {html.escape(reference)}</th>"
                     if s != reference else "") for s in strategies)
    rows = []
    for measure, label in MEASURES.items():
        table = overall[overall["measure"] == measure].set_index(["strategy", "comparison"])
        scale, digits = (1.0, 0) if measure.endswith("days") else (100.0, 1)
        cells = []
        for strategy in strategies:
            for comparison in ("value", "difference"):
                if (strategy, comparison) in table.index:
                    r = table.loc[(strategy, comparison)]
                    cells.append(f"<td>{r['mean'] * scale:.{digits}f} [{r['ci_low'] * scale:.{digits}f}, "
                                 f"{r['ci_high'] * scale:.{digits}f}]</td>")
        unit = "" if measure.endswith("days") else " (%)"
        rows.append(f"<tr><td>{html.escape(label)}{unit}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th>outcome</th>{header}</tr>{''.join(rows)}</table>"


def _assumptions(manifest: dict) -> str:
    parts = []
    for name, text in manifest.get("scenario_sources", {}).items():
        parts.append(f"<h3>{html.escape(name)}</h3><pre>{html.escape(text)}</pre>")
    return "".join(parts)


def build_report(run: Run) -> str:
    """The report's HTML text."""
    import matplotlib

    matplotlib.use("Agg")
    m = run.manifest
    body = [f"<h1>{html.escape(m['scenario'])}: simulated treatment pathways in first relapse of B-ALL</h1>",
            f"<p class='note'>{m['replications']} replications of {m['n_patients']} patients; "
            f"strategies: {html.escape(', '.join(run.strategies))}; reference: {html.escape(run.reference)}.</p>"]
    if run.is_sweep:
        body.append("<h2>Sweep</h2>" + _sweep_section(run))
    else:
        patients = run.patients
        body += [
            "<h2>Patient flow</h2>", _figure(plot_flow(flow(patients))),
            flow(patients).pivot(index="step", columns="strategy", values="per_replication").round(1)
            .reindex([step for step, _ in FLOW_STEPS]).to_html(),
            "<h2>Survival</h2>",
            _figure(plot_survival(kaplan_meier(patients, "os"), "os")),
            _figure(plot_survival(kaplan_meier(patients, "efs"), "efs")),
            "<p class='note'>Lines: pooled Kaplan-Meier over all replications. Bands: 2.5th-97.5th percentile of "
            "the per-replication curves (the spread of one trial-sized cohort).</p>",
            "<h2>Strategy differences (paired) and outcomes</h2>",
            "<p class='note'>Mean [Monte Carlo 95% interval] over replications; differences are paired within "
            "replications (common random numbers).</p>",
            _interval_table(run.summary, run.strategies, run.reference),
        ]
        differences = run.differences()
        if len(differences):
            body.append(_figure(plot_differences(differences)))
        body += ["<h2>Toxicity of reinduction by relapse group</h2>",
                 toxicity(patients, "relapse_group").round(3).to_html(index=False)]
        body += ["<h2>Who does well: EFS and OS by subgroup</h2>", _subgroup_section(patients)]
    body += ["<h2>Scenario and assumptions</h2>",
             "<p class='note'>The scenario files as run (every parameter names its evidence row or states an "
             "assumption with its range).</p>", _assumptions(m),
             "<h2>Reproducibility (STRESS-DES)</h2>", _stress(m)]
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(m['scenario'])}"
            f"</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>")


def _subgroup_section(patients: pd.DataFrame) -> str:
    """Subgroup views (``sim.subgroups``), and the time-to-relapse gradient next to Rheingold 2024."""
    from .subgroups import gradient_check, subgroup_views

    parts = ["<p class='note'>Kaplan-Meier from enrolment in each replication; mean over replications "
             "(Monte Carlo SE in brackets). The gradient by time to first relapse is set against Rheingold 2024 "
             "5-year OS (an earlier era: a prior for the gradient, not a target).</p>"]
    gradient = gradient_check(patients).round(3)
    parts.append(gradient.to_html(index=False))
    for name, view in subgroup_views(patients).items():
        view = view.assign(value=[f"{m:.3f} ({se:.3f})" for m, se in zip(view["mean"], view["mc_se"])])
        wide = view.pivot_table(index=["strategy", "cell"], columns=["endpoint", "years"], values="value",
                                aggfunc="first")
        parts += [f"<h3>By {html.escape(name)}</h3>", wide.to_html()]
    return "".join(parts)


def _sweep_section(run: Run) -> str:
    design = run.manifest["sweep_design"]
    parts = [f"<p>Design: {html.escape(design)}, {run.manifest['points']} points.</p>",
             run.dataset("points").to_html(index=False)]
    sensitivity = run.dataset("sensitivity")
    if design == "one_way":
        for outcome in sorted(sensitivity["outcome"].unique()):
            table = tornado(run, outcome)
            parts.append(f"<h3>{html.escape(outcome)}</h3>" + _figure(plot_tornado(table, outcome)))
    parts.append(sensitivity.round(4).to_html(index=False))
    return "".join(parts)


def _stress(m: dict) -> str:
    items = [
        ("1 Objectives", "Compare reinduction strategies for first relapse of childhood B-ALL: toxicity, MRD, HSCT, relapse, EFS and OS."),
        ("2 Logic", "Patient-level discrete-event simulation (SimPy): reinduction, toxicity, MRD, COG risk assignment, "
                    "allocation, consolidation, HSCT, relapse, salvage, death; see the package's phase modules."),
        ("3 Data", "Calibration inputs: AALL1331 and companion publications (sim/data/targets.csv lists every target)."),
        ("4 Experimentation", f"{m['replications']} replications; seed {m['seed']}; common random numbers across strategies; "
                              f"parameter mode {m.get('parameter_mode')}; sweep design {m.get('sweep_design') or 'none'}."),
        ("5 Implementation", f"relapse-sim {m['package_version']}, Python {m.get('python')}, {m.get('machine')}; "
                             f"executor {m.get('executor')} with {m.get('workers')} workers; run time {m['elapsed_seconds']} s."),
        ("6 Code access", f"Scenario {m['scenario_file']} (SHA-256 {m['scenario_sha256']}); command line: "
                          f"{' '.join(m.get('command_line', []))}."),
    ]
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td style='text-align:left'>{html.escape(str(v))}</td></tr>" for k, v in items)
    return f"<table>{rows}</table><p class='note'>Report made on {html.escape(platform.node() or 'this machine')}.</p>"


def write_report(run: Run, out: Path) -> Path:
    from .output import write_text_file

    write_text_file(out, build_report(run))
    return out
