"""Reinduction Block 1 (UKALL R3): toxicity, death, response and end-of-block MRD.

Clinical steps, in order, for one patient:

1. **Admission.** Inpatient from day 0 (waits for a bed when the scenario
   limits beds, ``sim.model.capacity``; the bed is held to the end of the block).
2. **Death in the block.** One uniform decides toxic death, death from
   progression, or survival (uniform day of death inside the block). Toxic death has the group rate of AALL1331
   (section 3.1), shifted towards patients aged 18 or more by a relative risk
   while keeping each group's rate: ``p_young = p / (1 + s (RR - 1))``, where
   ``s`` is the group's share aged >= 18 in the case-mix. A share of toxic
   deaths is infectious (21 of 22). The day of death is uniform inside the
   block.
3. **Worst adverse-event grade** of survivors: grade >= 4 and >= 3 from
   logistic models whose intercepts are solved so the cohort rates match
   section 3.3 while Hispanic (>= 4) and Hispanic or Asian (>= 3) patients
   have the stated higher odds. Deaths are grade 5.
4. **Named events** (febrile neutropenia, infection, sepsis, mucositis, ...),
   each drawn *given the worst grade*, so a named grade never exceeds it:
   with ``r4`` and ``r3`` the patient's published grade 4-5 and 3-5 rates (by
   age band or sex; infectious events scaled by relapse group),
   ``q4 = (r4 - P5 c5) / P4`` and ``q3 = (r3 - r4) / (P3 + P4 (1 - q4))`` are
   the chances that an event reaches grade 4 in a worst-grade-4 patient and
   grade 3 otherwise; ``c5`` is 1 for infection and sepsis in an infectious
   death. This reproduces the published rates on average. Event days are
   uniform over the block (before death, for a patient who dies).
5. **End of block** at day 28 plus an exponential wait for count recovery.
6. **Response.** The patient's latent disease resistance ``z`` sets both
   early treatment failure (the top ``p_fail`` tail of ``z`` in the group) and
   the end-of-block marrow MRD level, below 5% blasts in remission and at or
   above it in failure, with ``P(MRD >= 0.01%)`` the group's parameter
   (``sim.model.phases.mrd``). A share of failures have no MRD result.

Steps 2 to 6 depend on nothing but the patient and the draws (not on the day
the block starts, nor on other patients), so a replication draws them for all
its patients at once (:func:`block1_plans`, in arrays) and each patient's
process lives its plan (:func:`block1`; in SimPy time when the run limits a
resource, else on the patient's own clock): the same numbers as
drawing one patient at a time (the README's benchmark section says what it saves).

Parameters: ``[block1]`` of the scenario (AALL1331-all sections 3.1-3.3).
Streams: ``block1.*``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from operator import attrgetter
from typing import Generator, NamedTuple, Sequence

import numpy as np
import simpy
from scipy.optimize import brentq
from scipy.special import expit

from sim.model.cohort import ETHNICITIES, CaseMix
from sim.model.phases.common import queue_for, race, start_therapy_block
from sim.model.phases.mrd import MrdGroup
from sim.model.records import BLOCK1_ADVERSE_EVENTS, EventLog, PatientRecord
from sim.model.streams import Streams
from sim.scenario.schema import Block1Params, EventRates
from sim.scenario.types import AE_AGE_BANDS, AE_GROUPS, RELAPSE_GROUPS

FATAL_IN_INFECTIOUS_DEATH = frozenset({"infection", "sepsis"})
GRADE_COLUMNS = tuple(f"block1_{name}_grade" for name in BLOCK1_ADVERSE_EVENTS)
_FATAL = tuple(name in FATAL_IN_INFECTIOUS_DEATH for name in BLOCK1_ADVERSE_EVENTS)  # per named event
# (worst grade, infectious death): what each set of a kind's named-event cuts is for, in this order
_CUT_VARIANTS = ((3, False), (4, False), (5, False), (5, True))
AE_GROUP_OF = {
    "bm_lt18": "early_bm",
    "bm_18_36": "early_bm",
    "bm_ge36": "late_bm",
    "iem_lt18": "early_iem",
    "iem_ge18": "late_iem",
}


def ae_age_band(age_years: float) -> str:
    """Age bands of the AALL1331 toxicity tables."""
    if age_years < 10:
        return "age_1_9"
    return "age_10_18" if age_years < 19 else "age_19_30"


def _solve_intercept(target: float, log_odds_ratio: float, exposed_share: float) -> float:
    """Intercept ``a`` with ``(1 - s) expit(a) + s expit(a + b) = target``."""
    if target <= 0.0:
        return -math.inf
    if target >= 1.0:
        return math.inf
    mean = lambda a: (1 - exposed_share) * expit(a) + exposed_share * expit(a + log_odds_ratio) - target  # noqa: E731
    return brentq(mean, -40.0, 40.0, xtol=1e-12)


@dataclass(frozen=True)
class Block1Model:
    """Constants derived once per replication from realised ``[block1]`` parameters."""

    params: Block1Params
    toxic_death_young: dict[str, float]
    toxic_death_old: dict[str, float]
    grade3_intercept: float
    grade4_intercept: float
    grade3_log_or: float
    grade4_log_or: float
    mrd: dict[str, MrdGroup]  # relapse group -> response and MRD map (sim.model.phases.mrd)
    # (age band, sex, AE group) -> per named event, in BLOCK1_ADVERSE_EVENTS order, its (r3, r4) rates
    event_rate_table: dict[tuple[str, str, str], tuple[tuple[float, float], ...]]
    # ethnicity -> (worst grade >= 4, worst grade >= 3) given survival, from the logistic models (step 3)
    grade_chances: dict[str, tuple[float, float]]
    kinds: "PatientKinds"  # every kind of patient's chances as arrays, read for all patients at once

    @functools.cached_property
    def grade_table(self) -> dict[tuple[str, str, str, bool, str], "GradeChances"]:
        """The chances of ``kinds``, kind by kind (a key is a kind, as :func:`kind_of` gives it), each
        worked out alone in plain floats: for reading, and for the tests that hold ``kinds`` to it.
        Built on first use: a replication reads ``kinds`` only."""
        young, old = self.toxic_death_young, self.toxic_death_old
        return {
            (band, sex, group, aged_18_plus, ethnicity): GradeChances.of(
                self.params, group, (old if aged_18_plus else young)[group],
                self.event_rate_table[(band, sex, AE_GROUP_OF[group])], *self.grade_chances[ethnicity])
            for band, sex, group, aged_18_plus, ethnicity in KINDS
        }

    @classmethod
    def build(cls, params: Block1Params, case_mix: CaseMix) -> "Block1Model":
        weights = case_mix.group_probabilities()
        rr = params.toxic_death_rr_age_18_plus
        young, old = {}, {}
        for group in RELAPSE_GROUPS:
            share_old = case_mix.share_aged_at_least(group, 18.0)
            young[group] = getattr(params.toxic_death_prob, group) / (1 + share_old * (rr - 1))
            old[group] = min(1.0, young[group] * rr)

        hispanic = sum(weights[g] * case_mix.column(g).hispanic_percent / 100 for g in RELAPSE_GROUPS)
        asian = sum(weights[g] * case_mix.column(g).asian_percent / 100 for g in RELAPSE_GROUPS)
        log_or3 = math.log(params.grade3plus_or_hispanic_or_asian)
        log_or4 = math.log(params.grade4plus_or_hispanic)

        mrd = {
            group: MrdGroup.solve(getattr(params.early_treatment_failure_prob, group),
                                  getattr(params.mrd_ge_0_01_prob, group), params.mrd_log10_sd)
            for group in RELAPSE_GROUPS
        }

        ae_weights = {a: 0.0 for a in AE_GROUPS}
        for group in RELAPSE_GROUPS:
            ae_weights[AE_GROUP_OF[group]] += weights[group]
        table = params.infection_by_ae_group
        multiplier = {}
        for level in ("grade3plus", "grade4plus"):
            rates = getattr(table, level)
            mean = sum(ae_weights[a] * getattr(rates, a) for a in AE_GROUPS)
            for a in AE_GROUPS:
                multiplier.setdefault(a, []).append(getattr(rates, a) / mean if mean > 0 else 1.0)
        infection_multiplier = {a: tuple(m) for a, m in multiplier.items()}
        named = params.adverse_events.named()
        event_rate_table = {
            (band, sex, group): tuple(
                event_rates(named[name], band, sex, infection_multiplier[group]) for name in BLOCK1_ADVERSE_EVENTS
            )
            for band in AE_AGE_BANDS for sex in ("male", "female") for group in AE_GROUPS
        }
        grade3_intercept = _solve_intercept(params.grade3plus_given_survival, log_or3, hispanic + asian)
        grade4_intercept = _solve_intercept(params.grade4plus_given_survival, log_or4, hispanic)
        grade_chances = {
            ethnicity: (expit(grade4_intercept + (log_or4 if ethnicity == ETHNICITIES[0] else 0.0)),
                        expit(grade3_intercept + (log_or3 if ethnicity != ETHNICITIES[2] else 0.0)))
            for ethnicity in ETHNICITIES
        }
        return cls(
            params=params,
            toxic_death_young=young,
            toxic_death_old=old,
            grade3_intercept=grade3_intercept,
            grade4_intercept=grade4_intercept,
            grade3_log_or=log_or3,
            grade4_log_or=log_or4,
            mrd=mrd,
            event_rate_table=event_rate_table,
            grade_chances=grade_chances,
            kinds=PatientKinds.of(params, young, old, event_rate_table, grade_chances),
        )


_COVARIATES = attrgetter("age_years", "sex", "relapse_group", "ethnicity")  # what sets a patient's kind


def kind_of(age_years: float, sex: str, relapse_group: str, ethnicity: str) -> tuple[str, str, str, bool, str]:
    """The kind of patient Block 1's chances are tabled by (a row of ``KINDS``)."""
    return ae_age_band(age_years), sex, relapse_group, age_years >= 18.0, ethnicity


