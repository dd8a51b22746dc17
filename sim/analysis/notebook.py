"""Analysis for notebooks: open a run in one call, then one call per common analysis.

    from sim.analysis import open_run
    run = open_run("outputs/mitcl/20261121-101500")
    run.survival("os").plot()          # Kaplan-Meier by strategy, band: spread of one trial-sized cohort
    run.economics(); run.ceac(); run.evpi(); run.evppi({"costs": ["economics.unit_costs.*"]})  # with [economics]

Every function returns a tidy DataFrame; ``plot_*`` functions return a
matplotlib Figure. Kaplan-Meier curves and restricted mean survival come
from the package's grouped estimator (``sim.analysis.km``, checked against lifelines);
competing risks from lifelines (``AalenJohansenFitter``). The pooled estimate uses
all replications' patients together. The band around a curve is the
2.5th-97.5th percentile of the per-replication curves: the spread one
trial-sized cohort would show, not a Monte Carlo interval of the pooled
curve (that one is far narrower: its standard error, ``mc_se``, is the
per-replication standard deviation over sqrt(R)).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from sim import __version__
from sim.analysis.km import Z95, restricted_mean, survival_at
from sim.analysis.summary import MEASURE_LABELS, measure_scale
from sim.clinical import YEAR_DAYS

ENDPOINTS = {"os": ("os_days", "os_event", "Overall survival"), "efs": ("efs_days", "efs_event", "Event-free survival")}
REQUIRED = ("manifest.json", "patients", "summary")


def read_dataset(path: Path) -> pd.DataFrame:
    """A Parquet dataset as a DataFrame with plain string columns.

    The files store labels (strategy, arm, event, ...) dictionary-encoded,
    which ``pd.read_parquet`` returns as categoricals; decoding them here
    keeps groupby and fillna behaving as on plain strings.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, pa.ArrowIOError) as exc:  # a damaged or foreign file among the parts
        raise RunError(f"{path}: cannot be read as a Parquet dataset ({exc.__class__.__name__}: {exc}); "
                       "Suggestion: rerun the scenario, or --resume the run after deleting the damaged part") from None
    for k, column in enumerate(table.schema):
        if pa.types.is_dictionary(column.type):
            table = table.set_column(k, column.name, table.column(k).cast(column.type.value_type))
    return table.to_pandas()


class RunError(Exception):
    """A directory that cannot be opened as a run; ``str()`` says what is missing."""


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


