"""What limited capacity did: the queue, its effect on outcomes, occupancy over time.

Computed after a run from its datasets (processes only record):

* :func:`queue_summary`, from ``patients``: for each strategy and resource,
  how many patients queued, the share who waited, the mean and percentiles
  of the wait among those who queued, and (HSCT slots) how many relapsed,
  died or reached the end of follow-up while waiting, instead of a
  transplant. Shares and counts are per replication, then averaged, with
  Monte Carlo 95% intervals; percentiles pool the waits of all replications.
* :func:`capacity_effect`, from two ``replication_summary`` datasets: the run
  under the scenario's capacity and its twin with unlimited capacity, same
  seed and replications. Both see the same patients and draws (streams are
  keyed by patient, not by queue position), so each measure's difference,
  limited minus unlimited, is paired within a replication and is the effect
  of queueing alone.
* :func:`occupancy_over_time`, from ``occupancy``: places in use and
  patients queued per strategy, resource and week, averaged over
  replications, with the capacity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from sim.analysis.km import Z95
from sim.analysis.summary import SummaryAccumulator

RESOURCES = {  # resource -> (wait column, readable name)
    "hsct_slots": ("hsct_wait_days", "HSCT slot"),
    "inpatient_beds": ("bed_wait_days", "inpatient bed"),
    "blinatumomab_places": ("blinatumomab_wait_days", "blinatumomab place"),
}
WAIT_COLUMNS = ["strategy", "replication", "bed_wait_days", "blinatumomab_wait_days", "hsct_wait_days",
                "hsct_wait_outcome"]
# How a wait for an HSCT slot can end other than granted (``hsct_wait_outcome``): the relapse
# clock of a patient in remission runs while waiting, and the disease of a patient bound for a
# transplant after treatment failure can kill first.
WAIT_ENDINGS = ("relapse", "death", "censored")
EFFECT_MEASURES = ("hsct", "relapse", "efs_4y", "os_4y", "rmst_os_4y_days")
UNLIMITED = "unlimited"  # the twin run's directory inside a run directory


def _mean_interval(values: pd.Series) -> tuple[float, float, float]:
    n = values.count()
    mean = values.mean()
    half = Z95 * values.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
    return mean, mean - half, mean + half


def queue_summary(patients: pd.DataFrame, strategies: list[str]) -> pd.DataFrame:
    """One row per (strategy, resource) a patient queued for; columns as the module says.

    A wait column is null for a patient who never queued for that resource
    (or when it is unlimited), so only limited resources appear.
    """
    rows = []
    replications = patients["replication"].nunique()
    for strategy in strategies:
        mine = patients[patients["strategy"] == strategy]
        for resource, (column, _) in RESOURCES.items():
            queued = mine[mine[column].notna()]
            if not len(queued):
                continue
            waits = queued[column].to_numpy(float)
            per_rep = queued.groupby("replication")[column]
            waited_share = (per_rep.apply(lambda w: (w > 0).mean())).reindex(mine["replication"].unique())
            row = {
                "strategy": strategy, "resource": resource,
                "queued_per_replication": len(queued) / replications,
                "waited_share": float((waits > 0).mean()),
                "waited_share_ci": _mean_interval(waited_share)[1:],
                "wait_mean_days": float(waits.mean()),
                "wait_mean_ci": _mean_interval(per_rep.mean())[1:],
                "wait_p50_days": float(np.percentile(waits, 50)),
                "wait_p90_days": float(np.percentile(waits, 90)),
                "wait_max_days": float(waits.max()),
            }
            if resource == "hsct_slots":
                ended = queued["hsct_wait_outcome"]
                for outcome in WAIT_ENDINGS:
                    counts = (ended == outcome).groupby(queued["replication"]).sum()
                    counts = counts.reindex(mine["replication"].unique(), fill_value=0)
                    row[f"{outcome}_while_waiting_per_replication"] = float(counts.mean())
                    row[f"{outcome}_while_waiting_share"] = float((ended == outcome).mean())
            rows.append(row)
    return pd.DataFrame(rows)


def read_waits(run_dir: Path) -> pd.DataFrame:
    """The wait columns of a run's ``patients`` dataset (only those, to stay light)."""
    return pq.read_table(run_dir / "patients", columns=WAIT_COLUMNS).to_pandas()


def capacity_effect(limited: Path, unlimited: Path, strategies: list[str]) -> pd.DataFrame:
    """Per strategy and measure: mean under the capacity, mean unlimited, the paired difference and its interval."""
    def overall(path: Path) -> pd.DataFrame:
        table = pd.read_parquet(path, filters=[("subgroup", "==", "all"), ("measure", "in", list(EFFECT_MEASURES))])
        return table.drop(columns=[c for c in ("point",) if c in table.columns])

    both = pd.concat([overall(limited).assign(run="limited"), overall(unlimited).assign(run=UNLIMITED)])
    rows = []
    for strategy in strategies:
        mine = both[both["strategy"] == strategy].assign(strategy=lambda t: t["run"]).drop(columns="run")
        accumulator = SummaryAccumulator(["limited", UNLIMITED], reference=UNLIMITED)
        accumulator.add(mine)
        summary = accumulator.table().set_index(["measure", "strategy", "comparison"])
        for measure in EFFECT_MEASURES:
            if (measure, "limited", "difference") not in summary.index:
                continue
            difference = summary.loc[(measure, "limited", "difference")]
            rows.append({
                "strategy": strategy, "measure": measure,
                "limited": summary.loc[(measure, "limited", "value"), "mean"],
                "unlimited": summary.loc[(measure, UNLIMITED, "value"), "mean"],
                "difference": difference["mean"], "ci_low": difference["ci_low"], "ci_high": difference["ci_high"],
                "replications": int(difference["replications"]),
            })
    return pd.DataFrame(rows)


def occupancy_over_time(occupancy: pd.DataFrame, days_per_bin: int = 7) -> pd.DataFrame:
    """Mean places in use and patients queued per (strategy, resource, week), over days and replications."""
    binned = occupancy.assign(week=occupancy["day"] // days_per_bin)
    return (binned.groupby(["strategy", "resource", "week"], sort=True)
            .agg(capacity=("capacity", "max"), in_use=("in_use", "mean"), queued=("queued", "mean"),
                 in_use_max=("in_use_max", "max"))
            .reset_index())


def plot_occupancy(curves: pd.DataFrame, strategies: list[str]):
    """One panel per resource: in use (solid) and queued (dashed) per strategy, capacity as a line."""
    import matplotlib.pyplot as plt

    resources = [r for r in RESOURCES if r in set(curves["resource"])]
    figure, axes = plt.subplots(1, len(resources), figsize=(5.2 * len(resources), 3.6), squeeze=False)
    for ax, resource in zip(axes[0], resources):
        shown = curves[curves["resource"] == resource]
        for k, strategy in enumerate(s for s in strategies if s in set(shown["strategy"])):
            line = shown[shown["strategy"] == strategy]
            years = line["week"] * 7 / 365.25
            ax.plot(years, line["in_use"], color=f"C{k}", label=f"{strategy}: in use")
            ax.plot(years, line["queued"], color=f"C{k}", linestyle="--", label=f"{strategy}: queued")
        ax.axhline(shown["capacity"].max(), color="grey", linewidth=0.8, linestyle=":", label="capacity")
        name = RESOURCES[resource][1]
        ax.set_title(name[0].upper() + name[1:] + "s")
        ax.set_xlabel("study year")
        ax.set_ylabel("patients (mean over replications)")
        ax.legend(fontsize=7)
    figure.tight_layout()
    return figure
