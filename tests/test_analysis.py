"""The notebook analysis API, the HTML report, and the notebooks themselves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from sim.analysis import (  # noqa: E402
    RunError,
    arm_survival,
    cumulative_incidence,
    flow,
    kaplan_meier,
    open_run,
    plot_arms,
    plot_differences,
    plot_flow,
    plot_survival,
    plot_tornado,
    rmst,
    toxicity,
)
from sim.analysis.summary import MEASURE_LABELS, MEASURES, measure_label  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIMULATE = Path(sys.executable).parent / "simulate"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("analysis")
    scenario = tmp / "small.toml"
    scenario.write_text(f'extends = "{ROOT / "scenarios" / "mitcl.toml"}"\n[cohort]\nn_patients = 80\n')
    result = subprocess.run([str(SIMULATE), str(scenario), "--reps", "4", "--seed", "9", "--out", str(tmp / "run"),
                             "--workers", "1", "--quiet"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return tmp / "run"


# Six patients in two replications, worked by hand:
#   replication 0: death on day 2, censored on day 3, death on day 5
#   replication 1: death on day 1, death on day 4, censored on day 6
# Pooled (6 at risk): S = 5/6 from day 1, x 4/5 = 2/3 from day 2, (day 3 censored),
# x 2/3 = 4/9 from day 4 (3 at risk), x 1/2 = 2/9 from day 5 (2 at risk).
# Replication 0: 1, 2/3 from day 2, 0 from day 5. Replication 1: 1, 2/3 from day 1, 1/3 from day 4.
HAND_PATIENTS = pd.DataFrame({
    "strategy": "s", "replication": [0, 0, 0, 1, 1, 1],
    "os_days": [2.0, 3.0, 5.0, 1.0, 4.0, 6.0], "os_event": [True, False, True, True, True, False],
})
HAND_CURVES = [  # (from day, pooled, replication 0, replication 1)
    (0.0, 1.0, 1.0, 1.0),
    (1.0, 5 / 6, 1.0, 2 / 3),
    (2.0, 2 / 3, 2 / 3, 2 / 3),
    (4.0, 4 / 9, 2 / 3, 1 / 3),
    (5.0, 2 / 9, 0.0, 1 / 3),
]


def _hand(days: np.ndarray, column: int) -> np.ndarray:
    starts = np.array([row[0] for row in HAND_CURVES])
    return np.array([row[column] for row in HAND_CURVES])[np.searchsorted(starts, days, side="right") - 1]


def test_kaplan_meier_matches_a_hand_computed_case() -> None:
    table = kaplan_meier(HAND_PATIENTS, "os")
    days = table["time_days"].to_numpy()
    assert days[0] == 0.0 and days[-1] == 6.0
    np.testing.assert_allclose(table["survival"], _hand(days, 1), atol=1e-12)
    rep0, rep1 = _hand(days, 2), _hand(days, 3)
    np.testing.assert_allclose(table["mc_se"], np.abs(rep0 - rep1) / 2, atol=1e-12)  # sd of two / sqrt(2)
    np.testing.assert_allclose(table["band_low"], np.minimum(rep0, rep1) + 0.025 * np.abs(rep0 - rep1), atol=1e-12)
    np.testing.assert_allclose(table["band_high"], np.maximum(rep0, rep1) - 0.025 * np.abs(rep0 - rep1), atol=1e-12)


def test_pooled_curve_lies_inside_the_band(run_dir: Path) -> None:
    table = open_run(run_dir).survival("os").table
    assert (table["band_low"] <= table["survival"] + 1e-12).all()
    assert (table["survival"] <= table["band_high"] + 1e-12).all()


def test_flow_counts_match_the_patients_table(run_dir: Path) -> None:
    run = open_run(run_dir)
    table = run.flow().set_index(["strategy", "step"])["patients"]
    for strategy, frame in run.patients.groupby("strategy"):
        assert table[(strategy, "enrolled")] == len(frame)
        assert table[(strategy, "died in reinduction")] == frame["block1_death"].sum()
        assert table[(strategy, "risk-assigned")] == frame["risk_group"].notna().sum()
        assert table[(strategy, "HSCT")] == frame["hsct"].sum()
        assert (table[(strategy, "died in reinduction")] + table[(strategy, "treatment failure")]
                + table[(strategy, "not risk-assigned")] + table[(strategy, "risk-assigned")]) <= len(frame)


def test_other_analyses_return_tidy_tables(run_dir: Path) -> None:
    run = open_run(run_dir)
    incidence = cumulative_incidence(run.patients)
    assert set(incidence["cause"]) == {"relapse or failure", "death in remission"}
    assert incidence["incidence"].between(0, 1).all()
    values = rmst(run.patients, years=4).set_index("group")["rmst_days"]
    summary = run.summary
    from_summary = summary[(summary["subgroup"] == "all") & (summary["measure"] == "rmst_os_4y_days")
                           & (summary["comparison"] == "value")].set_index("strategy")["mean"]
    # pooled RMST and the mean of per-replication RMSTs estimate the same quantity
    values = values.reindex(from_summary.index).to_numpy()
    assert (abs(values - from_summary.to_numpy()) < 0.05 * from_summary.to_numpy()).all()
    tox = toxicity(run.patients, "age_years")  # any column works as a subgroup
    assert {"strategy", "toxicity", "rate", "mc_se"} <= set(tox.columns)
    assert set(run.differences()["strategy"]) == {"mitcl", "r3_chemo"}


@pytest.mark.parametrize("everyone", ["died", "censored"])
def test_curves_of_all_dead_or_all_censored_cohorts_are_drawn(everyone: str) -> None:
    patients = pd.DataFrame({
        "strategy": "s", "replication": np.repeat([0, 1], 5), "os_days": np.linspace(10, 100, 10),
        "os_event": everyone == "died", "efs_days": np.linspace(10, 100, 10), "efs_event": everyone == "died",
        "efs_event_type": "death" if everyone == "died" else None,
    })
    table = kaplan_meier(patients, "os")
    assert table["survival"].iloc[-1] == (0.0 if everyone == "died" else 1.0)
    plot_survival(table, "os")
    assert set(cumulative_incidence(patients)["cause"]) == {"relapse or failure", "death in remission"}
    plot_survival(kaplan_meier(patients.iloc[0:0], "os"), "os")  # no patients at all: an empty plot


def test_flow_plot_and_report(run_dir: Path, tmp_path: Path) -> None:
    plot_flow(flow(open_run(run_dir).patients))
    out = tmp_path / "report.html"
    result = subprocess.run([str(SIMULATE), "report", str(run_dir), "--out", str(out)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert text.count("data:image/png;base64,") >= 4
    assert "http://" not in text and "https://" not in text  # self-contained
    for section in ("Patient flow", "Survival", "Outcomes and paired differences", "Toxicity of reinduction",
                    "Reproducibility (STRESS-DES)", "SHA-256"):
        assert section in text
    # readable measures with units, the reference named, no internal codes as row labels
    assert "4-year OS (%)" in text and "Restricted mean survival to 4 years (days)" in text
    assert ">os_4y<" not in text and ">mrd_negative_remission<" not in text
    assert "mitcl &minus; r3_blina" in text and "reference strategy, <b>r3_blina</b>" in text
    # the survival bands are described as the spread of one trial-sized cohort, as in README
    assert "the spread one trial-sized cohort would show" in text and "Monte Carlo band" not in text
    # flow and toxicity columns in the scenario's order; toxicity in % with intervals
    toxicity_html = text[text.index("Toxicity of reinduction"):text.index("Who does well")]
    assert toxicity_html.index(">r3_blina<") < toxicity_html.index(">mitcl<") < toxicity_html.index(">r3_chemo<")
    assert re.search(r"<td>\d+\.\d \[\d+\.\d, \d+\.\d\]</td>", toxicity_html)
    assert "<div class='scroll'><table>" in text  # wide tables scroll inside their box


def _labels_inside(figure) -> None:
    """Every axes, with its tick labels, axis labels and title, lies inside the figure: nothing is cut."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    frame = figure.bbox
    for ax in figure.axes:
        box = ax.get_tightbbox(renderer)
        assert box.x0 >= frame.x0 - 1 and box.x1 <= frame.x1 + 1, (ax.get_xlabel(), box, frame)
        assert box.y0 >= frame.y0 - 1 and box.y1 <= frame.y1 + 1, (ax.get_xlabel(), box, frame)


