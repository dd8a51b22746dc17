"""A proposed trial made concrete: its scenario copy, who enters, who gets which arm.

* :class:`TrialDesign` holds the validated ``[trial]`` settings and the
  scenario copy each simulated trial runs: only the arms' strategies (or the
  control alone, for null trials), censoring at the trial's last possible
  look, and a staggered cohort sized and paced so that the eligible patients
  arrive at ``accrual_per_year``. The eligible share is measured once on a
  large cohort draw (covariates only, no pathway), so an empty eligible
  population is refused before anything runs.
* :class:`TrialSelection` picks, from a replication's cohort, the first
  ``n_patients`` eligible patients in enrolment order; only they are
  simulated, each with its own rows of every stream (common random numbers).
* :func:`randomise` allocates them by permuted blocks within strata, from the
  trial's own named stream ``trial.randomisation``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.model.cohort import AGE_BANDS, Cohort, case_mix_for, draw_cohort
from sim.model.streams import Streams, generator_for
from sim.scenario.load import ScenarioError
from sim.scenario.schema import Scenario
from sim.scenario.trial import SURVIVAL_ENDPOINTS, Eligibility, TrialSettings

SHARE_SEED = 20261202          # fixed: the eligible share does not depend on the run's seed
SHARE_PATIENTS = 20_000
COHORT_MARGIN_SD = 6.0         # cohort large enough that fewer than N eligible is a 6-sigma event
DAYS_PER_YEAR = 365.25
BINARY_FOLLOW_UP_DAYS = 365.0  # end-of-reinduction outcomes are known within weeks


class TrialDesignError(ScenarioError):
    """A trial that cannot be simulated; ``str()`` names the file, key and value."""

    def __init__(self, message: str) -> None:
        super().__init__([message])


def eligible_mask(cohort: Cohort, eligibility: Eligibility) -> np.ndarray:
    mask = np.ones(len(cohort), dtype=bool)
    if eligibility.relapse_groups is not None:
        mask &= np.isin(cohort.relapse_group, eligibility.relapse_groups)
    if eligibility.relapse_sites is not None:
        mask &= np.isin(cohort.relapse_site, eligibility.relapse_sites)
    if eligibility.risk_groups is not None:  # only HR is known at relapse (schema)
        mask &= np.isin(cohort.relapse_group, ("bm_lt18", "bm_18_36", "iem_lt18"))
    mask &= (cohort.age_years >= eligibility.min_age_years) & (cohort.age_years < eligibility.max_age_years)
    return mask


@dataclass(frozen=True)
class TrialSelection:
    """The first ``n_patients`` eligible patients of a cohort, in enrolment order."""

    eligibility: Eligibility
    n_patients: int

    def __call__(self, cohort: Cohort) -> list[int]:
        return np.flatnonzero(eligible_mask(cohort, self.eligibility))[: self.n_patients].tolist()


def eligible_share(eligibility: Eligibility, cohort_settings) -> float:
    """Share of the scenario's case-mix that is eligible (a large fixed-seed cohort)."""
    streams = Streams(SHARE_SEED, 0, SHARE_PATIENTS)
    cohort = draw_cohort(case_mix_for(cohort_settings), SHARE_PATIENTS, 0.0, streams)
    return float(eligible_mask(cohort, eligibility).mean())


@dataclass(frozen=True)
class TrialDesign:
    settings: TrialSettings
    scenario: Scenario            # the trial's scenario copy, arms' strategies only
    share: float                  # eligible share of all relapses
    n_max: int                    # largest N the cohort is sized for (sample-size search)

    @property
    def arms(self) -> list[str]:
        return self.settings.arms

    def selection(self, n_patients: int | None = None) -> TrialSelection:
        return TrialSelection(self.settings.eligibility, n_patients or self.settings.n_patients)

    def with_n(self, n_patients: int) -> "TrialDesign":
        """The same design and cohort (common random numbers) with another N."""
        if n_patients > self.n_max:
            raise TrialDesignError(f"trial.n_patients: must be at most {self.n_max} for this design (got {n_patients})")
        settings = self.settings.model_copy(update={"n_patients": n_patients})
        return TrialDesign(settings, self.scenario, self.share, self.n_max)

    def null_only(self) -> "TrialDesign":
        """The control strategy alone: every arm sees the control's outcomes (null trials, half the cost)."""
        scenario = self.scenario.model_copy(update={"strategies": [self.settings.control]})
        return TrialDesign(self.settings, scenario, self.share, self.n_max)

    def sampled(self) -> "TrialDesign":
        """The same design with a fresh parameter set per trial (assurance)."""
        run = self.scenario.run.model_copy(update={"parameter_mode": "sampled"})
        return TrialDesign(self.settings, self.scenario.model_copy(update={"run": run}), self.share, self.n_max)


