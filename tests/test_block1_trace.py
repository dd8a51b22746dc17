"""Deterministic traces of Block 1 with fixed draws.

A stand-in for :class:`sim.model.streams.Streams` hands each decision the uniforms
the test chooses, so every time, grade and outcome can be computed by hand
from the scenario's central values and checked exactly.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
import simpy
from scipy.special import expit, log_ndtr, ndtr, ndtri

from sim.clinical import MRD_MAX_PERCENT, REMISSION_BLAST_PERCENT
from sim.model.capacity import TrackedResource
from sim.model.cohort import case_mix_for
from sim.model.phases.block1 import Block1Model, block1, kind_of
from sim.model.phases.mrd import MrdGroup
from sim.model.records import BLOCK1_ADVERSE_EVENTS, EventLog, PatientRecord
from sim.model.streams import Streams
from sim.scenario.schema import realise, with_values
from tests.conftest import SCENARIOS_DIR

THERAPY_DAYS = 28.0
RECOVERY_MEAN_DAYS = 3.5  # central value of uniform(0, 7)


class FixedStreams(Streams):
    """Streams whose every decision returns the uniforms given by name.

    A value may be one number (every patient, every column) or one number per
    patient. Asking for a decision that was not given is an error, so a trace
    states every draw it depends on.
    """

    def __init__(self, n_patients: int, draws: dict[str, float | list[float]]) -> None:
        super().__init__(seed=0, replication=0, n_patients=n_patients)
        self.fixed = draws
        self.asked: list[str] = []

    def block(self, name: str, width: int = 1) -> np.ndarray:
        if name not in self.fixed:
            raise KeyError(f"trace did not fix the draws of decision {name!r}")
        self.asked.append(name)
        values = np.asarray(self.fixed[name], dtype=float)
        if values.ndim == 1:
            values = values[:, None]
        return np.broadcast_to(values, (self.n_patients, width)).copy()


@pytest.fixture(scope="module")
def params(base_scenario):
    realised = realise(base_scenario)
    assert realised.block1.therapy_days == THERAPY_DAYS
    assert realised.block1.count_recovery_extra_days_mean == RECOVERY_MEAN_DAYS
    return realised


@pytest.fixture(scope="module")
def model(params) -> Block1Model:
    return Block1Model.build(params.block1, case_mix_for(params.cohort))


def patient(patient_id: int = 0, **overrides) -> PatientRecord:
    covariates = dict(
        relapse_group="bm_ge36", relapse_site="isolated_marrow", age_years=8.0, sex="female",
        ethnicity="non_hispanic_other", resistance_z=-1.0, enrolment_day=0.0,
    )
    covariates.update(overrides)
    return PatientRecord(patient_id=patient_id, **covariates)


def run(model: Block1Model, records: list[PatientRecord], streams: Streams, beds_capacity: int | None = None):
    env = simpy.Environment()
    beds = TrackedResource(env, beds_capacity, "inpatient_beds") if beds_capacity else None
    log = EventLog()
    processes = [env.process(block1(env, r, model, streams, log, beds)) for r in records]
    env.run()
    return env, log, [p.value for p in processes]


def events_of(log: EventLog, patient_id: int = 0) -> list[tuple[float, str, str | None]]:
    return [
        (t, e, d) for p, t, e, d in zip(log.patient_id, log.time_days, log.event, log.detail) if p == patient_id
    ]


def values_of(log: EventLog, event: str, patient_id: int = 0) -> list[float | None]:
    return [v for p, e, v in zip(log.patient_id, log.event, log.grade) if p == patient_id and e == event]


def end_of_block(u_recovery: float) -> float:
    return THERAPY_DAYS - RECOVERY_MEAN_DAYS * math.log1p(-u_recovery)


SURVIVOR_DRAWS = {
    "block1.death": 0.99,
    "block1.count_recovery": 0.5,
    "block1.worst_grade": 0.99,
    "block1.adverse_events": 0.99,
}


def test_survivor_without_adverse_events(model, params) -> None:
    record = patient()
    env, log, (outcome,) = run(model, [record], FixedStreams(1, SURVIVOR_DRAWS))
    end = 28.0 + 3.5 * math.log(2.0)  # 28 - 3.5 log(1 - 0.5)
    assert end_of_block(0.5) == end
    assert record.eob1_day == end
    assert env.now == end
    assert record.inpatient_days == end
    assert record.block1_bed_wait_days is None
    assert record.block1_max_grade == 2
    assert all(getattr(record, f"block1_{name}_grade") is None for name in BLOCK1_ADVERSE_EVENTS)
    assert record.block1_death is False and record.block1_death_day is None and record.block1_death_cause is None
    assert record.early_treatment_failure is False
    assert events_of(log) == [(0.0, "block1_start", None), (end, "block1_end", None)]
    # In remission the level is the parent log-normal's below 5%, at the patient's rank among
    # remissions; mu makes P(MRD >= 0.01%) = 0.507 in late BM relapse, failures (2.03%) counted positive.
    phi, sd = NormalDist(), params.block1.mrd_log10_sd
    mu = model.mrd["bm_ge36"].mu
    below = phi.cdf((math.log10(5) - mu) / sd)
    assert 1 - phi.cdf((math.log10(0.01) - mu) / sd) / below == pytest.approx((0.507 - 0.0203) / (1 - 0.0203), rel=1e-6)
    rank = phi.cdf(-1.0) / phi.cdf(phi.inv_cdf(1 - 0.0203))
    assert outcome.died is False and outcome.failed is False
    assert outcome.mrd_percent == pytest.approx(10 ** (mu + sd * phi.inv_cdf(rank * below)), rel=1e-6)


def test_grade_probabilities_reproduce_the_cohort_rates(model, params) -> None:
    """The solved intercepts give the scenario's grade >= 3 / >= 4 rates over the case-mix."""
    case_mix = case_mix_for(params.cohort)
    weights = case_mix.group_probabilities()
    hispanic = sum(w * case_mix.column(g).hispanic_percent / 100 for g, w in weights.items())
    asian = sum(w * case_mix.column(g).asian_percent / 100 for g, w in weights.items())
    b3, b4 = math.log(1.5), math.log(1.4)  # central odds ratios in the scenario
    g3 = (1 - hispanic - asian) * expit(model.grade3_intercept) + (hispanic + asian) * expit(model.grade3_intercept + b3)
    g4 = (1 - hispanic) * expit(model.grade4_intercept) + hispanic * expit(model.grade4_intercept + b4)
    assert g3 == pytest.approx(456 / 637, abs=1e-9)
    assert g4 == pytest.approx(159 / 637, abs=1e-9)