# Every kind of patient (age band, sex, relapse group, aged 18+, ethnicity), in the order of PatientKinds' rows.
KINDS = tuple((band, sex, group, aged_18_plus, ethnicity) for band in AE_AGE_BANDS for sex in ("male", "female")
              for group in RELAPSE_GROUPS for aged_18_plus in (False, True) for ethnicity in ETHNICITIES)
KIND_INDEX = {kind: k for k, kind in enumerate(KINDS)}
_KIND_GROUP = np.array([RELAPSE_GROUPS.index(group) for _, _, group, _, _ in KINDS])


def event_rates(
    rates: EventRates, band: str, sex: str, multipliers: tuple[float, float]
) -> tuple[float, float]:
    """Published (grade 3-5, grade 4-5) rates of one event for an age band, sex and
    relapse-group infection multiplier (applied to infectious events only)."""
    out = []
    for level, k in (("grade3plus", 0), ("grade4plus", 1)):
        value = getattr(rates, level)
        if value is None:
            by_age = getattr(rates, f"{level}_by_age")
            value = getattr(by_age, band) if by_age is not None else getattr(getattr(rates, f"{level}_by_sex"), sex)
        if rates.infectious:
            value *= multipliers[k]
        out.append(min(value, 1.0))
    r3, r4 = out
    return r3, min(r4, r3)