def build_design(scenario: Scenario, n_max: int | None = None, source: str = "scenario") -> TrialDesign:
    """The trial's scenario copy; ``n_max`` sizes the cohort for a sample-size search."""
    settings = scenario.trial
    if settings is None:
        raise TrialDesignError(
            f"{source}: trial: missing required table; Suggestion: add a [trial] table (README, Trial design)"
        )
    share = eligible_share(settings.eligibility, scenario.cohort)
    if share == 0:
        raise TrialDesignError(
            f"{source}: trial.eligibility: no patient of the case-mix is eligible "
            f"(got {settings.eligibility.model_dump(exclude_defaults=True)}); Suggestion: widen the filters"
        )
    n_max = max(n_max or settings.n_patients, settings.n_patients)
    expected = n_max / share
    n_cohort = math.ceil(expected + COHORT_MARGIN_SD * math.sqrt(expected * (1 - share) / share) + 10)
    accrual_days = n_cohort / (settings.accrual_per_year / share) * DAYS_PER_YEAR
    cohort = scenario.cohort.model_copy(
        update={"n_patients": n_cohort, "accrual": "staggered", "accrual_days": accrual_days}
    )
    # A binary endpoint is known at the end of reinduction: follow patients one year, not to the last look.
    accrual_years = n_max / settings.accrual_per_year
    if settings.analysis.looks_days is not None and settings.analysis.looks_from == "first_enrolment" \
            and settings.analysis.looks_days[-1] < settings.n_patients / settings.accrual_per_year * DAYS_PER_YEAR:
        raise TrialDesignError(
            f"{source}: trial.analysis.looks_days: the last look must come after accrual ends "
            f"(day {settings.n_patients / settings.accrual_per_year * DAYS_PER_YEAR:.0f} for {settings.n_patients} "
            f"patients at {settings.accrual_per_year:g} a year) (got {settings.analysis.looks_days[-1]:g}); "
            "Suggestion: a later last look, faster accrual, or looks_from = 'last_enrolment'"
        )
    last_day = settings.analysis.last_day(accrual_years * DAYS_PER_YEAR * 1.2 + 30)
    horizon = last_day if settings.endpoint in SURVIVAL_ENDPOINTS else BINARY_FOLLOW_UP_DAYS
    follow_up = scenario.follow_up.model_copy(
        update={"censoring": "horizon", "horizon_days": float(horizon), "data_cutoff_day": None}
    )
    trial_scenario = scenario.model_copy(
        update={
            "strategies": list(settings.arms), "reference": settings.control, "cohort": cohort,
            "follow_up": follow_up, "sweep": None,
        }
    )
    return TrialDesign(settings, trial_scenario, share, n_max)


def strata_keys(columns: dict[str, list], stratify_by: list[str], n: int) -> list[tuple]:
    def value(name: str, i: int):
        if name == "age_band":
            age = columns["age_years"][i]
            return next((label for label, low, high in AGE_BANDS if low <= age < high), AGE_BANDS[-1][0])
        return columns[name][i]

    return [tuple(value(name, i) for name in stratify_by) for i in range(n)]


def randomise(
    strata: list[tuple], ratio: list[int], block_size: int, seed: int, replication: int
) -> np.ndarray:
    """Arm index of each patient (in enrolment order): permuted blocks within strata.

    Each stratum draws its blocks from its own stream, named by the stratum,
    so adding a patient to one stratum never changes another's sequence.
    """
    base = np.repeat(np.arange(len(ratio)), ratio)
    block = np.tile(base, block_size // len(base))
    arms = np.empty(len(strata), dtype=np.int64)
    by_stratum: dict[tuple, list[int]] = {}
    for i, key in enumerate(strata):
        by_stratum.setdefault(key, []).append(i)
    for key, members in by_stratum.items():
        rng = generator_for(seed, replication, "trial.randomisation." + "|".join(map(str, key)))
        n_blocks = -(-len(members) // len(block))
        sequence = np.concatenate([rng.permutation(block) for _ in range(n_blocks)])
        arms[members] = sequence[: len(members)]
    return arms
