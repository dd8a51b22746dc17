"""The validated, frozen parameters of a scenario (realised and varied in ``sim.scenario.keypaths``).

A scenario file is validated once, into a :class:`Scenario`. Its parameters
may be numbers or distributions; :func:`realise` turns every distribution into
a number (the central value, or an inverse-CDF draw for probabilistic
sensitivity analysis) and returns a copy, never mutating the original.
Variants (sweep points, calibration iterates, parameter draws) are copies
with changes, by dotted key path (:func:`with_values`), validated by these
same models.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from sim.scenario.distributions import _Dist, central_value, highest, lowest, shown
from sim.scenario.keypaths import (  # noqa: F401 (re-exported)
    distribution_paths,
    numeric_paths,
    realise,
    with_values,
)
from sim.scenario.post_induction import (
    ConsolidationParams,
    EconomicsParams,
    FollowUpParams,
    HsctParams,
    LowRiskParams,
    MitclParams,
    OffProtocolParams,
    PartialResponseParams,
    PrognosisParams,
    SecondRelapseParams,
)
from sim.scenario.strategies import BUILT_IN, REINDUCTIONS, Strategy
from sim.scenario.sweep import SAMPLED, SweepSettings, parameter_value
from sim.scenario.trial import TrialSettings
from sim.scenario.types import (
    Capacity,
    Documented,
    Frozen,
    NonNegative,
    Positive,
    Probability,
    ProbabilityByAeGroup,
    ProbabilityByAgeBand,
    ProbabilityByRelapseGroup,
    ProbabilityByRiskGroup,
    ProbabilityBySex,
    Shares,
    not_above,
)


class CustomStrategy(Frozen):
    reinduction: Literal["r3_block1", "mitcl", "reduced_intensity"]
    after: Literal["trial", "chemo", "blinatumomab", "blinatumomab_with_partial_responders", "hsct_in_cr"]
    description: str = ""


class RunSettings(Frozen):
    """``parameter_mode``: "central" (each distribution's central value),
    "sampled" (a fresh draw of every distribution per replication, fitted
    parameters from the calibrated ensemble: probabilistic sensitivity
    analysis) or "calibrated" (central values, fitted parameters from the
    calibrated ensemble: calibration uncertainty alone)."""

    replications: int = Field(default=200, ge=1)
    parameter_mode: Literal["central", "sampled", "calibrated"] = "central"


class CalibrationEnsemble(Frozen):
    """Parameter sets consistent with the calibration targets (``simulate calibrate``)."""

    file: str
    paths: tuple[str, ...]
    values: tuple[tuple[float, ...], ...]


class CohortSettings(Frozen):
    """Who enrols and when; the case-mix itself is packaged data (``sim.model.cohort``).

    ``youngest_diagnosis_years`` (the youngest age at first diagnosis, which
    bounds age at relapse by group) and ``months_to_relapse_mean_excess`` (the
    mean of the truncated exponential above the lower limit of the open-ended
    bands, BM >= 36 and IEM >= 18 months) complete the published case-mix.
    """

    n_patients: int = Field(ge=1)
    accrual: Literal["day0", "staggered"] = "day0"
    accrual_days: NonNegative = 0.0
    youngest_diagnosis_years: NonNegative = 0.5
    months_to_relapse_mean_excess: Positive = 30.0

    @model_validator(mode="after")
    def _window(self) -> "CohortSettings":
        if self.accrual == "staggered" and not central_value(self.accrual_days) > 0:
            raise ValueError(
                f"'accrual_days' must be > 0 when accrual = 'staggered' (got {shown(self.accrual_days)})"
            )
        return self


class CapacitySettings(Frozen):
    """Optional finite resources shared by the patients of one replication; absent means unlimited.

    * ``inpatient_beds``: taken for every inpatient block (each reinduction
      cycle, UKALL R3 Blocks 2 and 3 in the HR/IR and LR chemotherapy arms,
      and blinatumomab cycles when ``blinatumomab_setting = "inpatient"``);
    * ``hsct_slots_per_month``: transplants a unit starts per month; a slot is
      held for a month from the start of conditioning, granted in the order
      donors were found;
    * ``blinatumomab_places``: infusion places in day care, one per patient
      for each blinatumomab cycle's infusion days (``blinatumomab_setting =
      "day_care"``).

    Values are numbers of places (>= 1) or distributions; a drawn value is
    rounded to the nearest whole number (``places``). Unlimited resources
    are never requested (``sim.model.capacity``).
    """

    inpatient_beds: Capacity | None = None
    hsct_slots_per_month: Capacity | None = None
    blinatumomab_places: Capacity | None = None
    blinatumomab_setting: Literal["day_care", "inpatient"] = "day_care"

    RESOURCES: ClassVar[tuple[str, ...]] = ("inpatient_beds", "hsct_slots_per_month", "blinatumomab_places")

    @property
    def limited(self) -> tuple[str, ...]:
        """The resources this scenario limits, in declaration order."""
        return tuple(name for name in self.RESOURCES if getattr(self, name) is not None)


def places(value: float) -> int:
    """A realised capacity as a whole number of places (nearest; halves round up)."""
    return max(1, math.floor(value + 0.5))


class EventRates(Frozen):
    """Rates of one named adverse event in Block 1: grade 3-5 and grade 4-5.

    Give each level as one number, by age band, or by sex. ``infectious``
    events are also scaled by the relapse-group infection table and reach
    grade 5 in an infectious death.
    """

    grade3plus: Probability | None = None
    grade3plus_by_age: ProbabilityByAgeBand | None = None
    grade3plus_by_sex: ProbabilityBySex | None = None
    grade4plus: Probability | None = None
    grade4plus_by_age: ProbabilityByAgeBand | None = None
    grade4plus_by_sex: ProbabilityBySex | None = None
    infectious: bool = False

    @model_validator(mode="after")
    def _one_form_per_level(self) -> "EventRates":
        for level in ("grade3plus", "grade4plus"):
            given = [name for name in (level, f"{level}_by_age", f"{level}_by_sex") if getattr(self, name) is not None]
            if len(given) != 1:
                raise ValueError(
                    f"give exactly one of '{level}', '{level}_by_age', '{level}_by_sex' (got {given or 'none'})"
                )
        return self


class AdverseEvents(Documented):
    febrile_neutropenia: EventRates
    infection: EventRates
    sepsis: EventRates
    oral_mucositis: EventRates
    hyperglycaemia: EventRates
    hyperbilirubinaemia: EventRates
    gi_toxicity: EventRates
    hypoalbuminaemia: EventRates

    def named(self) -> dict[str, EventRates]:
        return {name: getattr(self, name) for name in type(self).model_fields if name != "source"}


class InfectionByAeGroup(Documented):
    """Infections including febrile neutropenia, by relapse group (grade 3-5, 4-5)."""

    grade3plus: ProbabilityByAeGroup
    grade4plus: ProbabilityByAeGroup


class Block1Params(Documented):
    therapy_days: NonNegative
    count_recovery_extra_days_mean: NonNegative
    toxic_death_prob: ProbabilityByRelapseGroup
    toxic_death_rr_age_18_plus: Positive
    infectious_death_share: Probability
    progression_death_prob: ProbabilityByRelapseGroup
    grade3plus_given_survival: Probability
    grade4plus_given_survival: Probability
    grade3plus_or_hispanic_or_asian: Positive
    grade4plus_or_hispanic: Positive
    early_treatment_failure_prob: ProbabilityByRelapseGroup
    mrd_ge_0_01_prob: ProbabilityByRelapseGroup
    mrd_log10_sd: Positive
    mrd_unknown_after_failure_prob: Probability
    infection_by_ae_group: InfectionByAeGroup
    adverse_events: AdverseEvents

    _grades_nested = not_above("grade4plus_given_survival", "grade3plus_given_survival")


class NotAssignedReasons(Shares):
    """Relative weights of the reasons a Block 1 survivor is never risk-assigned."""

    adverse_event: NonNegative
    physician_choice: NonNegative
    patient_refusal: NonNegative
    ineligible: NonNegative
    consent_withdrawn: NonNegative


class NotRandomisedReasons(Shares):
    """Relative weights of the reasons a risk-assigned patient is not randomised."""

    severe_adverse_event: NonNegative
    physician_or_patient_choice: NonNegative
    death: NonNegative
    other: NonNegative


class AssignmentParams(Documented):
    ir_mrd_threshold_percent: Positive
    not_assigned_prob: Probability
    not_assigned_reasons: NotAssignedReasons
    randomisation_prob: ProbabilityByRiskGroup
    not_randomised_reasons: NotRandomisedReasons
    death_before_randomisation_max_days: NonNegative

    @model_validator(mode="after")
    def _reasons_when_needed(self) -> "AssignmentParams":
        if highest(self.not_assigned_prob) > 0:
            self.not_assigned_reasons.refuse_if_empty("not_assigned_reasons", " when some patients are not assigned")
        if self.some_not_randomised():
            self.not_randomised_reasons.refuse_if_empty("not_randomised_reasons", " when some patients are not randomised")
        return self

    def some_not_randomised(self) -> bool:
        """Whether any risk-assigned patient can go unrandomised."""
        return any(lowest(value) < 1 for value in self.randomisation_prob.__dict__.values())


class Scenario(Frozen):
    name: str
    description: str = ""
    custom_strategies: dict[str, CustomStrategy] = {}
    strategies: list[str]
    reference: str | None = None
    # how to run it: replications and parameter mode, then a sweep, a trial design, calibrated sets
    run: RunSettings = RunSettings()
    sweep: SweepSettings | None = None
    trial: TrialSettings | None = None
    calibration_ensemble: CalibrationEnsemble | None = None
    # what is simulated
    cohort: CohortSettings
    capacity: CapacitySettings = CapacitySettings()
    block1: Block1Params
    reinduction: dict[str, Block1Params] = {}
    assignment: AssignmentParams
    consolidation: ConsolidationParams
    hsct: HsctParams
    low_risk: LowRiskParams
    prognosis: PrognosisParams
    second_relapse: SecondRelapseParams
    off_protocol: OffProtocolParams
    follow_up: FollowUpParams
    mitcl: MitclParams | None = None
    partial_response: PartialResponseParams | None = None
    economics: EconomicsParams | None = None

    def strategy(self, name: str) -> Strategy:
        """The strategy called ``name``: a custom definition, else a built-in one."""
        if name in self.custom_strategies:
            custom = self.custom_strategies[name]
            return Strategy(name, custom.reinduction, custom.after, custom.description)
        return BUILT_IN[name]

    @property
    def reference_strategy(self) -> str:
        return self.reference or self.strategies[0]

    def reinduction_params(self, reinduction: str) -> Block1Params:
        return self.block1 if reinduction == "r3_block1" else self.reinduction[reinduction]

    @field_validator("reinduction")
    @classmethod
    def _known_reinductions(cls, tables: dict) -> dict:
        unknown = sorted(set(tables) - set(REINDUCTIONS[1:]))
        if unknown:
            raise ValueError(
                f"unknown reinduction {unknown}; known: {', '.join(REINDUCTIONS[1:])} "
                "(UKALL R3 Block 1 is [block1]) (got " + repr(sorted(tables)) + ")"
            )
        return tables

    @model_validator(mode="after")
    def _strategies_complete(self) -> "Scenario":
        if self.reference is not None and self.reference not in self.strategies:
            raise ValueError(
                f"'reference' must be one of the strategies {self.strategies} (got {self.reference!r})"
            )
        for name in self.strategies:
            strategy = self.strategy(name)
            if strategy.reinduction != "r3_block1" and strategy.reinduction not in self.reinduction:
                raise ValueError(
                    f"'reinduction.{strategy.reinduction}' must be given: strategy {name!r} uses it (got none)"
                )
            if strategy.after == "hsct_in_cr" and self.mitcl is None:
                raise ValueError(f"'mitcl' must be given: strategy {name!r} sends patients in CR to HSCT (got none)")
            if strategy.after == "blinatumomab_with_partial_responders" and self.partial_response is None:
                raise ValueError(
                    f"'partial_response' must be given: strategy {name!r} treats partial responders (got none)"
                )
        return self

    @model_validator(mode="after")
    def _capacity_is_used(self, info: ValidationInfo) -> "Scenario":
        # A variant may run fewer strategies (a trial's null runs): judged when the file loaded.
        if (info.context or {}).get("variant"):
            return self
        capacity = self.capacity
        names = ", ".join(self.strategies)
        if capacity.hsct_slots_per_month is not None and not self._transplants():
            raise ValueError(
                "'capacity.hsct_slots_per_month' must be a resource the strategies use: no strategy transplants "
                f"(every HSCT probability is 0; strategies {names}) (got {shown(capacity.hsct_slots_per_month)})"
            )
        if capacity.blinatumomab_places is not None:
            if capacity.blinatumomab_setting == "inpatient":
                raise ValueError(
                    "'capacity.blinatumomab_places' must be a resource the strategies use: blinatumomab is given "
                    "as inpatient (blinatumomab_setting = 'inpatient'), so cycles take beds, not places; "
                    "Suggestion: drop it or set blinatumomab_setting = 'day_care' "
                    f"(got {shown(capacity.blinatumomab_places)})"
                )
            if not any(self._gives_blinatumomab(name) for name in self.strategies):
                raise ValueError(
                    "'capacity.blinatumomab_places' must be a resource the strategies use: no strategy gives "
                    f"blinatumomab cycles (strategies {names}) (got {shown(capacity.blinatumomab_places)})"
                )
        return self

    def _transplants(self) -> bool:
        """Whether any route of any strategy can reach HSCT (over each probability's whole range)."""
        chances = [self.consolidation.hsct_prob_mrd_negative, self.consolidation.hsct_prob_mrd_positive,
                   self.off_protocol.failure_hsct_prob]
        if self.mitcl is not None and any(self.strategy(n).after == "hsct_in_cr" for n in self.strategies):
            chances.append(self.mitcl.hsct_prob_in_cr)
        return any(highest(chance) > 0 for chance in chances)

    def _gives_blinatumomab(self, name: str) -> bool:
        """Whether strategy ``name`` sends anyone to a blinatumomab arm (HR/IR Arm B or LR Arm D)."""
        after = self.strategy(name).after
        if after == "hsct_in_cr":
            return self.mitcl.otherwise == "blinatumomab" and set(self.mitcl.hsct_risk_groups) != {"LR", "IR", "HR"}
        return after in ("trial", "blinatumomab", "blinatumomab_with_partial_responders")

    @model_validator(mode="after")
    def _ensemble_when_calibrated(self) -> "Scenario":
        if self.run.parameter_mode == "calibrated" and self.calibration_ensemble is None:
            raise ValueError(
                "'run.parameter_mode' = 'calibrated' needs the calibrated ensemble: name it with "
                "ensemble = \"x.ensemble.parquet\" and write it with `simulate calibrate` (got none)"
            )
        if self.calibration_ensemble is not None:
            for path in self.calibration_ensemble.paths:
                try:
                    parameter_value(self, path)
                except KeyError:
                    raise ValueError(
                        f"'calibration_ensemble' must name parameters of this scenario: {path!r} is not one "
                        f"(got {self.calibration_ensemble.file})"
                    ) from None
        return self

    @model_validator(mode="after")
    def _trial_arms_are_strategies(self, info: ValidationInfo) -> "Scenario":
        # A variant may run fewer strategies than the trial names (null trials run the control alone).
        if self.trial is not None and not (info.context or {}).get("variant"):
            self.trial.check_against(self.strategies)
        return self

    @model_validator(mode="after")
    def _sweep_names_parameters(self, info: ValidationInfo) -> "Scenario":
        # A variant (sweep point, realised copy) has numbers where its plan sampled
        # distributions; the plan was checked when the file loaded.
        if self.sweep is None or (info.context or {}).get("variant"):
            return self
        from sim.scenario.measures import MEASURES

        for table, paths in (("grid", self.sweep.grid), ("one_way", self.sweep.one_way),
                             ("parameters", self.sweep.parameters)):
            for path in paths:
                try:
                    value = parameter_value(self, path)
                except KeyError:
                    close = difflib.get_close_matches(path, numeric_paths(self), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    raise ValueError(
                        f"'sweep.{table}' must name parameters of this scenario: {path!r} is not one{hint} (got {path!r})"
                    ) from None
                if self.sweep.design in SAMPLED and not isinstance(value, _Dist):
                    raise ValueError(
                        f"'sweep.{table}' must name distribution-valued parameters for design = "
                        f"{self.sweep.design!r}: {path!r} is a fixed number (got {value})"
                    )
        from sim.scenario.measures import ECONOMICS_MEASURES

        unknown = [o for o in self.sweep.outcomes if o not in MEASURES and o not in ECONOMICS_MEASURES]
        if unknown:
            raise ValueError(
                f"'sweep.outcomes' must be among {', '.join([*MEASURES, *ECONOMICS_MEASURES])} (got {unknown})"
            )
        economic = [o for o in self.sweep.outcomes if o in ECONOMICS_MEASURES]
        if economic and self.economics is None:
            raise ValueError(
                f"'sweep.outcomes' must name economics measures only with an [economics] table (unit costs, "
                f"utilities, discount rates): {economic} need one; Suggestion: add one, as in "
                "scenarios/economics_example.toml, or drop them (got no [economics])"
            )
        return self

    @model_validator(mode="after")
    def _care_when_not_randomised(self) -> "Scenario":
        if self.assignment.some_not_randomised():
            self.off_protocol.not_randomised_care.refuse_if_empty(
                "off_protocol.not_randomised_care", " when some patients are not randomised")
        return self

    @model_validator(mode="after")
    def _follow_up_covers_block1(self) -> "Scenario":
        # Over the whole range a distribution can draw, not only its central value.
        horizon = lowest(self.follow_up.horizon_days)
        block1_days = highest(self.block1.therapy_days)
        if horizon <= block1_days:
            raise ValueError(
                f"'follow_up.horizon_days' must be longer than Block 1 ({block1_days:g} days) (got {horizon:g})"
            )
        cutoff = self.follow_up.data_cutoff_day
        accrual = highest(self.cohort.accrual_days) if self.cohort.accrual == "staggered" else 0.0
        if self.follow_up.censoring == "data_cutoff" and cutoff is not None and lowest(cutoff) < accrual + 90:
            raise ValueError(
                f"'follow_up.data_cutoff_day' must be at least 90 days after the end of accrual "
                f"(day {accrual:g}) so every patient finishes Block 1 (got {lowest(cutoff):g})"
            )
        return self

    @field_validator("name")
    @classmethod
    def _slug(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"must use only letters, digits, '_', '-' or '.' (got {name!r})")
        if name in (".", ".."):  # names a folder under outputs/: not the folder itself, nor its parent
            raise ValueError(f"must name a folder, not '.' or '..' (got {name!r})")
        return name

    @field_validator("strategies")
    @classmethod
    def _known_unique(cls, names: list[str], info: ValidationInfo) -> list[str]:
        if not names:
            raise ValueError("must list at least one strategy (got [])")
        known = [*BUILT_IN, *(info.data.get("custom_strategies") or {})]
        for name in names:
            if name not in known:
                raise ValueError(f"unknown strategy {name!r}; known: {', '.join(known)}")
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"strategy names must be unique (got {duplicated} more than once)")
        return names