@dataclass
class Run:
    """A run directory: its manifest and datasets, read on first use."""

    path: Path
    manifest: dict = field(repr=False)

    @property
    def strategies(self) -> list[str]:
        return list(self.manifest["strategies"])

    @property
    def reference(self) -> str:
        return self.manifest.get("reference") or self.strategies[0]

    @property
    def is_sweep(self) -> bool:
        return bool(self.manifest.get("sweep_design"))

    def dataset(self, name: str) -> pd.DataFrame:
        path = self.path / name
        if not path.exists():
            why = ""
            if self.is_sweep and name in ("patients", "events"):
                why = " (a sweep keeps only the outcome measures)"
            elif name == "events" and self.manifest.get("events") is False:
                why = " (it was run with --no-events)"
            raise RunError(f"{self.path}: this run has no '{name}' dataset{why}")
        return read_dataset(path)

    @cached_property
    def patients(self) -> pd.DataFrame:
        return self.dataset("patients")

    @cached_property
    def events(self) -> pd.DataFrame:
        return self.dataset("events")

    @cached_property
    def summary(self) -> pd.DataFrame:
        return self.dataset("summary")

    # one call per analysis ------------------------------------------------
    def survival(self, endpoint: str = "os", by: str = "strategy") -> "Curves":
        return Curves(kaplan_meier(self.patients, endpoint, by), endpoint, by,
                      self.strategies if by == "strategy" else None)

    def flow(self) -> pd.DataFrame:
        return flow(self.patients, self.strategies)

    def toxicity(self, by: str = "relapse_group") -> pd.DataFrame:
        return toxicity(self.patients, by)

    def subgroups(self) -> dict[str, pd.DataFrame]:
        """EFS/OS by relapse group, time to relapse, risk group x randomisation and MRD band."""
        from sim.analysis.subgroups import subgroup_views

        return subgroup_views(self.patients)

    def gradient(self) -> pd.DataFrame:
        """Simulated 5-year OS by time to first relapse next to Rheingold 2024."""
        from sim.analysis.subgroups import gradient_check

        return gradient_check(self.patients)

    def differences(self, subgroup: str = "all") -> pd.DataFrame:
        """Paired differences from the reference strategy (named in ``.attrs["reference"]``)."""
        table = self.summary
        table = table[(table["subgroup"] == subgroup) & (table["comparison"] == "difference")].reset_index(drop=True)
        table.attrs["reference"] = self.reference
        table.attrs["strategies"] = self.strategies
        return table


    # costs and QALYs (runs of a scenario with an [economics] table; sim.analysis.economics) ---------
    def _economics_settings(self) -> dict:
        settings = self.manifest.get("economics")
        if not settings:
            raise RunError(f"{self.path}: this run has no costs or QALYs: its scenario has no [economics] table; "
                           "Suggestion: add one, as in scenarios/economics_example.toml")
        return settings

    @cached_property
    def _draws(self) -> pd.DataFrame:
        from sim.analysis.economics import draws_from

        self._economics_settings()
        return draws_from(pd.read_parquet(self.path / "replication_summary", filters=[
            ("subgroup", "==", "all"), ("measure", "in", ["cost", "qalys", "life_years"])]))

    def _wtp(self, willingness_to_pay: float | None) -> float:
        settings = self._economics_settings()
        return float(settings["willingness_to_pay"] if willingness_to_pay is None else willingness_to_pay)

    def economics(self, willingness_to_pay: float | None = None) -> pd.DataFrame:
        """Per strategy: discounted cost, life-years, QALYs and net benefit with 95% intervals,
        increments over the reference, and the ICER with its bootstrap interval."""
        from sim.analysis.economics import cost_effectiveness

        if willingness_to_pay is None:
            self._economics_settings()
            return self.dataset("economics")
        return cost_effectiveness(self._draws, self.strategies, self.reference, self._wtp(willingness_to_pay),
                                  self.manifest["seed"])

    def ceac(self, willingness_to_pay=None) -> pd.DataFrame:
        """Cost-effectiveness acceptability curve (long: willingness_to_pay, strategy, probability);
        the run's grid, or the values given."""
        from sim.analysis.economics import ceac

        if willingness_to_pay is None:
            self._economics_settings()
            return self.dataset("ceac")
        return ceac(self._draws, self.strategies, np.atleast_1d(willingness_to_pay))

    def evpi(self, willingness_to_pay: float | None = None) -> float:
        """Expected value of perfect information per patient, at the scenario's (or the given) WTP."""
        from sim.analysis.economics import evpi

        return evpi(self._draws, self.strategies, self._wtp(willingness_to_pay))

    def evppi(self, groups: dict[str, list[str]] | None = None, willingness_to_pay: float | None = None) -> pd.DataFrame:
        """EVPPI per parameter group (name -> paths or glob patterns; default one group per
        parameter table), by Gaussian-process regression; needs a sampled sweep (e.g. ``psa``)."""
        from sim.analysis.economics import default_groups, evppi, parameter_draws

        if not self.is_sweep or self.manifest.get("sweep_design") in ("grid", "one_way"):
            raise RunError(f"{self.path}: EVPPI needs parameter draws: run a sweep with design = \"psa\"")
        parameters = parameter_draws(self.dataset("points"))
        varied = [c for c in parameters.columns if parameters[c].nunique() > 1]
        return evppi(self._draws, parameters[varied], groups or default_groups(varied), self.strategies,
                     self.reference, self._wtp(willingness_to_pay), self.manifest["seed"])


def plot_ceac(table: pd.DataFrame, currency: str = "", strategies: list[str] | None = None):
    """The acceptability curve: probability each strategy is cost-effective against willingness to pay."""
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    for strategy in strategies or list(dict.fromkeys(table["strategy"])):
        rows = table[table["strategy"] == strategy]
        ax.plot(rows["willingness_to_pay"], rows["probability"], marker=".", label=strategy)
    ax.set_xlabel(f"Willingness to pay per QALY{f' ({currency})' if currency else ''}")
    ax.set_ylabel("Probability cost-effective")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False)
    return figure


