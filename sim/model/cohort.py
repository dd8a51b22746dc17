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

from sim.clinical import SITES
from sim.model.streams import Streams
from sim.scenario.distributions import central_value
from sim.scenario.types import RELAPSE_GROUPS, Frozen

if TYPE_CHECKING:
    from sim.scenario.schema import CohortSettings

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

    def columns(self) -> dict[str, list]:
        """Every covariate as a list of Python values, by field name (what a patient record holds)."""
        return {name: getattr(self, name).tolist() if isinstance(getattr(self, name), np.ndarray) else getattr(self, name)
                for name in self.__dataclass_fields__}


def _choose(u: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Row-wise inverse-CDF choice: index of the category each uniform falls in."""
    cumulative = np.cumsum(probabilities, axis=-1)
    cumulative[..., -1] = 1.0
    if cumulative.ndim == 1:
        return np.searchsorted(cumulative, u, side="right")
    return (u[:, None] >= cumulative).sum(axis=1)


def draw_cohort(case_mix: CaseMix, n_patients: int, accrual_days: float, streams: Streams) -> Cohort:
    """Draw ``n_patients`` covariate rows; accrual_days = 0 enrols everyone on day 0.

    Vectorised: every per-group constant is computed once, in a table indexed
    by relapse group, and read for all patients at once.
    """
    def uniforms(name: str) -> np.ndarray:
        return streams.block(f"cohort.{name}", 1)[:, 0]

    youngest_diagnosis = case_mix._youngest_diagnosis()

    group_index = _choose(uniforms("relapse_group"), np.array(list(case_mix.group_probabilities().values())))
    groups = [RELAPSE_GROUPS[i] for i in group_index.tolist()]

    def by_group(value_of_group, applies=lambda group: True) -> np.ndarray:
        """Each patient's value of a per-group constant (NaN for groups it does not apply to)."""
        table = np.array([value_of_group(g) if applies(g) else math.nan for g in RELAPSE_GROUPS], dtype=float)
        return table[group_index]

    column = case_mix.column
    marrow = np.array([g.startswith("bm") for g in RELAPSE_GROUPS])[group_index]
    is_marrow = lambda group: group.startswith("bm")  # noqa: E731
    is_iem = lambda group: not group.startswith("bm")  # noqa: E731

    # Relapse site and CNS status. Marrow groups: testis, then CNS3, from the column's percentages.
    u_site, u_cns = uniforms("site"), uniforms("cns_status")
    testis = by_group(lambda g: column(g).testicular_percent / 100, is_marrow)
    testis_or_cns3 = by_group(lambda g: column(g).testicular_percent / 100 + column(g).cns_percent["CNS3"] / 100, is_marrow)
    cns1_share = by_group(lambda g: column(g).cns_percent["CNS1"] / (column(g).cns_percent["CNS1"] + column(g).cns_percent["CNS2"]), is_marrow)
    marrow_site = np.where(u_site < testis, 2, np.where(u_site < testis_or_cns3, 1, 0))
    marrow_cns = np.where(marrow_site == 1, 2, np.where(u_cns < cns1_share, 0, 1))
    # Isolated extramedullary groups: the published site counts (CNS and testis counts as CNS, with testis).
    iem = case_mix.iem_site_counts
    total = lambda g: iem[g].isolated_cns + iem[g].isolated_testis + iem[g].cns_and_testis  # noqa: E731
    edge_cns = by_group(lambda g: iem[g].isolated_cns / total(g), is_iem)
    edge_testis = by_group(lambda g: iem[g].isolated_cns / total(g) + iem[g].isolated_testis / total(g), is_iem)
    cns2_share = by_group(lambda g: column(g).cns_percent["CNS2"] / (column(g).cns_percent["CNS2"] + column(g).cns_percent["CNS3"]), is_iem)
    iem_site = np.where(u_site < edge_cns, 3, np.where(u_site < edge_testis, 4, 3))
    iem_testicular = u_site >= edge_cns
    iem_cns = np.where(iem_site == 4, 0, np.where(u_cns < cns2_share, 1, 2))
    site_index = np.where(marrow, marrow_site, iem_site)
    testicular = np.where(marrow, marrow_site == 2, iem_testicular)
    cns_index = np.where(marrow, marrow_cns, iem_cns)

    # Age band by group, age uniform inside it, then months to relapse inside the group's band.
    u_band, u_age, u_months = uniforms("age_band"), uniforms("age"), uniforms("months_to_relapse")
    band = np.empty(n_patients, dtype=np.int64)
    for k, group in enumerate(RELAPSE_GROUPS):
        members = group_index == k
        band[members] = _choose(u_band[members], case_mix.age_band_probabilities(group))
    band_low = np.array([low for _, low, _ in AGE_BANDS])[band]
    band_high = np.array([high for _, _, high in AGE_BANDS])[band]
    low = np.maximum(band_low, by_group(case_mix.youngest_age))
    age = low + u_age * (band_high - low)
    months_low = by_group(lambda g: case_mix.months_to_relapse[g].low)
    top = np.minimum(by_group(lambda g: case_mix.months_to_relapse[g].high), 12.0 * (age - youngest_diagnosis))
    width = np.maximum(top - months_low, 0.0)
    mean_excess = by_group(lambda g: case_mix.months_to_relapse_mean_excess,
                           lambda g: case_mix.months_to_relapse[g].open_ended)
    months = months_low + u_months * width
    # Open bands: a truncated exponential. math's log1p/expm1, not numpy's, whose
    # vectorised versions differ in the last bit: the same seed keeps the same patients.
    open_band = np.flatnonzero(~np.isnan(mean_excess))
    months[open_band] = [
        low - mean * math.log1p(-u * -math.expm1(-w / mean))
        for low, mean, u, w in zip(months_low[open_band].tolist(), mean_excess[open_band].tolist(),
                                   u_months[open_band].tolist(), width[open_band].tolist())
    ]

    # Sex: testicular disease implies male; others keep the group's male share.
    male_given_no_testis = by_group(
        lambda g: (column(g).male_percent / 100 - column(g).testicular_percent / 100) / (1 - column(g).testicular_percent / 100)
    )
    male = testicular | (uniforms("sex") < male_given_no_testis)

    columns = [column(g) for g in RELAPSE_GROUPS]
    ethnicity_probs = np.array(
        [[c.hispanic_percent, c.asian_percent, 100 - c.hispanic_percent - c.asian_percent] for c in columns]
    ) / 100
    cyto_probs = np.array(
        [[c.kmt2a_percent, c.etv6_runx1_percent, 100 - c.kmt2a_percent - c.etv6_runx1_percent] for c in columns]
    ) / 100
    ethnicity = _choose(uniforms("ethnicity"), ethnicity_probs[group_index])
    cytogenetics = _choose(uniforms("cytogenetics"), cyto_probs[group_index])
    obese = uniforms("obese") < by_group(lambda g: column(g).obese_percent / 100)

    u_resist = np.clip(uniforms("resistance"), 1e-12, 1 - 1e-12)
    if accrual_days > 0:
        enrolment = (np.arange(n_patients) + uniforms("enrolment")) / n_patients * accrual_days
    else:
        enrolment = np.zeros(n_patients)

    return Cohort(
        enrolment_day=enrolment,
        relapse_group=groups,
        relapse_site=[SITES[k] for k in site_index.tolist()],  # Python ints index faster
        months_to_relapse=months,
        age_years=age,
        sex=["male" if m else "female" for m in male.tolist()],
        ethnicity=[ETHNICITIES[k] for k in ethnicity.tolist()],
        obese=obese,
        cns_status=[CNS_STATUSES[k] for k in cns_index.tolist()],
        testicular_disease=testicular,
        cytogenetics=[CYTOGENETICS[k] for k in cytogenetics.tolist()],
        resistance_z=ndtri(u_resist),
    )