def _grade_cases():
    # (label, function of (p4, p3) giving the uniform, expected worst grade); ethnicity "other".
    return [
        ("zero", lambda p4, p3: 0.0, 4),
        ("just-below-p4", lambda p4, p3: math.nextafter(p4, 0.0), 4),
        ("at-p4", lambda p4, p3: p4, 3),
        ("just-below-p3", lambda p4, p3: math.nextafter(p3, 0.0), 3),
        ("at-p3", lambda p4, p3: p3, 2),
        ("near-one", lambda p4, p3: 0.999, 2),
    ]


@pytest.mark.parametrize("label, uniform, expected", _grade_cases(), ids=[c[0] for c in _grade_cases()])
def test_worst_grade_for_a_chosen_uniform(model, label, uniform, expected) -> None:
    p4, p3 = expit(model.grade4_intercept), expit(model.grade3_intercept)
    assert 0.1 < p4 < p3 < 0.9
    record = patient()
    draws = {**SURVIVOR_DRAWS, "block1.worst_grade": uniform(p4, p3), "block1.adverse_events": 0.999}
    run(model, [record], FixedStreams(1, draws))
    assert record.block1_max_grade == expected


def test_worst_grade_4_with_named_events_on_their_days(model) -> None:
    """u = 0 for every named event: grade 4 where the event has a grade 4-5 rate, else 3."""
    record = patient(sex="female")
    draws = {
        **SURVIVOR_DRAWS,
        "block1.worst_grade": 0.0,
        "block1.adverse_events": 0.0,
        "block1.adverse_event_day": 0.5,
    }
    _, log, _ = run(model, [record], FixedStreams(1, draws))
    day = 0.5 * 28.0
    # oral mucositis: grade4plus = 0; hypoalbuminaemia, female: grade 4-5 rate 0.
    expected_grades = {name: 4 for name in BLOCK1_ADVERSE_EVENTS} | {"oral_mucositis": 3, "hypoalbuminaemia": 3}
    assert record.block1_max_grade == 4
    for name in BLOCK1_ADVERSE_EVENTS:
        assert getattr(record, f"block1_{name}_grade") == expected_grades[name], name
    end = end_of_block(0.5)
    assert events_of(log) == [
        (0.0, "block1_start", None),
        *[(day, "block1_adverse_event", name) for name in BLOCK1_ADVERSE_EVENTS],
        (end, "block1_end", None),
    ]
    assert values_of(log, "block1_adverse_event") == [float(expected_grades[name]) for name in BLOCK1_ADVERSE_EVENTS]