def open_run(path: str | Path) -> Run:
    """Open a run (or sweep) directory; a clear error if it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such directory")
    missing = [name for name in REQUIRED if not (path / name).exists()]
    if "manifest.json" in missing:
        raise RunError(f"{path}: not a finished run (manifest.json missing); if it was interrupted, "
                       "Suggestion: simulate SCENARIO --out DIR --resume")
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        manifest = exc
    if not isinstance(manifest, dict):
        reason = f"{manifest.__class__.__name__}: {manifest}" if isinstance(manifest, Exception) else "not a JSON object"
        raise RunError(f"{path}: manifest.json cannot be read ({reason}); Suggestion: rerun the scenario")
    if _major_minor(manifest.get("package_version", "0.0")) != _major_minor(__version__):
        raise RunError(f"{path}: written by relapse-sim {manifest.get('package_version')}, "
                       f"which this version ({__version__}) cannot read; Suggestion: rerun the scenario")
    if manifest.get("sweep_design"):
        missing = [name for name in ("summary", "sensitivity", "points") if not (path / name).exists()]
    if missing:
        raise RunError(f"{path}: the run is missing {', '.join(missing)}")
    return Run(path, manifest)


# --- survival -------------------------------------------------------------

def _grid(days: pd.Series) -> np.ndarray:
    end = float(days.max()) if len(days) else 0.0
    return np.linspace(0.0, max(end, 1.0), 200)


def _km_by_replication(frame: pd.DataFrame, days_column: str, event_column: str, times: np.ndarray):
    """Pooled curve at ``times``, and one curve per replication (rows), from one grouped fit each."""
    durations = frame[days_column].to_numpy(float)
    events = frame[event_column].to_numpy(bool)
    pooled = survival_at(durations, events, times, np.zeros(len(frame), dtype=np.int64), 1)[0]
    codes, replications = pd.factorize(frame["replication"], sort=True)
    return pooled, survival_at(durations, events, times, codes, len(replications))


def kaplan_meier(patients: pd.DataFrame, endpoint: str = "os", by: str = "strategy") -> pd.DataFrame:
    """Pooled Kaplan-Meier and the spread of single replications per group, from enrolment.

    Columns: group, time_days, survival (pooled), band_low and band_high (the
    2.5th and 97.5th percentiles of the per-replication curves: what one
    trial-sized cohort may show), mc_se (of the mean over replications).
    """
    days_column, event_column, _ = ENDPOINTS[endpoint]
    times = _grid(patients[days_column])
    rows = []
    for group, frame in patients.groupby(by, dropna=False, sort=True):
        pooled, per_rep = _km_by_replication(frame, days_column, event_column, times)
        n = len(per_rep)
        low, high = np.nanpercentile(per_rep, [2.5, 97.5], axis=0) if n else (pooled, pooled)
        se = np.nanstd(per_rep, axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.full(len(times), np.nan)
        rows.append(pd.DataFrame({"group": str(group), "time_days": times, "survival": pooled,
                                  "band_low": low, "band_high": high, "mc_se": se}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["group", "time_days", "survival", "band_low", "band_high", "mc_se"])


@dataclass
class Curves:
    table: pd.DataFrame
    endpoint: str
    by: str
    order: list[str] | None = None

    def plot(self, ax=None):
        return plot_survival(self.table, self.endpoint, self.by, ax, order=self.order)


BAND_NOTE = "bands: middle 95% of single replications\n(one trial-sized cohort)"


def plot_survival(table: pd.DataFrame, endpoint: str = "os", by: str = "strategy", ax=None,
                  origin: str = "enrolment", title: str | None = None, order: list[str] | None = None):
    """Kaplan-Meier curves (pooled lines) with the spread of single replications (bands).

    ``order``: the groups' order in the legend and colours (e.g. the scenario's strategies).
    """
    import matplotlib.pyplot as plt

    figure = ax.figure if ax is not None else plt.figure(figsize=(7, 4.5))
    ax = ax or figure.add_subplot()
    present = list(dict.fromkeys(table["group"]))
    groups = [g for g in (order or []) if g in present] + [g for g in present if g not in (order or [])]
    for group in groups:
        curve = table[table["group"] == group]
        years = curve["time_days"] / YEAR_DAYS
        line, = ax.step(years, curve["survival"], where="post", label=group)
        ax.fill_between(years, curve["band_low"], curve["band_high"], step="post", alpha=0.15, color=line.get_color())
    ax.set_xlabel(f"years from {origin}")
    ax.set_ylabel(f"{ENDPOINTS[endpoint][2]} (proportion)")
    ax.set_ylim(0, 1.02)
    ax.set_title(title or f"{ENDPOINTS[endpoint][2]} by {by}")
    if len(table):
        legend = ax.legend(frameon=False, loc="best", title=BAND_NOTE, title_fontsize=8, alignment="left")
        legend.get_title().set_color("#555")
    else:
        ax.text(0.5, 0.5, "no patients", ha="center", va="center", transform=ax.transAxes)
    figure.tight_layout()
    return figure


ARMS = {"A_chemo": "A: chemotherapy", "B_blinatumomab": "B: blinatumomab",
        "C_chemo": "C: chemotherapy", "D_blinatumomab": "D: blinatumomab"}
ARM_PAIRS = (("HR/IR: A vs B", ("A_chemo", "B_blinatumomab")), ("LR: C vs D", ("C_chemo", "D_blinatumomab")))


def arm_survival(patients: pd.DataFrame, endpoint: str = "efs") -> pd.DataFrame:
    """Kaplan-Meier by randomised arm, from randomisation (the end of Block 1), as the trial reports it.

    Only randomised patients; ``group`` is the arm, prefixed by the strategy
    when more than one strategy randomises. Columns as ``kaplan_meier`` plus ``arm``.
    """
    days_column = ENDPOINTS[endpoint][0]
    randomised = patients[patients["randomized"].astype(bool) & patients["arm"].notna()]
    randomised = randomised.assign(**{days_column: randomised[days_column] - randomised["eob1_day"]})
    several = randomised["strategy"].nunique() > 1
    randomised = randomised.assign(arm_group=[f"{s} {a}" if several else a
                                              for s, a in zip(randomised["strategy"], randomised["arm"])])
    table = kaplan_meier(randomised, endpoint, by="arm_group")
    table["arm"] = table["group"].str.split(" ").str[-1]
    table["group"] = [g.replace(a, ARMS.get(a, a)) for g, a in zip(table["group"], table["arm"])]
    return table


def plot_arms(patients: pd.DataFrame, endpoint: str = "efs"):
    """Per-arm curves from randomisation: HR/IR (A vs B) and LR (C vs D) side by side."""
    import matplotlib.pyplot as plt

    table = arm_survival(patients, endpoint)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, (title, arms) in zip(axes, ARM_PAIRS, strict=True):
        plot_survival(table[table["arm"].isin(arms)], endpoint, ax=ax, origin="randomisation", title=title)
    axes[1].set_ylabel("")
    figure.tight_layout()
    return figure


def cumulative_incidence(patients: pd.DataFrame, by: str = "strategy") -> pd.DataFrame:
    """Cumulative incidence of relapse vs death in remission (competing risks, Aalen-Johansen).

    The EFS event decides the cause: relapse or treatment failure (1), death
    without relapse (2); censored patients are censored.
    """
    from lifelines import AalenJohansenFitter

    rows = []
    for group, frame in patients.groupby(by, sort=True):
        kind = frame["efs_event_type"].map({"relapse": 1, "treatment_failure": 1, "death": 2}).fillna(0).astype(int)
        times = _grid(frame["efs_days"])
        for cause, label in ((1, "relapse or failure"), (2, "death in remission")):
            if (kind == cause).any():
                fitter = AalenJohansenFitter(calculate_variance=False).fit(frame["efs_days"], kind, event_of_interest=cause)
                incidence = fitter.cumulative_density_.iloc[:, 0]
                values = np.interp(times, incidence.index.to_numpy(float), incidence.to_numpy(float))
            else:
                values = np.zeros(len(times))
            rows.append(pd.DataFrame({"group": str(group), "cause": label, "time_days": times, "incidence": values}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["group", "cause", "time_days", "incidence"])


def rmst(patients: pd.DataFrame, years: float = 4.0, by: str = "strategy") -> pd.DataFrame:
    """Restricted mean overall survival to ``years``, pooled and per replication (``sim.analysis.km``)."""
    limit = years * YEAR_DAYS
    rows = []
    for group, frame in patients.groupby(by, sort=True):
        durations, events = frame["os_days"].to_numpy(float), frame["os_event"].to_numpy(bool)
        pooled = restricted_mean(durations, events, limit, np.zeros(len(frame), dtype=np.int64), 1)[0]
        codes, replications = pd.factorize(frame["replication"], sort=True)
        per_rep = restricted_mean(durations, events, limit, codes, len(replications))
        rows.append({"group": str(group), "years": years, "rmst_days": float(pooled),
                     "mc_se_days": per_rep.std(ddof=1) / math.sqrt(len(per_rep)) if len(per_rep) > 1 else math.nan})
    return pd.DataFrame(rows)


# --- flow and toxicity -----------------------------------------------------

FLOW_STEPS = (
    ("enrolled", lambda p: pd.Series(True, index=p.index)),
    ("died in reinduction", lambda p: p["block1_death"]),
    ("treatment failure", lambda p: p["early_treatment_failure"]),
    ("not risk-assigned", lambda p: p["not_assigned_reason"].notna()),
    ("risk-assigned", lambda p: p["risk_group"].notna()),
    ("randomised", lambda p: p["randomized"]),
    ("allocated to an arm", lambda p: p["arm"].notna()),
    ("HSCT", lambda p: p["hsct"]),
)


def flow(patients: pd.DataFrame, strategies: list[str] | None = None) -> pd.DataFrame:
    """CONSORT-style counts per strategy: mean patients per replication at each step.

    Strategies in the order given (the scenario's), else as they appear.
    """
    rows = []
    order = strategies or list(dict.fromkeys(patients["strategy"]))
    for strategy in order:
        frame = patients[patients["strategy"] == strategy]
        replications = frame["replication"].nunique()
        for step, select in FLOW_STEPS:
            count = int(select(frame).astype(bool).sum())
            rows.append({"strategy": strategy, "step": step, "patients": count,
                         "per_replication": count / replications if replications else math.nan})
    return pd.DataFrame(rows)


def _count(value: float) -> str:
    return f"{value:,.0f}" if abs(value - round(value)) < 0.05 else f"{value:,.1f}"


def _consort(ax, counts: dict[str, float], strategy: str) -> None:
    """One strategy's flow as CONSORT boxes: the main path down the left, who leaves it on the right."""
    main = dict(boxstyle="round,pad=0.5", fc="#eaf0f8", ec="#4c72b0")
    side = dict(boxstyle="round,pad=0.5", fc="#f7f7f7", ec="#999")
    arrow = dict(arrowstyle="-|>", color="#555", lw=1, shrinkA=0, shrinkB=0)
    left, side_x = 0.22, 0.52  # main boxes centred at left; side boxes start at side_x

    def box(x, y, text, style, ha="center"):
        ax.text(x, y, text, ha=ha, va="center", fontsize=9, bbox=style, multialignment=ha)

    def down(y_from, y_to):
        ax.annotate("", (left, y_to), (left, y_from), arrowprops=arrow)

    def aside(y):
        ax.annotate("", (side_x - 0.04, y), (left, y), arrowprops=arrow)

    left_before = counts["died in reinduction"] + counts["treatment failure"] + counts["not risk-assigned"]
    box(left, 0.93, f"Enrolled\n{_count(counts['enrolled'])}", main)
    box(side_x, 0.71, f"Left before risk\nassignment: {_count(left_before)}\n"
                      f"  died in reinduction {_count(counts['died in reinduction'])}\n"
                      f"  treatment failure {_count(counts['treatment failure'])}\n"
                      f"  not risk-assigned {_count(counts['not risk-assigned'])}", side, ha="left")
    aside(0.71)
    down(0.88, 0.54)
    box(left, 0.49, f"Risk-assigned\n{_count(counts['risk-assigned'])}", main)
    allocated, randomised = counts["allocated to an arm"], counts["randomised"]
    if allocated > 0:
        not_allocated = counts["risk-assigned"] - allocated
        if not_allocated > 0:
            box(side_x, 0.33, f"Not {'randomised' if randomised > 0 else 'allocated'}: {_count(not_allocated)}",
                side, ha="left")
            aside(0.33)
        down(0.44, 0.22)
        box(left, 0.16, f"{'Randomised' if randomised > 0 else 'Allocated to'}\n"
                        f"{'to an arm' if randomised > 0 else 'an arm'}: {_count(allocated)}", main)
    else:
        box(left, 0.2, "No arm allocation\n(the strategy's\nown rule)", side)
        down(0.44, 0.28)
    box(0.5, 0.0, f"HSCT at any point: {_count(counts['HSCT'])}", side)
    ax.set_title(strategy, fontsize=11, fontweight="bold")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.05, 1)
    ax.axis("off")