def test_figures_keep_their_labels_inside_and_name_the_reference(run_dir: Path) -> None:
    run = open_run(run_dir)
    differences = run.differences()
    figure = plot_differences(differences)
    _labels_inside(figure)
    assert "difference from r3_blina, percentage points" in figure.axes[0].get_xlabel()
    ticks = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert "4-year OS" in ticks and "os_4y" not in ticks
    # every difference measure, days included: days get their own panel
    figure = plot_differences(differences, measures=["os_4y", "rmst_os_4y_days"])
    assert [ax.get_xlabel() for ax in figure.axes] == ["difference from r3_blina, percentage points",
                                                       "difference from r3_blina, days"]
    _labels_inside(figure)
    _labels_inside(plot_flow(run.flow()))
    _labels_inside(run.survival("os").plot())
    table = pd.DataFrame({"strategy": ["mitcl"] * 2, "parameter": ["reinduction.mitcl.toxic_death_prob.*",
                                                                   "hsct.trm_prob"],
                          "at_low": [-0.1, -0.12], "at_high": [-0.2, -0.15], "central": [-0.15] * 2,
                          "swing": [0.1, 0.03]})
    figure = plot_tornado(table, "efs_4y", reference="r3_blina")
    _labels_inside(figure)
    assert figure.axes[0].get_xlabel() == "4-year EFS: mitcl minus r3_blina, percentage points"
    # the bars are drawn in percentage points
    assert min(min(p.get_x(), p.get_x() + p.get_width()) for p in figure.axes[0].patches) == pytest.approx(-20.0)