class Block1Outcome(NamedTuple):  # a tuple: built for every patient, at half a frozen dataclass's cost
    died: bool
    failed: bool
    mrd_percent: float | None  # the measured result; None when unknown
    censored: bool = False     # follow-up ended before Block 1 did (possible only with a bed queue)


@dataclass(frozen=True)
class GradeChances:
    """One kind of patient's worst-grade chances and the cuts of its named-event uniforms (step 4)."""

    p4: float   # worst grade >= 4, given survival
    p3: float   # worst grade >= 3, given survival
    # (worst grade, infectious death) -> per named event, in BLOCK1_ADVERSE_EVENTS order, the cuts
    # (c5, c4, c3) of its uniform u, from the event's (q4, q3):
    # grade 5 if u < c5, else 4 if u < c4, else 3 if u < c3, else none (step 4)
    cuts: dict[tuple[int, bool], tuple[tuple[float, float, float], ...]]

    @classmethod
    def of(cls, params: Block1Params, group: str, p_toxic: float, rates: tuple[tuple[float, float], ...],
           p4: float, p3: float) -> "GradeChances":
        p3 = max(p4, p3)
        p_death = p_toxic + getattr(params.progression_death_prob, group)
        p_infectious_death = p_toxic * params.infectious_death_share
        survive = 1.0 - p_death
        named = tuple(
            _named_event_chances(r3, r4, p_infectious_death, survive * p4, survive * (p3 - p4),
                                 name in FATAL_IN_INFECTIOUS_DEATH)
            for (r3, r4), name in zip(rates, BLOCK1_ADVERSE_EVENTS, strict=True)
        )
        cuts = {
            (worst, infectious_death): tuple(_named_event_cuts(worst, q4, q3, fatal, infectious_death)
                                             for (q4, q3), fatal in zip(named, _FATAL))
            for worst, infectious_death in _CUT_VARIANTS
        }
        return cls(p4, p3, cuts)