def plot_flow(table: pd.DataFrame, strategies: list[str] | None = None):
    """CONSORT-style flow, one panel per strategy (mean patients per replication), in the given order."""
    import matplotlib.pyplot as plt

    strategies = strategies or list(dict.fromkeys(table["strategy"]))
    n = max(len(strategies), 1)
    figure, axes = plt.subplots(1, n, figsize=(3.3 * n, 4.6), squeeze=False)
    for ax, strategy in zip(axes[0], strategies, strict=False):
        counts = table[table["strategy"] == strategy].set_index("step")["per_replication"].to_dict()
        _consort(ax, counts, strategy)
    figure.text(0.5, 0.005, "mean patients per replication", ha="center", fontsize=8, color="#555")
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    return figure


TOXICITY = {
    "grade 3+": lambda p: p["block1_max_grade"] >= 3,
    "grade 4+": lambda p: p["block1_max_grade"] >= 4,
    "infection 3+": lambda p: p["block1_infection_grade"] >= 3,
    "sepsis 3+": lambda p: p["block1_sepsis_grade"] >= 3,
    "febrile neutropenia 3+": lambda p: p["block1_febrile_neutropenia_grade"] >= 3,
    "reinduction death": lambda p: p["block1_death"].astype(bool),
}


def toxicity(patients: pd.DataFrame, by: str = "relapse_group") -> pd.DataFrame:
    """Reinduction toxicity rates per strategy and subgroup over replications.

    ``rate`` is a proportion; ``mc_se`` its Monte Carlo SE; ``ci_low`` and
    ``ci_high`` the Monte Carlo 95% interval (rate +/- 1.96 mc_se).
    """
    rows = []
    keys = ["strategy", by] if by != "strategy" else ["strategy"]
    for key, frame in patients.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for name, select in TOXICITY.items():
            per_rep = select(frame).astype(float).groupby(frame["replication"]).mean()
            rate = float(per_rep.mean())
            se = float(per_rep.std(ddof=1) / math.sqrt(len(per_rep))) if len(per_rep) > 1 else math.nan
            rows.append({**dict(zip(keys, key, strict=True)), "toxicity": name, "rate": rate, "mc_se": se,
                         "ci_low": rate - Z95 * se, "ci_high": rate + Z95 * se})
    return pd.DataFrame(rows)