def test_flow_follows_the_scenario_order(run_dir: Path) -> None:
    run = open_run(run_dir)
    assert list(dict.fromkeys(run.flow()["strategy"])) == run.strategies == ["r3_blina", "mitcl", "r3_chemo"]


def test_toxicity_intervals_surround_the_rate(run_dir: Path) -> None:
    tox = toxicity(open_run(run_dir).patients, "strategy")
    assert (tox["ci_low"] <= tox["rate"]).all() and (tox["rate"] <= tox["ci_high"]).all()
    np.testing.assert_allclose(tox["ci_high"] - tox["rate"], 1.959963984540054 * tox["mc_se"])


def test_every_measure_has_a_readable_label_with_its_unit() -> None:
    assert set(MEASURE_LABELS) == set(MEASURES)
    assert measure_label("os_4y") == "4-year OS (%)"
    assert measure_label("os_4y", difference=True) == "4-year OS (percentage points)"
    assert measure_label("rmst_os_4y_days", difference=True) == "Restricted mean survival to 4 years (days)"
    assert measure_label("unknown_measure") == "unknown_measure"


def test_arm_curves_run_from_randomisation() -> None:
    arms = ["A_chemo", "B_blinatumomab", "C_chemo", "D_blinatumomab"]
    patients = pd.DataFrame({
        "strategy": "aall1331", "replication": np.tile([0, 1], 6), "arm": arms * 2 + [None] * 4,
        "randomized": [True] * 8 + [False] * 4, "eob1_day": 30.0,
        "efs_days": np.linspace(100, 1200, 12), "efs_event": True,
        "os_days": np.linspace(100, 1200, 12), "os_event": False,
    })
    table = arm_survival(patients, "efs")
    assert set(table["group"]) == {"A: chemotherapy", "B: blinatumomab", "C: chemotherapy", "D: blinatumomab"}
    a = table[table["arm"] == "A_chemo"]
    first_event = patients.loc[patients["arm"] == "A_chemo", "efs_days"].min() - 30.0
    assert a.loc[a["time_days"] < first_event, "survival"].eq(1.0).all()
    assert a.loc[a["time_days"] >= first_event, "survival"].lt(1.0).all()
    figure = plot_arms(patients, "efs")
    assert [ax.get_title() for ax in figure.axes] == ["HR/IR: A vs B", "LR: C vs D"]
    assert figure.axes[0].get_xlabel() == "years from randomisation"
    _labels_inside(figure)


def test_open_run_errors_name_what_is_missing(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RunError, match="manifest.json missing"):
        open_run(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    shutil.rmtree(copy / "summary")
    with pytest.raises(RunError, match="missing summary"):
        open_run(copy)
    shutil.copytree(run_dir / "summary", copy / "summary")
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "package_version": "9.9.0"}))
    with pytest.raises(RunError, match="written by relapse-sim 9.9.0"):
        open_run(copy)
    result = subprocess.run([str(SIMULATE), "report", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "manifest.json missing" in result.stderr


@pytest.mark.parametrize("notebook", ["compare_strategies", "calibration", "sensitivity"])
def test_notebook_executes_top_to_bottom(notebook: str, tmp_path: Path, monkeypatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("SIM_NOTEBOOK_REPS", "2")
    monkeypatch.setenv("SIM_NOTEBOOK_OUT", str(tmp_path))
    book = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4)
    NotebookClient(book, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # it drew figures


def test_report_of_one_replication_says_why_there_is_no_interval(tmp_path: Path) -> None:
    from sim.analysis.report import build_report

    scenario = tmp_path / "one.toml"
    scenario.write_text(f'extends = "{ROOT / "scenarios" / "mitcl.toml"}"\n[cohort]\nn_patients = 20\n')
    result = subprocess.run([str(SIMULATE), str(scenario), "--reps", "1", "--seed", "2", "--out", str(tmp_path / "run"),
                             "--workers", "1", "--quiet"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    text = build_report(open_run(tmp_path / "run"))
    assert "One replication: no Monte Carlo interval can be computed" in text
    assert not re.search(r"\bnan\b", text, flags=re.IGNORECASE)
    assert "1 replication of 20 patients" in text