def test_infectious_toxic_death_at_the_planned_day(model) -> None:
    record = patient()
    draws = {
        "block1.death": 0.0,
        "block1.death_infectious": 0.0,
        "block1.death_day": 0.5,
        "block1.count_recovery": 0.5,
        "block1.adverse_events": 0.999,
    }
    streams = FixedStreams(1, draws)
    env, log, (outcome,) = run(model, [record], streams)
    death_day = 0.5 * end_of_block(0.5)
    assert record.block1_death is True
    assert record.block1_death_cause == "infection"
    assert record.block1_death_day == death_day
    assert env.now == death_day
    assert record.inpatient_days == death_day
    assert record.block1_max_grade == 5
    assert record.block1_infection_grade == 5 and record.block1_sepsis_grade == 5
    others = [n for n in BLOCK1_ADVERSE_EVENTS if n not in ("infection", "sepsis")]
    assert all(getattr(record, f"block1_{n}_grade") is None for n in others)
    assert record.eob1_day is None and record.eob1_mrd_percent is None
    assert record.early_treatment_failure is False
    assert (outcome.died, outcome.failed, outcome.mrd_percent) == (True, False, None)
    assert events_of(log) == [
        (0.0, "block1_start", None),
        (death_day, "block1_adverse_event", "infection"),
        (death_day, "block1_adverse_event", "sepsis"),
        (death_day, "block1_death", "infection"),
    ]
    assert values_of(log, "block1_adverse_event") == [5.0, 5.0]
    assert "block1.worst_grade" not in streams.asked  # the dead are grade 5 without a draw


def test_non_infectious_toxic_death(model) -> None:
    record = patient()
    draws = {
        "block1.death": 0.0,
        "block1.death_infectious": 0.999,  # above the infectious share 21/22
        "block1.death_day": 0.0,
        "block1.count_recovery": 0.5,
        "block1.adverse_events": 0.999,
    }
    _, log, _ = run(model, [record], FixedStreams(1, draws))
    assert record.block1_death_cause == "toxicity"
    assert record.block1_death_day == 0.0  # death day is uniform over the block: u = 0 is its first day
    assert record.block1_infection_grade is None and record.block1_sepsis_grade is None
    assert events_of(log) == [(0.0, "block1_start", None), (0.0, "block1_death", "toxicity")]


def test_progression_death(model) -> None:
    record = patient(relapse_group="bm_lt18", age_years=8.0)
    p_toxic = model.toxic_death_young["bm_lt18"]
    draws = {
        "block1.death": p_toxic + 0.5 * 0.0096,  # inside the progression band
        "block1.death_day": 0.25,
        "block1.count_recovery": 0.5,
        "block1.adverse_events": 0.999,
    }
    _, log, _ = run(model, [record], FixedStreams(1, draws))
    assert record.block1_death_cause == "progression"
    assert record.block1_death_day == 0.25 * end_of_block(0.5)
    assert record.block1_max_grade == 5
    assert log.event[-1] == "block1_death"


def test_older_patients_carry_the_toxic_death_relative_risk(model, params) -> None:
    """p_young = p / (1 + s (RR - 1)) keeps the group rate; the old have RR times it."""
    share_old = case_mix_for(params.cohort).share_aged_at_least("bm_ge36", 18.0)
    young = 0.0186 / (1 + share_old * (2.0 - 1))
    assert model.toxic_death_young["bm_ge36"] == pytest.approx(young, rel=1e-12)
    assert model.toxic_death_old["bm_ge36"] == pytest.approx(2.0 * young, rel=1e-12)
    u = 1.5 * young  # between the two: the 20-year-old dies, the 8-year-old does not
    child, adult = patient(0, age_years=8.0), patient(1, age_years=20.0)
    draws = {**SURVIVOR_DRAWS, "block1.death": u, "block1.death_infectious": 0.0, "block1.death_day": 0.5}
    run(model, [child, adult], FixedStreams(2, draws))
    assert child.block1_death is False
    assert adult.block1_death is True