def _named_event_chances(
    r3: float, r4: float, p_infectious_death: float, p4: float, p3: float, fatal: bool
) -> tuple[float, float]:
    """``(q4, q3)``: chance of grade 4 in a worst-grade-4 patient, and of grade 3 otherwise."""
    c5_mass = p_infectious_death if fatal else 0.0
    q4 = min(1.0, max(0.0, (r4 - c5_mass) / p4)) if p4 > 0 else 0.0
    reached4 = c5_mass + p4 * q4
    denominator = p3 + p4 * (1 - q4)
    q3 = min(1.0, max(0.0, (r3 - reached4) / denominator)) if denominator > 0 else 0.0
    return q4, q3


def _named_event_cuts(worst: int, q4: float, q3: float, fatal: bool, infectious_death: bool
                      ) -> tuple[float, float, float]:
    """The cuts ``(c5, c4, c3)`` of a named event's uniform, given the worst grade: grade 5 for a fatal
    event of an infectious death (whatever the uniform), 4 with chance ``q4`` in a worst-grade-4 patient
    and 3 with chance ``q3`` of the rest; in other patients 3 with chance ``q3``. (A uniform is never
    below 0, nor 1 or above.)"""
    if worst == 5 and fatal and infectious_death:
        return 2.0, 2.0, 2.0
    if worst == 4:
        return 0.0, q4, q4 + (1 - q4) * q3
    return 0.0, 0.0, q3


# Death causes by their code in block1_plans.
_DEATH_CAUSES = (None, "infection", "toxicity", "progression")
_SURVIVED, _INFECTION, _TOXICITY, _PROGRESSION = range(len(_DEATH_CAUSES))


