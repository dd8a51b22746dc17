"""The ``[trial]`` table of a scenario: a proposed randomised trial, validated once.

```toml
[trial]
arms = ["r3_blina", "reduced_blina"]   # strategies of the scenario
control = "r3_blina"
trials = 1000                          # simulated trials (replications)
n_patients = 200                       # randomised patients (target N)
accrual_per_year = 50                  # eligible patients randomised per year
allocation = [1, 1]                    # ratio, in the order of `arms`
block_size = 4                         # permuted blocks, a multiple of sum(allocation)
stratify_by = ["relapse_group"]
endpoint = "efs"                       # efs, os, mrd_negative, reinduction_death, cr2
test = "logrank"                       # logrank, rmst; two_proportion, fisher
alpha = 0.025
sided = 1
[trial.eligibility]
relapse_groups = ["bm_lt18", "bm_18_36", "iem_lt18"]
[trial.analysis]
looks_days = [1461, 2191]              # calendar days after the first enrolment, or
# looks_from = "last_enrolment"        # ... after the last enrolment (minimum follow-up), or
# looks_events = [60, 120]             # events (survival endpoints)
spending = "obrien_fleming"            # or "pocock" (Lan-DeMets)
futility_z = [0.0]                     # optional, non-binding, one per interim look
```

Cross-checks against the scenario (arms are its strategies) run in
:meth:`TrialSettings.check_against`, which the scenario model calls.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from sim.clinical import SITES
from sim.scenario.types import RELAPSE_GROUPS, Frozen

SURVIVAL_ENDPOINTS = ("efs", "os")
BINARY_ENDPOINTS = ("mrd_negative", "reinduction_death", "cr2")
SURVIVAL_TESTS = ("logrank", "rmst")
BINARY_TESTS = ("two_proportion", "fisher")
STRATA = ("relapse_group", "relapse_site", "sex", "age_band", "cns_status", "cytogenetics")


class Eligibility(Frozen):
    """Who may enter: covariates known at relapse (all given filters must hold)."""

    relapse_groups: list[Literal[RELAPSE_GROUPS]] | None = None  # type: ignore[valid-type]
    relapse_sites: list[Literal[SITES]] | None = None  # type: ignore[valid-type]
    risk_groups: list[str] | None = None
    min_age_years: float = Field(default=0.0, ge=0)
    max_age_years: float = Field(default=200.0, gt=0)

    @field_validator("risk_groups")
    @classmethod
    def _known_at_relapse(cls, groups: list[str] | None) -> list[str] | None:
        if groups is None:
            return groups
        if not groups or any(g != "HR" for g in groups):
            raise ValueError(
                "must be ['HR']: only HR (early marrow or early isolated extramedullary relapse) is known at "
                "relapse; IR and LR depend on end-of-reinduction MRD, after randomisation. Suggestion: select "
                f"by relapse_groups (got {groups!r})"
            )
        return groups

    @model_validator(mode="after")
    def _age_range(self) -> "Eligibility":
        if self.max_age_years <= self.min_age_years:
            raise ValueError(
                f"'max_age_years' must be above min_age_years ({self.min_age_years:g}) (got {self.max_age_years:g})"
            )
        return self


class Analysis(Frozen):
    """When the trial looks, and the group-sequential boundary."""

    looks_days: list[float] | None = None
    looks_from: Literal["first_enrolment", "last_enrolment"] = "first_enrolment"
    looks_events: list[int] | None = None
    max_duration_days: float | None = Field(default=None, gt=0)
    spending: Literal["obrien_fleming", "pocock"] = "obrien_fleming"
    # -inf switches futility off at a look (the one infinite number a scenario may hold)
    futility_z: list[Annotated[float, Field(allow_inf_nan=True)]] | None = None

    @field_validator("looks_days", "looks_events")
    @classmethod
    def _increasing(cls, looks: list | None) -> list | None:
        if looks is None:
            return looks
        if not looks:
            raise ValueError("must list at least one look (got [])")
        if looks[0] <= 0 or any(b <= a for a, b in zip(looks, looks[1:])):
            raise ValueError(f"must be positive and strictly increasing (got {looks})")
        return looks

    @field_validator("futility_z")
    @classmethod
    def _bounds_or_off(cls, bounds: list[float] | None) -> list[float] | None:
        if bounds is not None and any(math.isnan(z) or z == math.inf for z in bounds):
            raise ValueError(f"must be finite numbers, or -inf for no futility stop at a look (got {bounds})")
        return bounds

    @model_validator(mode="after")
    def _one_schedule(self) -> "Analysis":
        if (self.looks_days is None) == (self.looks_events is None):
            raise ValueError(
                f"'looks_days' must be given, or else looks_events, not both and not neither "
                f"(got looks_days={self.looks_days}, looks_events={self.looks_events})"
            )
        if self.looks_events is not None and self.max_duration_days is None:
            raise ValueError(
                "'max_duration_days' must be given with looks_events: the last day a look waits for its events (got none)"
            )
        if self.looks_days is not None and self.max_duration_days is not None and self.max_duration_days < self.looks_days[-1]:
            raise ValueError(
                f"'max_duration_days' must be at least the last look ({self.looks_days[-1]:g}) (got {self.max_duration_days:g})"
            )
        looks = len(self.looks_days or self.looks_events or [])
        if self.futility_z is not None and len(self.futility_z) != looks - 1:
            raise ValueError(
                f"'futility_z' must give one value per interim look ({looks - 1}) (got {len(self.futility_z)})"
            )
        return self

    @property
    def n_looks(self) -> int:
        return len(self.looks_days or self.looks_events or [])

    def last_day(self, accrual_days: float) -> float:
        """The latest calendar day (after the first enrolment) any look can happen."""
        if self.max_duration_days is not None:
            return self.max_duration_days
        return self.looks_days[-1] + (accrual_days if self.looks_from == "last_enrolment" else 0.0)


class TrialSettings(Frozen):
    arms: list[str] = Field(min_length=2)
    control: str
    trials: int = Field(default=1000, ge=1)
    assurance_trials: int = Field(default=0, ge=0)
    n_patients: int = Field(ge=2)
    accrual_per_year: float = Field(gt=0)
    allocation: list[int] | None = None
    block_size: int | None = Field(default=None, ge=1)
    stratify_by: list[Literal[STRATA]] = []  # type: ignore[valid-type]
    endpoint: Literal["efs", "os", "mrd_negative", "reinduction_death", "cr2"]
    test: Literal["logrank", "rmst", "two_proportion", "fisher"]
    rmst_days: float | None = Field(default=None, gt=0)
    alpha: float
    sided: Literal[1, 2] = 1
    eligibility: Eligibility = Eligibility()
    analysis: Analysis

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, alpha: float) -> float:
        if not 0 < alpha <= 0.5:
            raise ValueError(f"must be in (0, 0.5] (got {alpha})")
        return alpha

    @model_validator(mode="after")
    def _consistent(self) -> "TrialSettings":
        if self.control not in self.arms:
            raise ValueError(f"'control' must be one of the arms {self.arms} (got {self.control!r})")
        if len(set(self.arms)) != len(self.arms):
            raise ValueError(f"'arms' must be different strategies (got {self.arms})")
        survival = self.endpoint in SURVIVAL_ENDPOINTS
        if survival and self.test not in SURVIVAL_TESTS:
            raise ValueError(
                f"'test' must be one of {', '.join(SURVIVAL_TESTS)} for the survival endpoint "
                f"{self.endpoint!r} (got {self.test!r})"
            )
        if not survival and self.test not in BINARY_TESTS:
            raise ValueError(
                f"'test' must be one of {', '.join(BINARY_TESTS)} for the binary endpoint "
                f"{self.endpoint!r} (got {self.test!r})"
            )
        if self.test == "rmst" and self.rmst_days is None:
            raise ValueError("'rmst_days' must be given for test = 'rmst': the RMST horizon tau (got none)")
        if self.analysis.looks_events is not None and not survival:
            raise ValueError(
                f"'analysis' must use looks_days for the binary endpoint {self.endpoint!r}: "
                f"events are counted for efs and os only (got looks_events={self.analysis.looks_events})"
            )
        if self.allocation is not None:
            if len(self.allocation) != len(self.arms) or min(self.allocation) < 1:
                raise ValueError(
                    f"'allocation' must give a positive whole ratio for each of the {len(self.arms)} arms "
                    f"(got {self.allocation})"
                )
        if self.block_size is not None and self.block_size % sum(self.ratio):
            raise ValueError(
                f"'block_size' must be a multiple of the allocation total {sum(self.ratio)} (got {self.block_size})"
            )
        if self.test == "fisher" and self.analysis.n_looks > 1:
            raise ValueError(
                "'test' must be two_proportion with interim looks: Fisher's exact test gives no statistic "
                f"with the canonical joint distribution (got fisher with {self.analysis.n_looks} looks)"
            )
        return self

    @property
    def ratio(self) -> list[int]:
        return self.allocation or [1] * len(self.arms)

    @property
    def block(self) -> int:
        return self.block_size or 2 * sum(self.ratio)

    @property
    def experimental_arms(self) -> list[str]:
        return [arm for arm in self.arms if arm != self.control]

    def check_against(self, strategies: list[str]) -> None:
        """Arms must be strategies the scenario runs."""
        missing = [arm for arm in self.arms if arm not in strategies]
        if missing:
            raise ValueError(
                f"'trial.arms' must be strategies of this scenario ({', '.join(strategies)}): "
                f"{', '.join(map(repr, missing))} is not (got {self.arms})"
            )


