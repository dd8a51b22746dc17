"""Seeded statistical checks: simulated rates vs the rates the parameters imply.

One run of the full 661-patient cohort, 40 replications, fixed seed (the
``full_run`` session fixture). Patients are drawn independently, so each
pooled rate is a binomial proportion and its Monte Carlo standard error is
``sqrt(p (1 - p) / n)`` with ``p`` the expected value derived below from the
scenario's central values and the case-mix. Each check allows 4 standard
errors: a correct model fails one of these checks with probability well
under 1 in 1,000, while a wrong formula (a rate applied to the wrong group, a
relative risk that does not keep the group rate, a lost conditioning) moves
a rate by many standard errors.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pandas as pd
import pytest
from scipy.special import expit

from sim.model.cohort import case_mix_for, load_case_mix
from sim.model.phases.block1 import Block1Model
from sim.scenario.schema import realise
from sim.scenario.types import RELAPSE_GROUPS
from tests.conftest import FULL_RUN_REPLICATIONS

TOLERANCE_SE = 4.0
PHI = NormalDist()


@pytest.fixture(scope="module")
def params(base_scenario):
    return realise(base_scenario)


@pytest.fixture(scope="module")
def patients(full_run) -> pd.DataFrame:
    patients, _ = full_run
    assert len(patients) == 661 * FULL_RUN_REPLICATIONS
    return patients


@pytest.fixture(scope="module")
def group_shares() -> dict[str, float]:
    return load_case_mix().group_probabilities()


def death_prob(params, group: str) -> float:
    """Toxic + progression death in Block 1; the age relative risk keeps the group rate."""
    return getattr(params.block1.toxic_death_prob, group) + getattr(params.block1.progression_death_prob, group)


def failure_prob(params, group: str) -> float:
    """Early treatment failure among everyone enrolled: survive Block 1, then fail."""
    return (1 - death_prob(params, group)) * getattr(params.block1.early_treatment_failure_prob, group)


def assert_rate(indicator: pd.Series, expected: float, label: str) -> None:
    n = len(indicator)
    observed = float(indicator.astype(float).mean())
    se = math.sqrt(expected * (1 - expected) / n)
    assert se > 0, label
    z = (observed - expected) / se
    assert abs(z) <= TOLERANCE_SE, f"{label}: simulated {observed:.5f} vs expected {expected:.5f} (n={n}, z={z:+.2f})"


def in_group(patients: pd.DataFrame, group: str) -> pd.DataFrame:
    return patients[patients["relapse_group"] == group]


# --- case-mix -------------------------------------------------------------------------

@pytest.mark.parametrize("group, count", [("bm_lt18", 84), ("bm_18_36", 125), ("bm_ge36", 323), ("iem_lt18", 32), ("iem_ge18", 97)])
def test_relapse_group_shares(patients, group: str, count: int) -> None:
    assert_rate(patients["relapse_group"] == group, count / 661, f"share {group}")


def test_testicular_disease_means_male(patients) -> None:
    assert (patients.loc[patients["testicular_disease"], "sex"] == "male").all()


# --- Block 1 death ---------------------------------------------------------------------

def test_block1_death_rate(patients, params, group_shares) -> None:
    expected = sum(group_shares[g] * death_prob(params, g) for g in RELAPSE_GROUPS)
    assert_rate(patients["block1_death"], expected, "Block 1 death")


@pytest.mark.parametrize("group", RELAPSE_GROUPS)
def test_block1_death_rate_by_group(patients, params, group: str) -> None:
    assert_rate(in_group(patients, group)["block1_death"], death_prob(params, group), f"Block 1 death, {group}")


def test_progression_deaths_only_where_the_scenario_puts_them(patients, params) -> None:
    progression = patients["block1_death_cause"] == "progression"
    for group in RELAPSE_GROUPS:
        if getattr(params.block1.progression_death_prob, group) == 0.0:
            assert not progression[patients["relapse_group"] == group].any(), group
    early_bm = patients["relapse_group"].isin(["bm_lt18", "bm_18_36"])
    assert_rate(progression[early_bm], 0.0096, "progression death, early BM")


def test_infectious_share_of_toxic_deaths(patients, params) -> None:
    toxic = patients[patients["block1_death_cause"].isin(["infection", "toxicity"])]
    assert len(toxic) > 500
    assert_rate(toxic["block1_death_cause"] == "infection", params.block1.infectious_death_share, "infectious share")


# --- early treatment failure ---------------------------------------------------------------

def test_early_treatment_failure_rate(patients, params, group_shares) -> None:
    expected = sum(group_shares[g] * failure_prob(params, g) for g in RELAPSE_GROUPS)
    assert_rate(patients["early_treatment_failure"], expected, "early treatment failure")


@pytest.mark.parametrize("group", RELAPSE_GROUPS)
def test_early_treatment_failure_rate_by_group(patients, params, group: str) -> None:
    assert_rate(in_group(patients, group)["early_treatment_failure"], failure_prob(params, group), f"ETF, {group}")


# --- worst grade -------------------------------------------------------------------------

def _grade_probs(model: Block1Model, ethnicity: str) -> tuple[float, float]:
    """(P grade >= 4, P grade >= 3) for a Block 1 survivor of this ethnicity."""
    p4 = expit(model.grade4_intercept + (model.grade4_log_or if ethnicity == "hispanic" else 0.0))
    p3 = expit(model.grade3_intercept + (model.grade3_log_or if ethnicity != "non_hispanic_other" else 0.0))
    return p4, max(p4, p3)


def _expected_grade_rate(params, level: int) -> float:
    """E[worst grade >= level] = sum over groups and ethnicities: death (grade 5) or survival
    with the ethnicity's grade probability."""
    case_mix = case_mix_for(params.cohort)
    model = Block1Model.build(params.block1, case_mix)
    total = 0.0
    for group, share in case_mix.group_probabilities().items():
        column = case_mix.column(group)
        ethnic_shares = {
            "hispanic": column.hispanic_percent / 100,
            "non_hispanic_asian": column.asian_percent / 100,
            "non_hispanic_other": 1 - (column.hispanic_percent + column.asian_percent) / 100,
        }
        survivor = sum(w * _grade_probs(model, e)[0 if level == 4 else 1] for e, w in ethnic_shares.items())
        d = death_prob(params, group)
        total += share * (d + (1 - d) * survivor)
    return total