@dataclass(frozen=True)
class PatientKinds:
    """Every kind of patient's Block 1 chances as arrays indexed by kind (a row of ``KINDS``), so that
    steps 2 to 4 are read for all patients at once (:func:`block1_plans`). Worked out for all kinds
    together, with the same float operations, in the same order, as :meth:`GradeChances.of` for one
    (``Block1Model.grade_table``; the tests hold the two equal)."""

    index: dict[tuple[str, str, str, bool, str], int]  # kind -> row
    p_toxic: np.ndarray   # toxic death
    p_death: np.ndarray   # toxic death or death from progression: p_toxic + the group's progression death
    p4: np.ndarray        # worst grade >= 4, given survival
    p3: np.ndarray        # worst grade >= 3, given survival
    cuts: np.ndarray      # (kind, _CUT_VARIANTS, named event, (c5, c4, c3))
    group: np.ndarray     # the kind's relapse group, as an index of RELAPSE_GROUPS

    @classmethod
    def of(cls, params: Block1Params, young: dict[str, float], old: dict[str, float],
           event_rate_table: dict[tuple[str, str, str], tuple[tuple[float, float], ...]],
           grade_chances: dict[str, tuple[float, float]]) -> "PatientKinds":
        p_toxic = np.array([(old if aged_18_plus else young)[group] for _, _, group, aged_18_plus, _ in KINDS])
        p_death = p_toxic + np.array([getattr(params.progression_death_prob, group) for group in RELAPSE_GROUPS])[
            _KIND_GROUP]
        p4, p3 = np.array([grade_chances[ethnicity] for *_, ethnicity in KINDS]).T
        p3 = _larger(p4, p3)
        # step 4, as _named_event_chances for each (kind, named event): rates (kind, event, (r3, r4))
        rates = np.array([event_rate_table[(band, sex, AE_GROUP_OF[group])] for band, sex, group, _, _ in KINDS])
        r3, r4 = rates[..., 0], rates[..., 1]
        survive = (1.0 - p_death)[:, None]
        worst4, worst3 = survive * p4[:, None], survive * (p3 - p4)[:, None]
        c5_mass = np.where(_FATAL, (p_toxic * params.infectious_death_share)[:, None], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):  # the chances are 0 where a divisor is not positive
            q4 = np.where(worst4 > 0, _chance((r4 - c5_mass) / worst4), 0.0)
            reached4 = c5_mass + worst4 * q4
            denominator = worst3 + worst4 * (1 - q4)
            q3 = np.where(denominator > 0, _chance((r3 - reached4) / denominator), 0.0)
        # the cuts of _named_event_cuts, for each of _CUT_VARIANTS
        zero = np.zeros_like(q3)
        cuts = np.empty((len(KINDS), len(_CUT_VARIANTS), len(BLOCK1_ADVERSE_EVENTS), 3))
        for v, (worst, infectious_death) in enumerate(_CUT_VARIANTS):
            cuts[:, v] = np.stack([zero, q4, q4 + (1 - q4) * q3] if worst == 4 else [zero, zero, q3], axis=-1)
            if worst == 5 and infectious_death:
                cuts[:, v, np.array(_FATAL)] = 2.0
        return cls(index=KIND_INDEX, p_toxic=p_toxic, p_death=p_death, p4=p4, p3=p3, cuts=cuts, group=_KIND_GROUP)


def _larger(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Python's ``max(first, second)`` elementwise: ``second`` only where it is larger (so a NaN
    ``second`` or an equal -0.0 gives ``first``, where ``np.maximum`` would differ)."""
    return np.where(second > first, second, first)


def _chance(x: np.ndarray) -> np.ndarray:
    """Python's ``min(1.0, max(0.0, x))`` elementwise (a NaN gives 0.0, -0.0 gives 0.0)."""
    x = np.where(x > 0.0, x, 0.0)
    return np.where(x < 1.0, x, 1.0)


class Block1Plan(NamedTuple):
    """One patient's Block 1 as drawn (steps 2 to 6), before it is lived; days from the block's start."""

    death_cause: str | None   # "infection", "toxicity", "progression"; None for a survivor
    end_day: float            # count recovery: the end of the block for a survivor
    death_day: float | None
    worst_grade: int          # 5 for a death
    named_events: list[tuple[float, int, int]]  # (day, index in BLOCK1_ADVERSE_EVENTS, grade), by day
    failed: bool              # early treatment failure (read for survivors only)
    mrd_percent: float | None  # the latent level; None when a surviving failure has no result (read for survivors only)