@pytest.mark.parametrize("u_unknown, mrd_known", [(0.0, False), (0.5, True)])
def test_early_treatment_failure(model, u_unknown: float, mrd_known: bool) -> None:
    # P(failure) in late BM is 0.0203: failure when z > z_0.9797 (about 2.05).
    assert model.mrd["bm_ge36"].failure_z == pytest.approx(NormalDist().inv_cdf(1 - 0.0203), rel=1e-9)
    record = patient(resistance_z=3.0)
    draws = {**SURVIVOR_DRAWS, "block1.failure_mrd_unknown": u_unknown}
    _, log, (outcome,) = run(model, [record], FixedStreams(1, draws))
    end = end_of_block(0.5)
    assert record.early_treatment_failure is True
    assert outcome.failed is True and outcome.died is False
    assert (outcome.mrd_percent is not None) is mrd_known
    assert events_of(log) == [
        (0.0, "block1_start", None), (end, "block1_end", None), (end, "early_treatment_failure", None),
    ]


def test_infinite_capacity_times_add_up_exactly(model) -> None:
    """Without a bed limit nobody waits: each end of block is 28 + its own exponential wait."""
    uniforms = [0.0, 0.1, 0.5, 0.9, 0.999]
    records = [patient(i) for i in range(len(uniforms))]
    draws = {**SURVIVOR_DRAWS, "block1.count_recovery": uniforms}
    env, log, _ = run(model, records, FixedStreams(len(records), draws))
    for record, u in zip(records, uniforms):
        extra = -3.5 * math.log1p(-u)
        assert record.eob1_day == 28.0 + extra
        assert record.block1_bed_wait_days is None
        assert events_of(log, record.patient_id)[0] == (0.0, "block1_start", None)
    assert env.now == max(r.eob1_day for r in records)


def test_one_bed_second_patient_waits_exactly_the_first_stay(model) -> None:
    first, second = patient(0), patient(1)
    draws = {**SURVIVOR_DRAWS, "block1.count_recovery": [0.5, 0.25]}
    env, log, _ = run(model, [first, second], FixedStreams(2, draws), beds_capacity=1)
    stay_first, stay_second = end_of_block(0.5), end_of_block(0.25)
    assert first.block1_bed_wait_days == 0.0
    assert first.eob1_day == stay_first
    assert second.block1_bed_wait_days == stay_first
    assert second.eob1_day == stay_first + stay_second
    assert second.inpatient_days == stay_second
    assert events_of(log, 1)[:2] == [(stay_first, "queue", "inpatient_beds: granted"), (stay_first, "block1_start", None)]
    assert [w for p, e, w in zip(log.patient_id, log.event, log.wait_days) if p == 1 and e == "queue"] == [stay_first]
    assert env.now == stay_first + stay_second


def test_one_bed_in_a_whole_replication(base_scenario) -> None:
    """The same through run_replication with real streams: two patients, day 0, one bed."""
    from sim.model.replication import run_replication
    from sim.scenario.schema import CapacitySettings, CohortSettings

    scenario = base_scenario.model_copy(update={
        "cohort": CohortSettings(n_patients=2, accrual="day0"),
        "capacity": CapacitySettings(inpatient_beds=1),
    })
    for seed in range(5):
        patients = run_replication(scenario, seed, 0)[0].to_pandas().set_index("patient_id")
        assert patients.loc[0, "block1_bed_wait_days"] == 0.0
        first_stay = patients.loc[0, "block1_death_day"] if patients.loc[0, "block1_death"] else patients.loc[0, "eob1_day"]
        assert patients.loc[1, "block1_bed_wait_days"] == first_stay