def test_grade3plus_rate(patients, params) -> None:
    assert_rate(patients["block1_max_grade"] >= 3, _expected_grade_rate(params, 3), "worst grade >= 3")


def test_grade4plus_rate(patients, params) -> None:
    assert_rate(patients["block1_max_grade"] >= 4, _expected_grade_rate(params, 4), "worst grade >= 4")


def test_grade3plus_among_survivors_is_the_scenario_rate(patients, params) -> None:
    """Among survivors the rate is grade3plus_given_survival up to the survivors' ethnicity mix
    (a shift far below one standard error), so this holds at the same tolerance."""
    survivors = patients[~patients["block1_death"]]
    assert_rate(survivors["block1_max_grade"] >= 3, params.block1.grade3plus_given_survival, "grade >= 3 | survival")


# --- MRD, risk assignment, randomisation ---------------------------------------------------

def _late_and_assigned(patients: pd.DataFrame, group: str) -> pd.DataFrame:
    return in_group(patients, group)[lambda df: df["risk_group"].notna()]


@pytest.mark.parametrize("group", ["bm_lt18", "bm_18_36", "bm_ge36"])
def test_mrd_positive_among_risk_assigned(patients, params, group: str) -> None:
    """MRD >= 0.01% iff z > z_pos with P(z > z_pos) = m; failures are the top tail f of z and
    leave before assignment, which is independent of z: P = (m - f) / (1 - f)."""
    m = getattr(params.block1.mrd_ge_0_01_prob, group)
    f = getattr(params.block1.early_treatment_failure_prob, group)
    assigned = _late_and_assigned(patients, group)
    assert_rate(assigned["eob1_mrd_percent"] >= 0.01, (m - f) / (1 - f), f"MRD >= 0.01%, assigned {group}")


def test_ir_among_risk_assigned_late_bm(patients, params) -> None:
    """IR iff MRD >= 0.1%: among remissions, the parent log-normal's share in [0.1%, 5%) of its share below 5%,
    with mu solved so that P(MRD >= 0.01%) is the group's parameter (sim.model.phases.mrd)."""
    m, f = params.block1.mrd_ge_0_01_prob.bm_ge36, params.block1.early_treatment_failure_prob.bm_ge36
    sd = params.block1.mrd_log10_sd
    share = (m - f) / (1 - f)  # P(>= 0.01% | remission)
    # solve mu by bisection, independently of the model's solver
    low, high = -30.0, 30.0
    for _ in range(200):
        mu = (low + high) / 2
        below = PHI.cdf((math.log10(5) - mu) / sd)
        if 1 - PHI.cdf((-2 - mu) / sd) / below < share:
            low = mu
        else:
            high = mu
    below = PHI.cdf((math.log10(5) - mu) / sd)
    expected = 1 - PHI.cdf((-1 - mu) / sd) / below
    assert_rate(_late_and_assigned(patients, "bm_ge36")["risk_group"] == "IR", expected, "IR | assigned late BM")


def test_not_assigned_among_eligible(patients, params) -> None:
    eligible = patients[~patients["block1_death"] & ~patients["early_treatment_failure"]]
    assert_rate(eligible["not_assigned_reason"].notna(), params.assignment.not_assigned_prob, "never assigned")


@pytest.mark.parametrize("risk_group", ["LR", "IR", "HR"])
def test_randomisation_by_risk_group(patients, params, risk_group: str) -> None:
    assigned = patients[patients["risk_group"] == risk_group]
    expected = getattr(params.assignment.randomisation_prob, risk_group)
    assert_rate(assigned["randomized"], expected, f"randomised | {risk_group}")
