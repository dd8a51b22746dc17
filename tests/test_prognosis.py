"""The prognostic layer (``sim.model.phases.prognosis``): direction, monotonicity, and switching off.

* a deterministic trace: two patients identical but for the time to first
  relapse (< 18 vs >= 36 months) meet the same relapse uniforms; the early
  one relapses, the late one does not;
* a hypothesis property: a higher marrow MRD never lowers relapse risk, in
  any state that draws a relapse clock (HR/IR without HSCT, after HSCT, LR);
* every effect set to zero makes its covariate irrelevant; set to a non-zero
  value, the covariate matters (so the test can fail);
* in a whole replication, the off-protocol effect changes only the patients
  who get off-protocol care.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model.phases.consolidation import no_hsct_relapse_day
from sim.model.phases.hsct import transplant_outcome_days
from sim.model.phases.low_risk import low_risk_relapse_day
from sim.model.phases.prognosis import mrd_log_odds, relapse_shift, salvage_death_shift
from sim.model.records import PatientRecord
from sim.model.replication import run_replication
from sim.model.survival import adjusted_prob, expit, logit
from sim.scenario.load import load_scenario
from sim.scenario.schema import realise, with_values
from tests.conftest import small_cohort_body, write_scenario
from tests.test_block1_trace import FixedStreams

EFFECTS = (
    "relapse_lt18_months_log_odds", "relapse_18_36_months_log_odds", "mrd_positive_log_odds",
    "mrd_per_log10_log_odds", "mrd_unknown_log_odds", "isolated_marrow_log_odds", "marrow_cns2_log_odds",
    "age_18_plus_log_odds", "male_log_odds", "obese_extramedullary_log_odds", "early_relapse_after_hsct_log_odds",
    "off_protocol_log_odds",
)


@pytest.fixture(scope="module")
def params(base_scenario):
    return realise(base_scenario)


def patient(**overrides) -> PatientRecord:
    """The reference patient: late combined marrow relapse, female, 8, CNS3, on protocol."""
    covariates = {
        "relapse_group": "bm_ge36", "relapse_site": "marrow_cns", "months_to_relapse": 48.0, "age_years": 8.0,
        "sex": "female", "ethnicity": "non_hispanic_other", "obese": False, "cns_status": "CNS3",
        "testicular_disease": False, "resistance_z": 0.0, "enrolment_day": 0.0,
    }
    covariates.update(overrides)
    record = PatientRecord(patient_id=0, **covariates)
    record.now_days = record.eob1_day = 30.0
    return record


# Pairs of records that differ only in what one effect reads (with the MRD that goes with it).
CONTRASTS = {
    "relapse_lt18_months_log_odds": ({"months_to_relapse": 12.0, "relapse_group": "bm_lt18"}, {}, 0.001),
    "relapse_18_36_months_log_odds": ({"months_to_relapse": 24.0, "relapse_group": "bm_18_36"}, {}, 0.001),
    "isolated_marrow_log_odds": ({"relapse_site": "isolated_marrow", "cns_status": "CNS1"},
                                 {"relapse_site": "marrow_testis", "cns_status": "CNS1"}, 0.001),
    "marrow_cns2_log_odds": ({"cns_status": "CNS2"}, {}, 0.001),
    "age_18_plus_log_odds": ({"age_years": 19.0}, {}, 0.001),
    "male_log_odds": ({"sex": "male"}, {}, 0.001),
    "obese_extramedullary_log_odds": ({"obese": True, "relapse_group": "iem_ge18", "relapse_site": "isolated_cns"},
                                      {"obese": False, "relapse_group": "iem_ge18", "relapse_site": "isolated_cns"}, 0.001),
    "off_protocol_log_odds": ({"off_protocol_therapy": "chemo"}, {}, 0.001),
}


def shifts(record: PatientRecord, effects, mrd: float | None) -> tuple[float, float]:
    return relapse_shift(record, effects, mrd), salvage_death_shift(record, effects)


@pytest.mark.parametrize("effect", sorted(CONTRASTS))
def test_an_effect_set_to_zero_changes_nothing(params, effect) -> None:
    exposed, unexposed, mrd = CONTRASTS[effect]
    off = with_values(params, {f"prognosis.{effect}": 0.0}).prognosis
    on = with_values(params, {f"prognosis.{effect}": 0.5}).prognosis
    assert shifts(patient(**exposed), off, mrd) == shifts(patient(**unexposed), off, mrd)
    assert shifts(patient(**exposed), on, mrd) != shifts(patient(**unexposed), on, mrd)


@pytest.mark.parametrize("effect, mrd_low, mrd_high", [
    ("mrd_positive_log_odds", 0.005, 0.02), ("mrd_per_log10_log_odds", 0.02, 5.0), ("mrd_unknown_log_odds", 0.005, None),
])
def test_mrd_effects_set_to_zero_change_nothing(params, effect, mrd_low, mrd_high) -> None:
    others = {f"prognosis.{name}": 0.0 for name in ("mrd_positive_log_odds", "mrd_per_log10_log_odds", "mrd_unknown_log_odds")}
    off = with_values(params, others).prognosis
    on = with_values(params, {**others, f"prognosis.{effect}": 0.5}).prognosis
    assert mrd_log_odds(mrd_low, off) == mrd_log_odds(mrd_high, off) == 0.0
    assert mrd_log_odds(mrd_low, on) != mrd_log_odds(mrd_high, on)


def test_early_relapse_after_hsct_effect_set_to_zero_changes_nothing(params) -> None:
    early, late = patient(), patient()
    for record, days_since in ((early, 60.0), (late, 900.0)):
        record.hsct, record.hsct_day, record.now_days = True, 100.0, 100.0 + days_since
    off = with_values(params, {"prognosis.early_relapse_after_hsct_log_odds": 0.0}).prognosis
    on = with_values(params, {"prognosis.early_relapse_after_hsct_log_odds": 1.0}).prognosis
    assert salvage_death_shift(early, off) == salvage_death_shift(late, off)
    assert salvage_death_shift(early, on) == salvage_death_shift(late, on) + 1.0


def test_every_effect_has_a_contrast() -> None:
    covered = set(CONTRASTS) | {"mrd_positive_log_odds", "mrd_per_log10_log_odds", "mrd_unknown_log_odds",
                                "early_relapse_after_hsct_log_odds"}
    assert covered == set(EFFECTS)


def test_early_relapse_to_first_relapse_raises_relapse_risk_in_a_trace(params) -> None:
    """Same uniforms, same MRD: relapse < 18 months from diagnosis relapses, >= 36 months does not."""
    effects = params.prognosis
    base = params.consolidation.no_hsct_relapse_prob
    p_late = adjusted_prob(base, relapse_shift(patient(), effects, 0.001))
    early = patient(months_to_relapse=12.0, relapse_group="bm_lt18")
    p_early = adjusted_prob(base, relapse_shift(early, effects, 0.001))
    assert p_early > p_late
    u = 0.5 * (p_early + p_late)
    draws = {"consolidation.relapse": u, "consolidation.relapse_day": 0.5}
    days = {}
    for name, record in (("early", early), ("late", patient())):
        days[name] = no_hsct_relapse_day(record, params.consolidation, 30.0, 0.001, effects, FixedStreams(1, draws))
    assert math.isfinite(days["early"]) and days["late"] == math.inf


RECORDS = st.builds(
    lambda months, site_group, age, sex, obese, cns, off: patient(
        months_to_relapse=months, relapse_group=site_group[0], relapse_site=site_group[1], age_years=age,
        sex=sex, obese=obese, cns_status=cns, off_protocol_therapy=off,
    ),
    months=st.floats(1.0, 150.0),
    site_group=st.sampled_from([("bm_ge36", "isolated_marrow"), ("bm_lt18", "marrow_cns"), ("iem_ge18", "isolated_cns"),
                                ("bm_18_36", "marrow_testis"), ("iem_lt18", "isolated_testis")]),
    age=st.floats(1.0, 30.0), sex=st.sampled_from(["male", "female"]), obese=st.booleans(),
    cns=st.sampled_from(["CNS1", "CNS2", "CNS3"]), off=st.sampled_from([None, "chemo", "blinatumomab", "palliative"]),
)
MRD = st.floats(1e-6, 100.0)
UNIFORM = st.floats(0.0, 0.999999)


@settings(max_examples=200, deadline=None)
@given(record=RECORDS, mrd_a=MRD, mrd_b=MRD, u=UNIFORM, positive=st.floats(0.0, 3.0), slope=st.floats(0.0, 2.0))
def test_higher_mrd_never_lowers_relapse_risk_in_any_state(params, record, mrd_a, mrd_b, u, positive, slope) -> None:
    low, high = sorted((mrd_a, mrd_b))
    p = with_values(params, {"prognosis.mrd_positive_log_odds": positive, "prognosis.mrd_per_log10_log_odds": slope})
    effects = p.prognosis
    assert relapse_shift(record, effects, low) <= relapse_shift(record, effects, high)
    draws = {"consolidation.relapse": u, "consolidation.relapse_day": 0.5, "low_risk.relapse": u,
             "low_risk.relapse_day": 0.5, "hsct.relapse": u, "hsct.relapse_day": 0.5, "hsct.trm": 0.999,
             "hsct.trm_day": 0.5}
    for mrd_pair in ((low, high),):
        relapse_days = []
        for mrd in mrd_pair:
            streams = FixedStreams(1, draws)
            relapse_days.append((
                no_hsct_relapse_day(record, p.consolidation, 30.0, mrd, effects, streams),
                low_risk_relapse_day(record, p.low_risk, "chemo", mrd, effects, streams),
                transplant_outcome_days(record, p.hsct, mrd, effects, streams)[0],
            ))
        # A relapse at the lower MRD means a relapse, on the same day, at the higher one.
        for at_low, at_high in zip(*relapse_days):
            assert at_high <= at_low


def test_off_protocol_effect_touches_only_patients_in_off_protocol_care(tmp_path) -> None:
    scenario = realise(load_scenario(write_scenario(tmp_path, small_cohort_body(300))).scenario)
    off = run_replication(with_values(scenario, {"prognosis.off_protocol_log_odds": 0.0}), 5, 0)[0].to_pandas()
    on = run_replication(with_values(scenario, {"prognosis.off_protocol_log_odds": 2.0}), 5, 0)[0].to_pandas()
    reached = off["off_protocol_therapy"].isin(["chemo", "blinatumomab"])
    assert reached.sum() > 5
    columns = ["efs_days", "efs_event", "os_days", "os_event", "relapse_day"]
    untouched_off, untouched_on = off.loc[~reached, columns], on.loc[~reached, columns]
    assert untouched_off.equals(untouched_on)
    assert not off.loc[reached, columns].equals(on.loc[reached, columns])


@given(p=st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1e-13, 1e-12, 0.5, 1 - 1e-12, 1.0])),
       shift=st.one_of(st.floats(-40.0, 40.0), st.just(0.0)))
def test_adjusted_prob_is_the_logistic_of_the_shifted_logit(p: float, shift: float) -> None:
    """``adjusted_prob`` computes ``expit(logit(p) + shift)`` in place: the same value, bit for bit."""
    expected = p if shift == 0.0 else expit(logit(p) + shift)
    assert adjusted_prob(p, shift) == expected