def test_extreme_short_block_does_not_crash(model, params) -> None:
    short = Block1Model.build(
        with_values(params, {"block1.therapy_days": 0.0, "block1.count_recovery_extra_days_mean": 0.0}).block1,
        case_mix_for(params.cohort),
    )
    record = patient()
    draws = {**SURVIVOR_DRAWS, "block1.worst_grade": 0.0, "block1.adverse_events": 0.0, "block1.adverse_event_day": 0.5}
    run(short, [record], FixedStreams(1, draws))
    assert record.eob1_day == 0.0


@pytest.mark.parametrize("sd", [60.0, 400.0])
def test_a_wide_mrd_spread_caps_levels_instead_of_overflowing(base_scenario, sd) -> None:
    """Spreads of ``mrd_log10_sd`` and ``mrd_response_sd`` whose powers of ten overflow a double give
    levels at the caps (5% and 100% at the end of Block 1, 100% after a consolidation cycle), not an
    OverflowError; and the map's mean is still solved (sd 400 needs the wider bracket)."""
    from sim.model.replication import run_replication
    from sim.scenario.schema import CohortSettings

    scenario = with_values(base_scenario.model_copy(update={"cohort": CohortSettings(n_patients=300, accrual="day0")}),
                           {"block1.mrd_log10_sd": sd, "consolidation.mrd_response_sd": sd})
    patients = run_replication(scenario, 3, 0)[0].to_pandas()
    failed = patients[patients.early_treatment_failure.eq(True) & patients.block1_death.eq(False)]
    assert (failed.eob1_mrd_percent.dropna() == MRD_MAX_PERCENT).any()  # a failure's level reached the top cap
    assert (failed.eob1_mrd_percent.dropna() >= REMISSION_BLAST_PERCENT).all()
    cycle = patients.cycle1_mrd_percent.dropna()
    assert (cycle == MRD_MAX_PERCENT).any() and (cycle <= MRD_MAX_PERCENT).all()
    group = MrdGroup.solve(0.1, 0.5, sd)  # the mean solved still meets the share of positive remissions
    positive = 1 - math.exp(log_ndtr((math.log10(0.01) - group.mu) / sd) - log_ndtr((math.log10(5.0) - group.mu) / sd))
    assert positive == pytest.approx((0.5 - 0.1) / (1 - 0.1), abs=1e-9)


def _plan_one_at_a_time(model: Block1Model, streams: Streams, record: PatientRecord):
    """Steps 2 to 6 of the Block 1 docstring for one patient, with Python floats: the oracle of block1_plans."""
    params, i, group = model.params, record.patient_id, record.relapse_group
    p_toxic = (model.toxic_death_old if record.age_years >= 18.0 else model.toxic_death_young)[group]
    u_death = float(streams.block("block1.death")[i, 0])
    cause = None
    if u_death < p_toxic:
        infectious = float(streams.block("block1.death_infectious")[i, 0]) < params.infectious_death_share
        cause = "infection" if infectious else "toxicity"
    elif u_death < p_toxic + getattr(params.progression_death_prob, group):
        cause = "progression"
    end_day = params.therapy_days - params.count_recovery_extra_days_mean * math.log1p(
        -float(streams.block("block1.count_recovery")[i, 0]))
    chances = model.grade_table[kind_of(record.age_years, record.sex, record.relapse_group, record.ethnicity)]
    if cause is not None:
        worst = 5
    else:
        u = float(streams.block("block1.worst_grade")[i, 0])
        worst = 4 if u < chances.p4 else (3 if u < chances.p3 else 2)
    death_day = float(streams.block("block1.death_day")[i, 0]) * end_day if cause else None
    last_day = death_day if cause else params.therapy_days
    happenings = []
    if worst >= 3:
        cuts = chances.cuts[worst, cause == "infection"]
        for k, (c5, c4, c3) in enumerate(cuts):
            u = float(streams.block("block1.adverse_events", len(BLOCK1_ADVERSE_EVENTS))[i, k])
            grade = 5 if u < c5 else 4 if u < c4 else 3 if u < c3 else None
            if grade is not None:
                day = last_day if grade == 5 else float(
                    streams.block("block1.adverse_event_day", len(BLOCK1_ADVERSE_EVENTS))[i, k]) * last_day
                happenings.append((day, k, grade))
    happenings.sort(key=lambda h: h[0])
    mrd_map, z = model.mrd[group], record.resistance_z
    failed = z > mrd_map.failure_z
    if not failed:
        mrd = mrd_map._at(float(ndtr(z)) / mrd_map.remission_share * mrd_map.below_remission)
    else:
        from_top = float(ndtr(-z)) / mrd_map.failure_share * mrd_map.above_remission
        level = 10.0 ** (mrd_map.mu - mrd_map.sd * float(ndtri(max(from_top, 1e-300))))
        mrd = min(MRD_MAX_PERCENT, max(REMISSION_BLAST_PERCENT, level))
        if cause is None and float(streams.block("block1.failure_mrd_unknown")[i, 0]) < params.mrd_unknown_after_failure_prob:
            mrd = None
    return cause, end_day, death_day, worst, happenings, failed, mrd


