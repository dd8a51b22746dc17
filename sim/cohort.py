"""The patient cohort: covariates at enrolment, drawn from the AALL1331 case-mix.

Steps, per replication (all vectorised, one named stream per covariate):

1. relapse group (``bm_lt18`` ... ``iem_ge18``) from the enrolment counts;
2. relapse site: marrow sites from CNS3 (marrow + CNS) and testicular
   disease (marrow + testis); isolated extramedullary sites from the published
   site counts;
3. age band by group, then age uniform inside the band (ages below what the
   group's diagnosis-to-relapse interval allows are excluded);
4. months from diagnosis to relapse inside the group's band (a truncated
   exponential above the lower limit for open-ended bands), capped so that
   diagnosis falls after the youngest age at diagnosis;
5. sex (testicular disease implies male; the rest keep the group's male share),
   ethnicity, obesity, CNS status, cytogenetic group;
6. a latent *disease resistance* ``z ~ N(0, 1)`` shared by every phase that
   draws a response, so a patient whose leukaemia resists one block tends to
   resist the next (an assumption; the phases say how they use it);
7. enrolment day: 0 for everyone, or stratified uniform over the accrual window.

Evidence: AALL1331-all (calibration-inputs section 2), shipped as
``sim/data/case_mix.toml``. Within a group, covariates other than site, sex and
CNS status are independent (assumption; the joint table is not published).
The youngest age at diagnosis and the mean excess of open-ended bands are the
scenario's assumptions (``[cohort]``), joined to the data by :func:`case_mix_for`.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtri

from .distributions import central_value
from .paramtypes import RELAPSE_GROUPS, Frozen
from .streams import Streams

if TYPE_CHECKING:
    from .parameters import CohortSettings

SITES = ("isolated_marrow", "marrow_cns", "marrow_testis", "isolated_cns", "isolated_testis")
ETHNICITIES = ("hispanic", "non_hispanic_asian", "non_hispanic_other")
CYTOGENETICS = ("KMT2A", "ETV6_RUNX1", "other")
CNS_STATUSES = ("CNS1", "CNS2", "CNS3")
# Case-mix age bands: (label, lowest age, highest age) in years.
AGE_BANDS = (("age_1_9", 1.0, 10.0), ("age_10_17", 10.0, 18.0), ("age_18_20", 18.0, 21.0), ("age_21_30", 21.0, 31.0))
COLUMN_OF_GROUP = {
    "bm_lt18": "bm_lt36",
    "bm_18_36": "bm_lt36",
    "bm_ge36": "bm_ge36",
    "iem_lt18": "iem_lt18",
    "iem_ge18": "iem_ge18",
}


class MonthsBand(Frozen):
    low: float
    high: float
    open_ended: bool = False  # the published band has no upper limit (">= 36 months")


class CaseMixColumn(Frozen):
    age_band_percent: dict[str, float]
    male_percent: float
    hispanic_percent: float
    asian_percent: float
    obese_percent: float
    cns_percent: dict[str, float]
    testicular_percent: float
    kmt2a_percent: float
    etv6_runx1_percent: float


class IemSites(Frozen):
    isolated_cns: int
    isolated_testis: int
    cns_and_testis: int


class CaseMix(Frozen):
    """The published case-mix, and the scenario's assumptions that complete it
    (unset in the packaged data; see :func:`case_mix_for`)."""

    source: str
    relapse_group_counts: dict[str, int]
    months_to_relapse: dict[str, MonthsBand]
    columns: dict[str, CaseMixColumn]
    iem_site_counts: dict[str, IemSites]
    youngest_diagnosis_years: float | None = None
    months_to_relapse_mean_excess: float | None = None

    def group_probabilities(self) -> dict[str, float]:
        total = sum(self.relapse_group_counts.values())
        return {group: self.relapse_group_counts[group] / total for group in RELAPSE_GROUPS}

    def column(self, group: str) -> CaseMixColumn:
        return self.columns[COLUMN_OF_GROUP[group]]

    def age_band_probabilities(self, group: str) -> np.ndarray:
        """Band probabilities after removing ages the group cannot have."""
        youngest = self.youngest_age(group)
        percents = self.column(group).age_band_percent
        weights = np.array(
            [percents[label] if high > youngest else 0.0 for label, _, high in AGE_BANDS]
        )
        return weights / weights.sum()

    def youngest_age(self, group: str) -> float:
        return self.months_to_relapse[group].low / 12.0 + self._youngest_diagnosis()

    def _youngest_diagnosis(self) -> float:
        if self.youngest_diagnosis_years is None:
            raise ValueError("the case mix needs the scenario's cohort assumptions; build it with case_mix_for(cohort)")
        return self.youngest_diagnosis_years

    def share_aged_at_least(self, group: str, years: float) -> float:
        """Expected share of the group aged >= ``years`` (ages uniform in bands)."""
        youngest = self.youngest_age(group)
        share = 0.0
        for prob, (_, low, high) in zip(self.age_band_probabilities(group), AGE_BANDS):
            low = max(low, youngest)
            if high > low:
                share += prob * min(1.0, max(0.0, (high - max(years, low)) / (high - low)))
        return share


@cache
def load_case_mix() -> CaseMix:
    """The AALL1331 case-mix shipped with the package (without the scenario's assumptions)."""
    text = resources.files("sim.data").joinpath("case_mix.toml").read_text(encoding="utf-8")
    return CaseMix.model_validate(tomllib.loads(text))


def case_mix_for(cohort: CohortSettings) -> CaseMix:
    """The packaged case-mix completed by a scenario's ``[cohort]`` assumptions (central values
    unless the cohort settings are already realised)."""
    data = load_case_mix()
    return CaseMix.model_validate({
        **{name: getattr(data, name) for name in type(data).model_fields},
        "youngest_diagnosis_years": central_value(cohort.youngest_diagnosis_years),
        "months_to_relapse_mean_excess": central_value(cohort.months_to_relapse_mean_excess),
    })


@dataclass(frozen=True)
class Cohort:
    """One replication's patients, as columns (index = patient_id)."""

    enrolment_day: np.ndarray
    relapse_group: list[str]
    relapse_site: list[str]
    months_to_relapse: np.ndarray
    age_years: np.ndarray
    sex: list[str]
    ethnicity: list[str]
    obese: np.ndarray
    cns_status: list[str]
    testicular_disease: np.ndarray
    cytogenetics: list[str]
    resistance_z: np.ndarray

    def __len__(self) -> int:
        return len(self.relapse_group)


def _choose(u: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Row-wise inverse-CDF choice: index of the category each uniform falls in."""
    cumulative = np.cumsum(probabilities, axis=-1)
    cumulative[..., -1] = 1.0
    if cumulative.ndim == 1:
        return np.searchsorted(cumulative, u, side="right")
    return (u[:, None] >= cumulative).sum(axis=1)


def draw_cohort(case_mix: CaseMix, n_patients: int, accrual_days: float, streams: Streams) -> Cohort:
    """Draw ``n_patients`` covariate rows; accrual_days = 0 enrols everyone on day 0."""
    block = lambda name, width=1: streams.block(f"cohort.{name}", width)  # noqa: E731
    youngest_diagnosis = case_mix._youngest_diagnosis()
    mean_excess = case_mix.months_to_relapse_mean_excess

    group_index = _choose(block("relapse_group")[:, 0], np.array(list(case_mix.group_probabilities().values())))
    groups = [RELAPSE_GROUPS[i] for i in group_index]
    columns = [case_mix.column(g) for g in groups]

    # Relapse site and CNS status.
    u_site, u_cns = block("site")[:, 0], block("cns_status")[:, 0]
    sites, cns_status, testicular = [], [], np.zeros(n_patients, dtype=bool)
    for i, (group, column) in enumerate(zip(groups, columns)):
        cns = column.cns_percent
        if group.startswith("bm"):
            testis, cns3 = column.testicular_percent / 100, cns["CNS3"] / 100
            if u_site[i] < testis:
                site = "marrow_testis"
            elif u_site[i] < testis + cns3:
                site = "marrow_cns"
            else:
                site = "isolated_marrow"
            status = "CNS3" if site == "marrow_cns" else (
                "CNS1" if u_cns[i] < cns["CNS1"] / (cns["CNS1"] + cns["CNS2"]) else "CNS2"
            )
            testicular[i] = site == "marrow_testis"
        else:
            counts = case_mix.iem_site_counts[group]
            total = counts.isolated_cns + counts.isolated_testis + counts.cns_and_testis
            edge_cns = counts.isolated_cns / total
            edge_testis = edge_cns + counts.isolated_testis / total
            if u_site[i] < edge_cns:
                site, testicular[i] = "isolated_cns", False
            elif u_site[i] < edge_testis:
                site, testicular[i] = "isolated_testis", True
            else:
                site, testicular[i] = "isolated_cns", True
            if site == "isolated_testis":
                status = "CNS1"
            else:
                status = "CNS2" if u_cns[i] < cns["CNS2"] / (cns["CNS2"] + cns["CNS3"]) else "CNS3"
        sites.append(site)
        cns_status.append(status)

    # Age, then months to relapse inside the group's band.
    u_band, u_age, u_months = block("age_band")[:, 0], block("age")[:, 0], block("months_to_relapse")[:, 0]
    age = np.empty(n_patients)
    months = np.empty(n_patients)
    for i, group in enumerate(groups):
        band = _choose(u_band[i], case_mix.age_band_probabilities(group))
        _, low, high = AGE_BANDS[band]
        low = max(low, case_mix.youngest_age(group))
        age[i] = low + u_age[i] * (high - low)
        limits = case_mix.months_to_relapse[group]
        top = min(limits.high, 12.0 * (age[i] - youngest_diagnosis))
        width = max(top - limits.low, 0.0)
        if not limits.open_ended:
            months[i] = limits.low + u_months[i] * width
        else:
            months[i] = limits.low - mean_excess * math.log1p(-u_months[i] * -math.expm1(-width / mean_excess))

    # Sex: testicular disease implies male; others keep the group's male share.
    u_sex = block("sex")[:, 0]
    sex = []
    for i, column in enumerate(columns):
        if testicular[i]:
            sex.append("male")
            continue
        testis_share = column.testicular_percent / 100
        male_given_no_testis = (column.male_percent / 100 - testis_share) / (1 - testis_share)
        sex.append("male" if u_sex[i] < male_given_no_testis else "female")

    ethnicity_probs = np.array(
        [[c.hispanic_percent, c.asian_percent, 100 - c.hispanic_percent - c.asian_percent] for c in columns]
    ) / 100
    cyto_probs = np.array(
        [[c.kmt2a_percent, c.etv6_runx1_percent, 100 - c.kmt2a_percent - c.etv6_runx1_percent] for c in columns]
    ) / 100
    ethnicity = [ETHNICITIES[k] for k in _choose(block("ethnicity")[:, 0], ethnicity_probs)]
    cytogenetics = [CYTOGENETICS[k] for k in _choose(block("cytogenetics")[:, 0], cyto_probs)]
    obese = block("obese")[:, 0] < np.array([c.obese_percent / 100 for c in columns])

    u_resist = np.clip(block("resistance")[:, 0], 1e-12, 1 - 1e-12)
    if accrual_days > 0:
        enrolment = (np.arange(n_patients) + block("enrolment")[:, 0]) / n_patients * accrual_days
    else:
        enrolment = np.zeros(n_patients)

    return Cohort(
        enrolment_day=enrolment,
        relapse_group=groups,
        relapse_site=sites,
        months_to_relapse=months,
        age_years=age,
        sex=sex,
        ethnicity=ethnicity,
        obese=obese,
        cns_status=cns_status,
        testicular_disease=testicular,
        cytogenetics=cytogenetics,
        resistance_z=ndtri(u_resist),
    )
