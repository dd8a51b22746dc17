"""Subgroup views: simulated EFS and OS in the cells users ask about, next to the evidence.

Cells: relapse group; time to first relapse (early < 18, intermediate 18-36,
late >= 36 months from diagnosis); risk group x randomisation status; and
end-of-Block-1 marrow MRD band. Each cell's EFS and OS at fixed years from
enrolment is a Kaplan-Meier estimate in every replication; the table gives
the mean over replications, its Monte Carlo SE, the spread between
replications (what one trial-sized cohort would see), the mean Greenwood SE
of one replication (what a trial of that size would report as its SE) and
patients per replication.

The **gradient check** sets simulated 5-year OS by time to first relapse
against the post-relapse survival of Rheingold et al. 2024 (calibration
inputs, sections 6 and 9: 25.8 / 49.5 / 66.4%). Those figures come from an
earlier era (1996-2014) with other therapy, so they are a prior for the
*gradient*, not a target: the check asks for the same direction (early <
intermediate < late) and a log odds ratio of death against the late group
within half to one and a half times Rheingold's (a stated tolerance).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.analysis.km import survival_with_greenwood_se
from sim.clinical import MRD_POSITIVE_PERCENT, YEAR_DAYS

TIMES_YEARS = (3, 4, 6)
TIME_TO_RELAPSE = (("early (< 18 months)", 0.0, 18.0), ("intermediate (18-36 months)", 18.0, 36.0),
                   ("late (>= 36 months)", 36.0, math.inf))
RHEINGOLD_OS_5Y = {"early (< 18 months)": 0.258, "intermediate (18-36 months)": 0.495, "late (>= 36 months)": 0.664}
GRADIENT_TOLERANCE = (0.5, 1.5)  # simulated / Rheingold log odds ratio of death vs late
MRD_BANDS = ("< 0.01%", "0.01-0.1%", "0.1-1%", ">= 1%", "unknown")


def time_to_relapse_group(months: pd.Series) -> pd.Series:
    labels = pd.Series(index=months.index, dtype=object)
    for label, low, high in TIME_TO_RELAPSE:
        labels[(months >= low) & (months < high)] = label
    return labels


def mrd_band(patients: pd.DataFrame) -> pd.Series:
    """EOB1 MRD band for patients who reached the end of Block 1 alive (else null).

    A negative result (below the 0.01% detection limit, recorded without a value) is "< 0.01%".
    """
    mrd = patients["eob1_mrd_percent"]
    bands = pd.Series(pd.cut(mrd, [-np.inf, MRD_POSITIVE_PERCENT, 0.1, 1.0, np.inf], right=False, labels=MRD_BANDS[:4]), dtype=object)
    negative = (patients["eob1_mrd_status"] == "negative").to_numpy(bool)
    bands[negative] = MRD_BANDS[0]
    reached = patients["eob1_day"].notna() & ~patients["block1_death"].astype(bool)
    bands[reached & mrd.isna() & ~negative] = "unknown"
    bands[~reached] = None
    return bands


def risk_by_randomisation(patients: pd.DataFrame) -> pd.Series:
    """LR/IR/HR x randomised or not; else died in reinduction, early failure, not risk-assigned."""
    status = np.where(patients["randomized"].fillna(False).astype(bool), "randomised", "not randomised")
    cells = patients["risk_group"].fillna("") + ", " + pd.Series(status, index=patients.index)
    cells[patients["risk_group"].isna()] = "not risk-assigned"
    cells[patients["early_treatment_failure"].fillna(False).astype(bool)] = "early treatment failure"
    cells[patients["block1_death"].fillna(False).astype(bool)] = "died in reinduction"
    return cells


# Evidence for a cell, where the calibration inputs give one: (view, cell, endpoint, years) -> (value, source).
# Section 3.4 figures run from the end of Block 1 and section 4.2 from randomisation (about a
# month after enrolment), so they sit next to the from-enrolment estimates as approximations.
CELL_EVIDENCE = {
    ("risk group x randomisation", "not risk-assigned", "EFS", 4): (0.081, "3.4, from end of Block 1"),
    ("risk group x randomisation", "not risk-assigned", "OS", 4): (0.198, "3.4, from end of Block 1"),
    ("risk group x randomisation", "early treatment failure", "OS", 4): (0.187, "3.4, from end of Block 1"),
    ("risk group x randomisation", "early treatment failure", "EFS", 4): (0.0, "3.4, by definition"),
    ("risk group x randomisation", "LR, randomised", "OS", 4): (0.850, "4.2, from randomisation"),
}

VIEWS = {
    "relapse group": lambda p: p["relapse_group"],
    "time to first relapse": lambda p: time_to_relapse_group(p["months_to_relapse"]),
    "risk group x randomisation": risk_by_randomisation,
    "EOB1 MRD": mrd_band,
}


def survival_table(patients: pd.DataFrame, cells: pd.Series, times_years=TIMES_YEARS) -> pd.DataFrame:
    """EFS and OS at ``times_years`` from enrolment per (strategy, cell), over replications."""
    rows = []
    frame = patients.assign(_cell=cells.to_numpy())
    for (strategy, cell), group in frame.dropna(subset=["_cell"]).groupby(["strategy", "_cell"], sort=True):
        by_replication = group.groupby("replication")
        n_mean = float(by_replication.size().mean())
        for endpoint in ("efs", "os"):
            for years in times_years:
                at = years * YEAR_DAYS
                estimates = np.array([
                    survival_with_greenwood_se(g[f"{endpoint}_days"].to_numpy(float), g[f"{endpoint}_event"].to_numpy(bool), at)
                    for _, g in by_replication
                ])
                values = estimates[:, 0]
                sd = float(values.std(ddof=1)) if len(values) > 1 else math.nan
                rows.append({"strategy": strategy, "cell": cell, "endpoint": endpoint.upper(), "years": years,
                             "mean": float(values.mean()), "mc_se": sd / math.sqrt(len(values)),
                             "between_replication_sd": sd, "greenwood_se": float(estimates[:, 1].mean()),
                             "patients_per_replication": n_mean})
    return pd.DataFrame(rows)


def subgroup_views(patients: pd.DataFrame, times_years=TIMES_YEARS) -> dict[str, pd.DataFrame]:
    """Every view of ``VIEWS``; the time-to-relapse view carries Rheingold's 5-year OS."""
    views = {name: survival_table(patients, cells(patients), times_years) for name, cells in VIEWS.items()}
    views["whole cohort"] = survival_table(patients, pd.Series("all", index=patients.index), times_years)
    for name, view in views.items():
        found = [CELL_EVIDENCE.get((name, row.cell, row.endpoint, row.years)) for row in view.itertuples()]
        view["evidence"] = [f[0] if f else math.nan for f in found]
        view["evidence_source"] = [f[1] if f else None for f in found]
    return views