def _cohort_records(scenario, n: int, seed: int = 7) -> tuple[Streams, list[PatientRecord]]:
    """Every third patient of a drawn cohort of ``n``, as records (ids kept: a subset, as a trial selects)."""
    from sim.model.cohort import draw_cohort

    streams = Streams(seed, 0, n)
    cohort = draw_cohort(case_mix_for(scenario.cohort), n, 0.0, streams)
    rows = list(zip(*cohort.columns().values()))
    return streams, [PatientRecord(i, *rows[i][:-1], resistance_z=rows[i][-1]) for i in range(0, n, 3)]


@pytest.mark.parametrize("name", ["aall1331", "mitcl"])
def test_plans_drawn_for_all_patients_at_once_equal_each_patient_drawn_alone(name) -> None:
    """block1_plans reads steps 2 to 6 for a whole cohort at once; each patient's plan is the same
    doubles as the steps read one patient at a time, for every reinduction of the scenario's
    strategies (R3 Block 1, and MITCL's own table in mitcl.toml)."""
    from sim.model.phases.block1 import block1_plans
    from sim.model.replication import build_models
    from sim.scenario.load import load_scenario

    scenario = realise(load_scenario(SCENARIOS_DIR / f"{name}.toml").scenario)
    models = build_models(scenario)
    reinductions = {scenario.strategy(strategy).reinduction for strategy in scenario.strategies}
    assert reinductions == ({"r3_block1", "mitcl"} if name == "mitcl" else {"r3_block1"})
    for reinduction in sorted(reinductions):
        model = models.reinduction(reinduction)
        streams, records = _cohort_records(scenario, 6000)
        plans = block1_plans(model, streams, records)
        assert plans == [_plan_one_at_a_time(model, streams, record) for record in records]
        assert {plan.death_cause for plan in plans} == {None, "infection", "toxicity", "progression"}
        survivors = [plan for plan in plans if plan.death_cause is None]
        assert any(plan.failed and plan.mrd_percent is None for plan in survivors)
        assert any(plan.failed and plan.mrd_percent for plan in survivors)
        assert {grade for plan in plans for _, _, grade in plan.named_events} == {3, 4, 5}


