"""One simulated trial, and many: looks, tests, decisions and the true effect.

A trial is one replication (:func:`run_trial`):

1. the first N eligible patients are simulated under every arm's strategy
   (``sim.model.replication.run_replication`` with the trial's selection, so every
   arm sees the same patients and the same draws);
2. they are randomised (``design.randomise``);
3. at each look, on calendar day ``L`` after the first enrolment, the trial
   sees the patients enrolled by ``L``, each only on the assigned arm, with
   time on study cut at ``L - entry``: survival times censored there, binary
   outcomes known if they were known by then (end of reinduction, or death in
   it). Looks by events happen on the day the pooled count reaches the target
   (or at ``max_duration_days``);
4. the test's z is compared with the Lan-DeMets boundary at the observed
   information fraction (information at the look over information at the
   last look); optional futility is non-binding;
5. the **true effect** at each look is the same estimator applied to the same
   patients seen on every arm (common random numbers).

The **null trial** of the same replication gives every arm the control's
outcomes, so type I error costs no extra simulation. ``sim.trial.run`` runs
many trials on the executors of ``sim.execution.runner``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from sim.model.replication import run_replication
from sim.trial.boundaries import efficacy_boundaries
from sim.trial.design import TrialDesign, randomise, strata_keys
from sim.trial.statistics import (
    NAN_RESULT,
    TestResult,
    logrank_cox,
    proportions,
    rmst_difference,
)

STRATUM_COLUMNS = ("relapse_group", "relapse_site", "sex", "age_years", "cns_status", "cytogenetics")
# The patient columns a trial reads: entry, strata and every endpoint's (the simulation builds no others).
PATIENT_COLUMNS = ("enrolment_day", *STRATUM_COLUMNS, "efs_days", "efs_event", "os_days", "os_event", "eob1_day",
                   "block1_death_day", "pathway_end_day", "block1_death", "early_treatment_failure", "eob1_mrd_status")


@dataclass(frozen=True)
class Outcomes:
    """Enrolled patients in enrolment order, and each arm's outcome for each of them."""

    entry_day: np.ndarray                 # days after the first enrolment
    strata: list[tuple]
    time: dict[str, np.ndarray]           # survival: time on study; binary: day the outcome is known
    event: dict[str, np.ndarray]          # survival: event; binary: success (the endpoint happened)

    def null(self, control: str) -> "Outcomes":
        """Every arm given the control's outcomes."""
        return Outcomes(self.entry_day, self.strata, {a: self.time[control] for a in self.time},
                        {a: self.event[control] for a in self.event})


def potential_outcomes(design: TrialDesign, seed: int, replication: int) -> Outcomes:
    settings = design.settings
    patients, _ = run_replication(design.scenario, seed, replication, design.selection(), events=False,
                                  patient_columns=PATIENT_COLUMNS)
    table = patients.to_pandas().sort_values(["strategy", "patient_id"])
    by_arm = {arm: group.reset_index(drop=True) for arm, group in table.groupby("strategy", sort=False)}
    first = by_arm[settings.control]
    entry = first["enrolment_day"].to_numpy(float)
    entry = entry - entry.min() if len(entry) else entry
    columns = {name: first[name].tolist() for name in STRATUM_COLUMNS}
    time, event = {}, {}
    for arm in settings.arms:
        frame = by_arm.get(arm, first)  # a null-only design runs the control alone
        time[arm], event[arm] = _endpoint(frame, settings.endpoint)
    return Outcomes(entry, strata_keys(columns, settings.stratify_by, len(entry)), time, event)


def _endpoint(frame: pd.DataFrame, endpoint: str) -> tuple[np.ndarray, np.ndarray]:
    if endpoint in ("efs", "os"):
        return frame[f"{endpoint}_days"].to_numpy(float), frame[f"{endpoint}_event"].to_numpy(bool)
    known = frame["eob1_day"].fillna(frame["block1_death_day"]).fillna(frame["pathway_end_day"]).to_numpy(float)
    died = frame["block1_death"].to_numpy(bool)
    if endpoint == "reinduction_death":
        return known, died
    in_remission = ~died & ~frame["early_treatment_failure"].to_numpy(bool)
    if endpoint == "cr2":
        return known, in_remission
    return known, in_remission & (frame["eob1_mrd_status"] == "negative").to_numpy(bool)


@lru_cache(maxsize=4096)
def _bounds(fractions: tuple[float, ...], alpha: float, spending: str, sided: int) -> tuple[float, ...]:
    return efficacy_boundaries(fractions, alpha, spending, sided).efficacy_z


def _test(settings, time, event, experimental, look_day_offsets, strata) -> TestResult:
    """The trial's test on the patients seen at a look (``look_day_offsets``: time on study available).

    The log-rank test and Cox model are stratified by the randomisation strata.
    """
    if settings.endpoint in ("efs", "os"):
        observed_time = np.minimum(time, look_day_offsets)
        observed_event = event & (time <= look_day_offsets)
        if settings.test == "rmst":
            return rmst_difference(observed_time, observed_event, experimental, settings.rmst_days)
        return logrank_cox(observed_time, observed_event, experimental, strata)
    known = time <= look_day_offsets
    higher = settings.endpoint != "reinduction_death"
    return proportions(event[known], experimental[known], higher, settings.test)


