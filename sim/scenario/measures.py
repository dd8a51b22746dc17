"""The outcome measures a scenario may name, and how tables and figures show them.

A sweep's ``outcomes`` and the summaries name measures from ``MEASURES``;
``sim.analysis.summary`` computes them. Kept in the scenario layer so a
scenario can be checked without loading the analysis.
"""

from __future__ import annotations

# Outcome measures: name -> description (computed in ``sim.analysis.summary``).
MEASURES: dict[str, str] = {
    "reinduction_death": "death during reinduction",
    "grade3plus": "worst adverse event grade >= 3 in reinduction",
    "grade4plus": "worst adverse event grade >= 4 in reinduction",
    "infection_grade3plus": "grade >= 3 infection in reinduction",
    "sepsis_grade3plus": "grade >= 3 sepsis in reinduction",
    "mrd_negative_remission": "remission with end-of-reinduction MRD < 0.01%",
    "hsct": "received HSCT",
    "relapse": "relapsed",
    "efs_2y": "2-year EFS (Kaplan-Meier)",
    "efs_4y": "4-year EFS (Kaplan-Meier)",
    "os_2y": "2-year OS (Kaplan-Meier)",
    "os_4y": "4-year OS (Kaplan-Meier)",
    "rmst_os_4y_days": "restricted mean survival to 4 years, days",
    "inpatient_days": "inpatient days, mean",
}
# What tables and figures show for each measure: (readable name, unit). "%"
# measures are stored as proportions; their differences are percentage points.
MEASURE_LABELS: dict[str, tuple[str, str]] = {
    "reinduction_death": ("Death in reinduction", "%"),
    "grade3plus": ("Grade ≥3 adverse event in reinduction", "%"),
    "grade4plus": ("Grade ≥4 adverse event in reinduction", "%"),
    "infection_grade3plus": ("Grade ≥3 infection in reinduction", "%"),
    "sepsis_grade3plus": ("Grade ≥3 sepsis in reinduction", "%"),
    "mrd_negative_remission": ("Remission with MRD <0.01%", "%"),
    "hsct": ("HSCT", "%"),
    "relapse": ("Relapse", "%"),
    "efs_2y": ("2-year EFS", "%"),
    "efs_4y": ("4-year EFS", "%"),
    "os_2y": ("2-year OS", "%"),
    "os_4y": ("4-year OS", "%"),
    "rmst_os_4y_days": ("Restricted mean survival to 4 years", "days"),
    "inpatient_days": ("Inpatient stay, mean", "days"),
}


def measure_label(measure: str, difference: bool = False) -> str:
    """``os_4y`` -> "4-year OS (%)"; a difference of a "%" measure is in percentage points."""
    name, unit = MEASURE_LABELS.get(measure, (measure, ""))
    if difference and unit == "%":
        unit = "percentage points"
    return f"{name} ({unit})" if unit else name


def measure_scale(measure: str) -> tuple[float, int]:
    """(factor, decimals) to show a measure: proportions as percentages to 0.1, days whole."""
    return (1.0, 0) if MEASURE_LABELS.get(measure, ("", ""))[1] == "days" or measure.endswith("days") else (100.0, 1)