class RecordingStreams(Streams):
    """Real streams that note each decision asked for."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.asked: set[str] = set()

    def block(self, name: str, width: int = 1) -> np.ndarray:
        self.asked.add(name)
        return super().block(name, width)


def test_plans_draw_only_the_decisions_some_patient_uses(params) -> None:
    """With no death in the block, no death day or infectious-death draw; with every patient dead,
    no worst-grade or response draw (each decision's stream is its own: nothing else moves)."""
    from sim.model.phases.block1 import block1_plans
    from sim.scenario.types import RELAPSE_GROUPS

    def plans_with(toxic: float, progression: float):
        values = {f"block1.{kind}_death_prob.{group}": p
                  for kind, p in (("toxic", toxic), ("progression", progression)) for group in RELAPSE_GROUPS}
        realised = with_values(params, values)
        model = Block1Model.build(realised.block1, case_mix_for(realised.cohort))
        _, records = _cohort_records(realised, 600)
        streams = RecordingStreams(7, 0, 600)
        return block1_plans(model, streams, records), streams.asked

    plans, asked = plans_with(0.0, 0.0)
    assert {plan.death_cause for plan in plans} == {None}
    assert {"block1.death_infectious", "block1.death_day"}.isdisjoint(asked)
    assert {"block1.worst_grade", "block1.failure_mrd_unknown"} <= asked
    plans, asked = plans_with(0.5, 1.0)
    assert {plan.death_cause for plan in plans} == {"infection", "toxicity", "progression"}
    assert {"block1.death_infectious", "block1.death_day"} <= asked
    assert {"block1.worst_grade", "block1.failure_mrd_unknown"}.isdisjoint(asked)


def _kinds_from_grade_table(model: Block1Model) -> dict[str, np.ndarray]:
    """``model.kinds``' arrays as the grade table gives them, kind by kind in plain floats."""
    from sim.model.phases.block1 import _CUT_VARIANTS, KINDS

    table = model.grade_table
    p_toxic = [(model.toxic_death_old if aged else model.toxic_death_young)[group] for _, _, group, aged, _ in KINDS]
    return {
        "p_toxic": np.array(p_toxic),
        "p_death": np.array([p + getattr(model.params.progression_death_prob, kind[2]) for p, kind in zip(p_toxic, KINDS)]),
        "p4": np.array([table[kind].p4 for kind in KINDS]),
        "p3": np.array([table[kind].p3 for kind in KINDS]),
        "cuts": np.array([[table[kind].cuts[variant] for variant in _CUT_VARIANTS] for kind in KINDS]),
    }


@pytest.mark.parametrize("name", ["aall1331", "mitcl"])
def test_every_kinds_chances_worked_out_together_equal_each_worked_out_alone(name) -> None:
    """``PatientKinds`` works out every kind of patient's chances in arrays at once; they are the
    doubles ``GradeChances.of`` gives kind by kind, for each reinduction, at the central values,
    at sampled draws, and where chances hit their bounds or Python's ``max`` and ``min`` part from
    numpy's (no death; every patient dying; grade 4 as likely as grade 3, or never; a NaN chance;
    a rate of -0.0)."""
    from sim.model.phases.block1 import KIND_INDEX, KINDS
    from sim.model.replication import realised_parameters
    from sim.scenario.load import load_scenario
    from sim.scenario.types import RELAPSE_GROUPS

    scenario = load_scenario(SCENARIOS_DIR / f"{name}.toml").scenario
    sampled = scenario.model_copy(update={"run": scenario.run.model_copy(update={"parameter_mode": "sampled"})})
    central = realise(scenario)
    variants = [central, *(realised_parameters(sampled, 3, r) for r in range(3))]
    for toxic, progression in ((0.0, 0.0), (0.6, 0.4)):  # with no relative risk at 18+, 0.6 + 0.4 leaves no survivor
        variants.append(with_values(central, {
            "block1.toxic_death_rr_age_18_plus": 1.0,
            **{f"block1.{kind}_death_prob.{group}": p
               for kind, p in (("toxic", toxic), ("progression", progression)) for group in RELAPSE_GROUPS}}))
    grade3 = central.block1.grade3plus_given_survival
    for values in ({"block1.grade4plus_given_survival": grade3, "block1.grade4plus_or_hispanic": 20.0},  # p3 < p4
                   {"block1.grade4plus_given_survival": 0.0},
                   {"block1.adverse_events.oral_mucositis.grade4plus": -0.0}):
        variants.append(with_values(central, values))
    # expit(-inf + inf), a NaN chance: a scenario cannot give an infinite odds ratio (refused as not finite),
    # so it is set on the realised parameters, past validation
    never = with_values(central, {"block1.grade4plus_given_survival": 0.0, "block1.grade3plus_given_survival": 0.0})
    infinite = {"grade3plus_or_hispanic_or_asian": math.inf}
    variants.append(never.model_copy(update={
        "block1": never.block1.model_copy(update=infinite),
        "reinduction": {name: params.model_copy(update=infinite) for name, params in never.reinduction.items()}}))
    for params in variants:
        for block1_params in (params.block1, *params.reinduction.values()):
            model = Block1Model.build(block1_params, case_mix_for(params.cohort))
            kinds = model.kinds
            assert list(kinds.index) == list(KINDS) == list(model.grade_table) and kinds.index == KIND_INDEX
            for field, expected in _kinds_from_grade_table(model).items():
                actual = getattr(kinds, field)
                assert actual.shape == expected.shape and actual.tobytes() == expected.tobytes(), field
            assert [RELAPSE_GROUPS[g] for g in kinds.group] == [kind[2] for kind in KINDS]
