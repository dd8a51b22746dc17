"""The HTML report of a trial-design run (``simulate report RUN_DIR`` on a trial run).

One self-contained page: the design, the operating characteristics by kind
of trial (with Monte Carlo SEs), the z paths with their boundaries, the
estimate against the true effect, the power curve of a sample-size search,
and the run's provenance (seed, version, scenario hash, command line).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from sim.analysis.report import STYLE, _figure  # noqa: E402
from sim.execution.output import MANIFEST, OutputError  # noqa: E402
from sim.trial.plots import plot_estimate_vs_truth, plot_power_curve, plot_z_paths  # noqa: E402
from sim.trial.run import DATASET  # noqa: E402


def is_trial_run(run_dir: Path) -> bool:
    return (run_dir / DATASET).is_dir()


def write_trial_report(run_dir: Path, out: Path) -> Path:
    """Write the report of the trial run in ``run_dir`` to ``out``; return ``out``."""
    if not (run_dir / MANIFEST).exists():
        raise OutputError(f"{run_dir}: {MANIFEST} missing: the trial run did not finish; Suggestion: --resume it")
    import matplotlib.pyplot as plt

    manifest = json.loads((run_dir / MANIFEST).read_text())
    looks = pd.read_parquet(run_dir / DATASET)
    summary = pd.read_parquet(run_dir / "trial_summary")
    table = summary.pivot_table(index=["comparison", "statistic"], columns="kind", values="value").round(4)
    figures = []
    for kind in [k for k in ("alternative", "null", "assurance") if k in set(looks["kind"])]:
        figure, axes = plt.subplots(1, 2, figsize=(12, 4))
        plot_z_paths(looks, kind, ax=axes[0])
        if kind != "null":
            plot_estimate_vs_truth(looks, kind, ax=axes[1])
        else:
            axes[1].set_axis_off()
        figure.tight_layout()
        figures.append(f"<h3>{html.escape(kind)} trials</h3>{_figure(figure)}")
    curve = ""
    if (run_dir / "power_curve").exists():
        figure, ax = plt.subplots(figsize=(6, 4))
        plot_power_curve(pd.read_parquet(run_dir / "power_curve"), ax=ax)
        curve = f"<h2>Power by sample size</h2>{_figure(figure)}"
    design = html.escape(json.dumps(manifest.get("trial", {}), indent=1))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(manifest['scenario'])} trial</title>
<style>{STYLE}</style></head><body>
<h1>Trial design: {html.escape(manifest['scenario'])}</h1>
<p class="note">{manifest['trials']} simulated trials (and as many null trials), {manifest['assurance_trials']}
assurance trials; eligible share of relapses {manifest['eligible_share']:.1%}.</p>
<h2>Operating characteristics</h2>{table.to_html()}
<h2>z paths, boundaries, and estimates against the truth</h2>{''.join(figures)}
{curve}
<h2>Design</h2><pre>{design}</pre>
<h2>Reproducibility</h2><p>seed {manifest['seed']}, relapse-sim {html.escape(manifest['package_version'])},
scenario SHA-256 {manifest['scenario_sha256']}, command <code>{html.escape(' '.join(manifest['command_line']))}</code>,
{manifest['elapsed_seconds']} s on {html.escape(manifest['machine'])}, Python {manifest['python']}.</p>
</body></html>"""
    out.write_text(page, encoding="utf-8")
    return out
