"""Analysis for notebooks: open a run in one call, then one call per common analysis.

    from sim.analysis import open_run
    run = open_run("outputs/mitcl/20261121-101500")
    run.survival("os").plot()          # Kaplan-Meier by strategy, with Monte Carlo bands

Every function returns a tidy DataFrame; ``plot_*`` functions return a
matplotlib Figure. Kaplan-Meier curves and restricted mean survival come
from the package's grouped estimator (``sim.km``, checked against lifelines);
competing risks from lifelines (``AalenJohansenFitter``). The pooled estimate uses
all replications' patients together; the Monte Carlo band is the 2.5th-97.5th
percentile of the per-replication curves (the spread one replication of the
trial's size would show), and the Monte Carlo standard error of the pooled
mean is the per-replication standard deviation over sqrt(R).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .km import restricted_mean, survival_at

YEAR_DAYS = 365.25
ENDPOINTS = {"os": ("os_days", "os_event", "Overall survival"), "efs": ("efs_days", "efs_event", "Event-free survival")}
REQUIRED = ("manifest.json", "patients", "summary")


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
            raise RunError(f"{self.path}: this run has no '{name}' dataset")
        return pd.read_parquet(path)

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
        return Curves(kaplan_meier(self.patients, endpoint, by), endpoint, by)

    def flow(self) -> pd.DataFrame:
        return flow(self.patients)

    def toxicity(self, by: str = "relapse_group") -> pd.DataFrame:
        return toxicity(self.patients, by)

    def subgroups(self) -> dict[str, pd.DataFrame]:
        """EFS/OS by relapse group, time to relapse, risk group x randomisation and MRD band."""
        from .subgroups import subgroup_views

        return subgroup_views(self.patients)

    def gradient(self) -> pd.DataFrame:
        """Simulated 5-year OS by time to first relapse next to Rheingold 2024."""
        from .subgroups import gradient_check

        return gradient_check(self.patients)

    def differences(self, subgroup: str = "all") -> pd.DataFrame:
        table = self.summary
        return table[(table["subgroup"] == subgroup) & (table["comparison"] == "difference")].reset_index(drop=True)


def open_run(path: str | Path) -> Run:
    """Open a run (or sweep) directory; a clear error if it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such directory")
    missing = [name for name in REQUIRED if not (path / name).exists()]
    if "manifest.json" in missing:
        raise RunError(f"{path}: not a finished run (manifest.json missing); if it was interrupted, "
                       "Suggestion: simulate SCENARIO --out DIR --resume")
    manifest = json.loads((path / "manifest.json").read_text())
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
    """Pooled Kaplan-Meier and Monte Carlo band per group, from enrolment.

    Columns: group, time_days, survival (pooled), band_low, band_high,
    mc_se (of the mean over replications).
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

    def plot(self, ax=None):
        return plot_survival(self.table, self.endpoint, self.by, ax)


def plot_survival(table: pd.DataFrame, endpoint: str = "os", by: str = "strategy", ax=None):
    import matplotlib.pyplot as plt

    figure = ax.figure if ax is not None else plt.figure(figsize=(7, 4.5))
    ax = ax or figure.add_subplot()
    for group, curve in table.groupby("group", sort=False):
        years = curve["time_days"] / YEAR_DAYS
        line, = ax.step(years, curve["survival"], where="post", label=group)
        ax.fill_between(years, curve["band_low"], curve["band_high"], step="post", alpha=0.15, color=line.get_color())
    ax.set_xlabel("years from enrolment")
    ax.set_ylabel(ENDPOINTS[endpoint][2])
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{ENDPOINTS[endpoint][2]} by {by} (band: 95% of single replications)")
    if len(table):
        ax.legend(frameon=False)
    else:
        ax.text(0.5, 0.5, "no patients", ha="center", va="center", transform=ax.transAxes)
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
    """Restricted mean overall survival to ``years``, pooled and per replication (``sim.km``)."""
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


def flow(patients: pd.DataFrame) -> pd.DataFrame:
    """CONSORT-style counts per strategy: mean patients per replication at each step."""
    rows = []
    for strategy, frame in patients.groupby("strategy", sort=False):
        replications = frame["replication"].nunique()
        for step, select in FLOW_STEPS:
            count = int(select(frame).astype(bool).sum())
            rows.append({"strategy": strategy, "step": step, "patients": count,
                         "per_replication": count / replications if replications else math.nan})
    return pd.DataFrame(rows)


def plot_flow(table: pd.DataFrame):
    import matplotlib.pyplot as plt

    strategies = list(dict.fromkeys(table["strategy"]))
    figure, axes = plt.subplots(1, max(len(strategies), 1), figsize=(4.2 * max(len(strategies), 1), 4.5), squeeze=False)
    for ax, strategy in zip(axes[0], strategies, strict=False):
        rows = table[table["strategy"] == strategy].iloc[::-1]
        ax.barh(rows["step"], rows["per_replication"], color="#4c72b0")
        for y, value in enumerate(rows["per_replication"]):
            ax.text(value, y, f" {value:.0f}", va="center")
        ax.set_title(strategy)
        ax.set_xlabel("patients per replication")
    figure.suptitle("Patient flow (mean per replication)")
    figure.tight_layout()
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
    """Reinduction toxicity rates per strategy and subgroup, with Monte Carlo SE over replications."""
    rows = []
    keys = ["strategy", by] if by != "strategy" else ["strategy"]
    for key, frame in patients.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for name, select in TOXICITY.items():
            per_rep = select(frame).astype(float).groupby(frame["replication"]).mean()
            rows.append({**dict(zip(keys, key, strict=True)), "toxicity": name, "rate": float(per_rep.mean()),
                         "mc_se": float(per_rep.std(ddof=1) / math.sqrt(len(per_rep))) if len(per_rep) > 1 else math.nan})
    return pd.DataFrame(rows)


# --- comparisons and sweeps -------------------------------------------------

def plot_differences(differences: pd.DataFrame, measures: list[str] | None = None):
    """A forest plot of paired differences from the reference, with Monte Carlo 95% intervals."""
    import matplotlib.pyplot as plt

    measures = measures or ["reinduction_death", "mrd_negative_remission", "hsct", "relapse", "efs_4y", "os_4y"]
    rows = differences[differences["measure"].isin(measures)]
    figure, ax = plt.subplots(figsize=(7, 0.45 * max(len(rows), 1) + 1.5))
    labels = [f"{r.measure}: {r.strategy}" for r in rows.itertuples()]
    y = np.arange(len(rows))
    ax.errorbar(100 * rows["mean"], y, xerr=[100 * (rows["mean"] - rows["ci_low"]), 100 * (rows["ci_high"] - rows["mean"])],
                fmt="o", color="#c44e52")
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(y, labels)
    ax.set_xlabel("difference from the reference, percentage points (paired, Monte Carlo 95% interval)")
    figure.tight_layout()
    return figure


def tornado(run: Run, outcome: str = "os_4y") -> pd.DataFrame:
    """One-way sweep: each parameter's low/high value of the difference from the reference."""
    table = run.dataset("sensitivity")
    rows = table[(table["outcome"] == outcome) & table["statistic"].isin(["at_low", "at_high", "central", "swing"])]
    return rows.pivot_table(index=["strategy", "parameter"], columns="statistic", values="value").reset_index() \
        .sort_values("swing", ascending=False)


def plot_tornado(table: pd.DataFrame, outcome: str = "os_4y"):
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 0.5 * max(len(table), 1) + 1.5))
    table = table.iloc[::-1]
    y = np.arange(len(table))
    for k, row in enumerate(table.itertuples()):
        ax.barh(k, row.at_high - row.central, left=row.central, color="#dd8452", label="high" if k == 0 else None)
        ax.barh(k, row.at_low - row.central, left=row.central, color="#4c72b0", label="low" if k == 0 else None)
    if len(table):
        ax.axvline(table["central"].iloc[0], color="black", lw=1)
        ax.legend(frameon=False)
    ax.set_yticks(y, [f"{r.parameter} ({r.strategy})" for r in table.itertuples()])
    ax.set_xlabel(f"difference in {outcome} from the reference")
    ax.set_title("One-way sensitivity (tornado)")
    figure.tight_layout()
    return figure
