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
    "inpatient_days": "inpatient days, mean (every inpatient block and the HSCT admission)",
    "blinatumomab_days": "blinatumomab infusion days, mean",
    "on_therapy_days": "days on first-line therapy, mean",
    "remission_days": "days in remission off therapy, mean",
    "after_relapse_days": "days after relapse or treatment failure, mean",
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
    "blinatumomab_days": ("Blinatumomab infusion, mean", "days"),
    "on_therapy_days": ("On therapy, mean", "days"),
    "remission_days": ("In remission off therapy, mean", "days"),
    "after_relapse_days": ("After relapse, mean", "days"),
    "cost": ("Discounted cost per patient", "currency"),
    "life_years": ("Discounted life-years per patient", "years"),
    "qalys": ("Discounted QALYs per patient", "QALYs"),
    "net_benefit": ("Net monetary benefit per patient", "currency"),
}


def measure_label(measure: str, difference: bool = False) -> str:
    """``os_4y`` -> "4-year OS (%)"; a difference of a "%" measure is in percentage points."""
    name, unit = MEASURE_LABELS.get(measure, (measure, ""))
    if difference and unit == "%":
        unit = "percentage points"
    return f"{name} ({unit})" if unit else name


def measure_scale(measure: str) -> tuple[float, int]:
    """(factor, decimals) to show a measure: proportions as percentages to 0.1, days whole."""
    unit = MEASURE_LABELS.get(measure, ("", ""))[1]
    if unit in ("years", "QALYs"):
        return (1.0, 3)
    if unit == "currency":
        return (1.0, 0)
    return (1.0, 0) if unit == "days" or measure.endswith("days") else (100.0, 1)

# Measures of an ``[economics]`` table (computed in ``sim.analysis.economics``).
ECONOMICS_MEASURES: dict[str, str] = {
    "cost": "discounted cost per patient",
    "life_years": "discounted life-years per patient",
    "qalys": "discounted quality-adjusted life-years per patient",
    "net_benefit": "net monetary benefit per patient at the willingness to pay",
}