def block1_plans(model: Block1Model, streams: Streams, records: Sequence[PatientRecord]) -> list[Block1Plan]:
    """Steps 2 to 6 of the module docstring for every patient of ``records`` at once.

    Nothing in them depends on the day the block starts, or on other patients,
    so they are drawn for all patients together, each from its own row of every
    stream, as one patient at a time would draw them: the numbers are the same
    doubles. A decision is drawn when some patient of ``records`` would use it
    on finishing the block; a replication plans every patient, so a patient who
    never gets a bed, or whose follow-up ends inside the block, may count
    (each decision has its own stream: no other number changes).
    :func:`block1` then lives each patient's plan (in SimPy time when the run limits a resource).
    """
    params, kinds = model.params, model.kinds
    n = len(records)
    ids = np.fromiter((record.patient_id for record in records), np.intp, n)
    kind = np.fromiter((kinds.index[kind_of(*_COVARIATES(record))] for record in records), np.intp, n)

    def uniforms(name: str, width: int = 1) -> np.ndarray:
        block = streams.block(name, width)[ids]
        return block[:, 0] if width == 1 else block

    # 2. death in the block
    u_death = uniforms("block1.death")
    toxic = u_death < kinds.p_toxic[kind]
    died = u_death < kinds.p_death[kind]  # toxic, or else progression
    infectious = toxic
    if toxic.any():
        infectious = toxic & (uniforms("block1.death_infectious") < params.infectious_death_share)
    cause = np.where(toxic, np.where(infectious, _INFECTION, _TOXICITY), np.where(died, _PROGRESSION, _SURVIVED))
    # the exponential wait for count recovery, by math.log1p as for one patient
    therapy_days, recovery_mean = params.therapy_days, params.count_recovery_extra_days_mean
    end_day = np.array([therapy_days - recovery_mean * math.log1p(-u)
                        for u in uniforms("block1.count_recovery").tolist()])

    # 3. worst grade: 5 for a death, else drawn
    worst = np.full(n, 5)
    if not died.all():
        u_grade = uniforms("block1.worst_grade")
        worst = np.where(died, 5, np.where(u_grade < kinds.p4[kind], 4, np.where(u_grade < kinds.p3[kind], 3, 2)))

    # 4. named events, given the worst grade, on days uniform over the block (before death)
    death_day = uniforms("block1.death_day") * end_day if died.any() else np.full(n, np.nan)
    last_day = np.where(died, death_day, therapy_days)
    grade = np.zeros((n, len(BLOCK1_ADVERSE_EVENTS)), np.int64)
    named = worst >= 3  # worst grade 2: none reach 3, nothing to draw
    if named.any():
        u = uniforms("block1.adverse_events", len(BLOCK1_ADVERSE_EVENTS))
        variant = np.where(worst == 3, _CUT_VARIANTS.index((3, False)), np.where(
            worst == 4, _CUT_VARIANTS.index((4, False)),
            np.where(infectious, _CUT_VARIANTS.index((5, True)), _CUT_VARIANTS.index((5, False)))))
        cuts = kinds.cuts[kind, variant]
        grade = np.where(u < cuts[..., 0], 5, np.where(u < cuts[..., 1], 4, np.where(u < cuts[..., 2], 3, 0)))
        grade[~named] = 0
    patient, event = np.nonzero(grade)  # by patient, then in BLOCK1_ADVERSE_EVENTS order
    grades = grade[patient, event]
    day = last_day[patient]
    drawn_day = grades < 5  # grade 5 on the day of death
    if drawn_day.any():
        day = np.where(drawn_day, uniforms("block1.adverse_event_day", len(BLOCK1_ADVERSE_EVENTS))[patient, event]
                       * last_day[patient], day)
    order = np.lexsort((day, patient))  # by patient, then day; stable: events of one day in table order
    happenings: list[list[tuple[float, int, int]]] = [[] for _ in range(n)]
    for p, d, k, g in zip(patient[order].tolist(), day[order].tolist(), event[order].tolist(),
                          grades[order].tolist()):
        happenings[p].append((d, k, g))

    # 6. response: early treatment failure and the MRD level, from the latent resistance
    z = np.fromiter((record.resistance_z for record in records), float, n)
    group = kinds.group[kind]
    failed = np.zeros(n, bool)
    level = np.zeros(n)
    for g, name in enumerate(RELAPSE_GROUPS):
        members = group == g
        if members.any():
            failed[members], level[members] = model.mrd[name].levels(z[members])
    unknown = failed & ~died
    if unknown.any():
        unknown &= uniforms("block1.failure_mrd_unknown") < params.mrd_unknown_after_failure_prob
    mrd = [None if no_result else value for no_result, value in zip(unknown.tolist(), level.tolist())]

    causes = [_DEATH_CAUSES[code] for code in cause.tolist()]
    death_days = [d if c else None for c, d in zip(causes, death_day.tolist())]
    return list(map(Block1Plan, causes, end_day.tolist(), death_days, worst.tolist(), happenings, failed.tolist(), mrd))