def gradient_check(patients: pd.DataFrame) -> pd.DataFrame:
    """Simulated 5-year OS by time to first relapse vs Rheingold's gradient, per strategy."""
    table = survival_table(patients, time_to_relapse_group(patients["months_to_relapse"]), times_years=(5,))
    table = table[table["endpoint"] == "OS"].copy()
    table["rheingold_os_5y"] = table["cell"].map(RHEINGOLD_OS_5Y)

    def log_odds_death(s: pd.Series) -> pd.Series:
        return np.log((1 - s) / s)

    rows = []
    for strategy, group in table.groupby("strategy", sort=False):
        group = group.set_index("cell").reindex([label for label, _, _ in TIME_TO_RELAPSE])
        late = group.iloc[-1]
        simulated_lor = log_odds_death(group["mean"]) - log_odds_death(pd.Series([late["mean"]] * 3, index=group.index))
        published_lor = log_odds_death(group["rheingold_os_5y"]) - math.log((1 - late["rheingold_os_5y"]) / late["rheingold_os_5y"])
        ordered = bool(group["mean"].is_monotonic_increasing)
        for cell, row in group.iterrows():
            ratio = simulated_lor[cell] / published_lor[cell] if published_lor[cell] else math.nan
            within = True if cell == TIME_TO_RELAPSE[-1][0] else GRADIENT_TOLERANCE[0] <= ratio <= GRADIENT_TOLERANCE[1]
            rows.append({"strategy": strategy, "cell": cell, "simulated_os_5y": row["mean"], "mc_se": row["mc_se"],
                         "rheingold_os_5y": row["rheingold_os_5y"],
                         "simulated_log_or_vs_late": simulated_lor[cell], "rheingold_log_or_vs_late": published_lor[cell],
                         "direction": ordered, "size_within_range": bool(within)})
    return pd.DataFrame(rows)