# --- comparisons and sweeps -------------------------------------------------

DIFFERENCE_MEASURES = ["reinduction_death", "mrd_negative_remission", "hsct", "relapse", "efs_4y", "os_4y"]


def plot_differences(differences: pd.DataFrame, measures: list[str] | None = None, reference: str | None = None):
    """A forest plot of paired differences from the reference, with Monte Carlo 95% intervals.

    One row per measure, one colour per strategy; measures in days get their
    own panel. The reference is taken from ``differences.attrs`` when not given.
    """
    import matplotlib.pyplot as plt

    reference = reference or differences.attrs.get("reference", "the reference")
    every = list(differences.attrs.get("strategies", []))  # colours as in the survival curves: by scenario order
    measures = measures or DIFFERENCE_MEASURES
    rows = differences[differences["measure"].isin(measures)]
    strategies = list(dict.fromkeys(rows["strategy"]))
    panels = [(unit, [m for m in measures if MEASURE_LABELS.get(m, ("", "%"))[1] == unit and m in set(rows["measure"])])
              for unit in ("%", "days")]
    panels = [(unit, names) for unit, names in panels if names] or [("%", [])]
    heights = [max(len(names), 1) for _, names in panels]
    figure, axes = plt.subplots(len(panels), 1, figsize=(7.5, 0.5 * sum(heights) * max(len(strategies), 1) ** 0.5 + 2.2),
                                squeeze=False, gridspec_kw={"height_ratios": heights})
    step = 0.6 / max(len(strategies), 1)
    for ax, (unit, names) in zip(axes[:, 0], panels, strict=True):
        for k, strategy in enumerate(strategies):
            chosen = rows[rows["strategy"] == strategy].set_index("measure").reindex(names)
            scale = 100.0 if unit == "%" else 1.0
            y = np.arange(len(names))[::-1] + (k - (len(strategies) - 1) / 2) * step
            mean, low, high = (scale * chosen[c].to_numpy(float) for c in ("mean", "ci_low", "ci_high"))
            ax.errorbar(mean, y, xerr=np.vstack([mean - low, high - mean]),
                        fmt="o", ms=4, capsize=5, elinewidth=2, capthick=2, label=strategy,
                        color=f"C{every.index(strategy) if strategy in every else k}")
        ax.axvline(0, color="grey", lw=1)
        ax.set_yticks(np.arange(len(names))[::-1], [MEASURE_LABELS.get(m, (m, ""))[0] for m in names])
        ax.set_xlabel(f"difference from {reference}, {'percentage points' if unit == '%' else 'days'}")
        ax.grid(axis="x", color="#eee")
    if len(strategies) > 1:
        axes[0, 0].legend(frameon=False, loc="best")
    axes[0, 0].set_title(f"Paired differences from {reference}\n(mean and Monte Carlo 95% interval over replications)",
                         fontsize=10)
    figure.tight_layout()
    return figure