def _look_days(settings, outcomes: Outcomes, arm_of: np.ndarray) -> list[float]:
    analysis = settings.analysis
    if analysis.looks_days is not None:
        start = outcomes.entry_day.max() if analysis.looks_from == "last_enrolment" and len(outcomes.entry_day) else 0.0
        return [start + day for day in analysis.looks_days]
    observed_event = np.zeros(len(outcomes.entry_day), dtype=bool)
    event_day = np.full(len(outcomes.entry_day), np.inf)
    for k, arm in enumerate(settings.arms):
        mine = arm_of == k
        observed_event[mine] = outcomes.event[arm][mine]
        event_day[mine] = outcomes.entry_day[mine] + outcomes.time[arm][mine]
    days_sorted = np.sort(event_day[observed_event])
    days = []
    for target in analysis.looks_events:
        day = days_sorted[target - 1] if target <= len(days_sorted) else math.inf
        day = min(day, analysis.max_duration_days)
        days.append(float(day))
        if day >= analysis.max_duration_days:
            break
    return days


def analyse(settings, outcomes: Outcomes, arm_of: np.ndarray, kind: str, trial: int, truth: bool) -> list[dict]:
    """Rows of one trial (one per comparison and look reached)."""
    analysis = settings.analysis
    days = _look_days(settings, outcomes, arm_of)
    rows = []
    survival = settings.endpoint in ("efs", "os")
    codes: dict[tuple, int] = {}
    stratum_code = np.array([codes.setdefault(key, len(codes)) for key in outcomes.strata], dtype=np.int64)
    effect = ("hazard_ratio" if settings.test == "logrank" else "rmst_difference") if survival else "risk_difference"
    null_value = 1.0 if effect == "hazard_ratio" else 0.0
    for arm_index, arm in enumerate(settings.arms):
        if arm == settings.control:
            continue
        control_index = settings.arms.index(settings.control)
        pair = (arm_of == arm_index) | (arm_of == control_index)
        looks = []
        for day in days:
            seen = pair & (outcomes.entry_day <= day)
            experimental = arm_of[seen] == arm_index
            time = np.where(experimental, outcomes.time[arm][seen], outcomes.time[settings.control][seen])
            event = np.where(experimental, outcomes.event[arm][seen], outcomes.event[settings.control][seen])
            available = day - outcomes.entry_day[seen]
            result = (_test(settings, time, event, experimental, available, stratum_code[seen])
                      if seen.sum() >= 2 else NAN_RESULT)
            true_effect = null_value
            if truth:
                enrolled = outcomes.entry_day <= day
                both_time = np.concatenate([outcomes.time[arm][enrolled], outcomes.time[settings.control][enrolled]])
                both_event = np.concatenate([outcomes.event[arm][enrolled], outcomes.event[settings.control][enrolled]])
                indicator = np.repeat([True, False], enrolled.sum())
                both_available = np.tile(day - outcomes.entry_day[enrolled], 2)
                both_strata = np.tile(stratum_code[enrolled], 2)
                true_effect = _test(settings, both_time, both_event, indicator, both_available, both_strata).estimate
            looks.append((day, int(seen.sum()), int(experimental.sum()), result, true_effect))
        final_information = looks[-1][3].information
        fractions = [min(look[3].information / final_information, 1.0) if final_information > 0 else 0.0
                     for look in looks]
        fractions[-1] = 1.0
        # An interim is tested only if it adds information; the last look always is (fraction 1).
        usable: list[int] = []
        for k, fraction in enumerate(fractions[:-1]):
            if 0 < fraction < 0.999 and (not usable or fraction > fractions[usable[-1]] + 1e-3):
                usable.append(k)
        usable.append(len(looks) - 1)
        bounds = _bounds(tuple(round(fractions[k], 3) if k < len(looks) - 1 else 1.0 for k in usable),
                         settings.alpha, analysis.spending, settings.sided)
        bound_of = dict(zip(usable, bounds))
        for k, (day, n_seen, n_experimental, result, true_effect) in enumerate(looks):
            bound = bound_of.get(k, math.nan)
            z = result.z
            last = k == len(looks) - 1
            futility = (analysis.futility_z[k] if analysis.futility_z is not None and not last
                        and k < len(analysis.futility_z) else math.nan)
            if not math.isnan(bound) and not math.isnan(z) and (z >= bound if settings.sided == 1 else abs(z) >= bound):
                decision = "efficacy" if z > 0 else "harm"
            elif not math.isnan(futility) and not math.isnan(z) and z < futility:
                decision = "futility"
            else:
                decision = "no_rejection" if last else "continue"
            stop = decision != "continue"
            rows.append({
                "kind": kind, "trial": trial, "comparison": arm, "look": k + 1, "look_day": day,
                "n_enrolled": n_seen, "n_experimental": n_experimental, "information": result.information,
                "information_fraction": fractions[k], "z": z, "efficacy_z": bound, "futility_z": futility,
                "effect": effect, "estimate": result.estimate, "ci_low": result.ci_low, "ci_high": result.ci_high,
                "true_effect": true_effect, "decision": decision, "final": stop,
            })
            if stop:
                break
    return rows


def run_trial(design: TrialDesign, seed: int, replication: int, kinds: tuple[str, ...]) -> list[dict]:
    """Rows of one replication: the trial as proposed ("alternative", "assurance") and its null."""
    settings = design.settings
    outcomes = potential_outcomes(design, seed, replication)
    strata = outcomes.strata
    arm_of = randomise(strata, settings.ratio, settings.block, seed, replication)
    rows = []
    for kind in kinds:
        if kind == "null":
            rows += analyse(settings, outcomes.null(settings.control), arm_of, kind, replication, truth=False)
        else:
            rows += analyse(settings, outcomes, arm_of, kind, replication, truth=True)
    return rows