def block1(
    env: simpy.Environment | None, record: PatientRecord, model: Block1Model, streams: Streams, log: EventLog,
    beds: simpy.Resource | None = None, plan: Block1Plan | None = None,
) -> Generator[simpy.Event, object, Block1Outcome]:
    """Run one patient through Block 1; return its outcome.

    ``plan`` is the patient's row of :func:`block1_plans` (drawn for all patients of a replication at
    once); without one, the patient's own is drawn here.
    """
    request = None
    if beds is not None:
        asked = record.now_days
        request, _ = yield from queue_for(env, record, beds, log, "bed_wait_days")
        record.block1_bed_wait_days = record.now_days - asked
        if request is None:  # no bed before the end of follow-up
            record.block1_death = record.early_treatment_failure = None  # never started: not known
            log.add(record, "block1_not_started", "no bed before the end of follow-up")
            return _ENDED_EARLY
    log.add(record, "block1_start")
    death_cause, end_day, death_day, worst, happenings, failed, mrd = (
        plan if plan is not None else block1_plans(model, streams, [record])[0])
    record.block1_max_grade = worst

    # Named events are written at their own days without a SimPy wait each:
    # nothing else happens to the patient inside the block, so the only thing
    # that can come first is the end of follow-up.
    start = record.now_days
    start_therapy_block(record, start + end_day)
    for day, k, grade in happenings:
        if record.censor_day < start + day:
            yield from race(env, record, start + day)  # stops at the censor day
            _unobserved(record)
            return _release(beds, request, _ENDED_EARLY)
        setattr(record, GRADE_COLUMNS[k], grade)  # a grade column is null until set
        log.add_at(record, start + day, "block1_adverse_event", BLOCK1_ADVERSE_EVENTS[k], grade=grade)

    if death_cause is not None:
        if (yield from race(env, record, start + death_day)) == "censored":
            _unobserved(record)
            return _release(beds, request, _ENDED_EARLY)
        record.block1_death, record.block1_death_cause = True, death_cause
        record.block1_death_day = record.now_days
        record.early_treatment_failure = False
        record.inpatient_days += record.now_days - start
        log.add(record, "block1_death", death_cause)
        if request is not None:
            beds.release(request)
        return Block1Outcome(died=True, failed=False, mrd_percent=None)

    # 5. end of block at count recovery
    if (yield from race(env, record, start + end_day)) == "censored":
        _unobserved(record)
        return _release(beds, request, _ENDED_EARLY)
    record.block1_death = False
    record.eob1_day = record.now_days
    record.inpatient_days += record.now_days - start
    if request is not None:
        beds.release(request)
    log.add(record, "block1_end")

    # 6. response
    record.early_treatment_failure = failed
    if failed:
        log.add(record, "early_treatment_failure")
    return Block1Outcome(False, failed, mrd)  # (died, failed, mrd_percent): keywords would double its cost


# Follow-up ended before the block did (or, queued for a bed, before it began).
_ENDED_EARLY = Block1Outcome(died=False, failed=False, mrd_percent=None, censored=True)


def _release(beds: simpy.Resource | None, request: simpy.Event | None, outcome: Block1Outcome) -> Block1Outcome:
    if request is not None:
        beds.release(request)
    return outcome


def _unobserved(record: PatientRecord) -> None:
    """Follow-up ended inside Block 1: its worst grades, death and response are not known."""
    record.block1_death = record.early_treatment_failure = None
    record.block1_max_grade = None
    for column in GRADE_COLUMNS:
        setattr(record, column, None)