def tornado(run: Run, outcome: str = "os_4y") -> pd.DataFrame:
    """One-way sweep: each parameter's low/high value of the difference from the reference."""
    table = run.dataset("sensitivity")
    rows = table[(table["outcome"] == outcome) & table["statistic"].isin(["at_low", "at_high", "central", "swing"])]
    result = rows.pivot_table(index=["strategy", "parameter"], columns="statistic", values="value").reset_index() \
        .sort_values("swing", ascending=False)
    result.attrs["reference"] = run.reference
    return result


def plot_tornado(table: pd.DataFrame, outcome: str = "os_4y", reference: str | None = None):
    """Tornado: the difference from the reference at each parameter's low and high value."""
    import matplotlib.pyplot as plt

    reference = reference or table.attrs.get("reference", "the reference")
    scale = measure_scale(outcome)[0]
    unit = "percentage points" if scale == 100.0 else MEASURE_LABELS.get(outcome, ("", ""))[1]
    several = table["strategy"].nunique() > 1 if len(table) else False
    figure, ax = plt.subplots(figsize=(7.5, 0.5 * max(len(table), 1) + 1.8))
    table = table.iloc[::-1]
    y = np.arange(len(table))
    for k, row in enumerate(table.itertuples()):
        ax.barh(k, scale * (row.at_high - row.central), left=scale * row.central, color="#dd8452",
                label="parameter at its high value" if k == 0 else None)
        ax.barh(k, scale * (row.at_low - row.central), left=scale * row.central, color="#4c72b0",
                label="parameter at its low value" if k == 0 else None)
    if len(table):
        ax.axvline(scale * table["central"].iloc[0], color="black", lw=1)
        ax.legend(frameon=False, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    ax.set_yticks(y, [f"{r.parameter} ({r.strategy})" if several else r.parameter for r in table.itertuples()],
                  fontsize=8)
    strategies = ", ".join(dict.fromkeys(table["strategy"])) if len(table) else ""
    name = MEASURE_LABELS.get(outcome, (outcome, ""))[0]
    ax.set_xlabel(f"{name}: {strategies} minus {reference}, {unit}" if unit else f"{name}: difference from {reference}")
    ax.set_title(f"One-way sensitivity of the difference in {name}", fontsize=10, pad=24)
    figure.tight_layout()
    return figure
