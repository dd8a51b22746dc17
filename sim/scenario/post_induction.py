"""Parameter groups of the pathway after Block 1: arms, HSCT, follow-up, salvage.

Each group is validated like the Block 1 groups (``sim.scenario.schema``). Values
marked *fitted* in the scenario are written by ``simulate calibrate`` into the
scenario's fitted-values file; the rest come from evidence rows or are
assumptions with ranges.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from sim.scenario.distributions import highest, lowest
from sim.scenario.types import (
    AnyReal,
    DiscountRate,
    Documented,
    Frozen,
    NonNegative,
    Positive,
    Probability,
    RequiredShares,
    Shares,
    Utility,
    not_above,
)


class ByCycle(Frozen):
    cycle1: Probability
    cycle2: Probability


class ByMrdStatus(Frozen):
    mrd_negative: Probability
    mrd_positive: Probability


class ConsolidationBlock(Frozen):
    """One kind of HR/IR consolidation cycle (UKALL R3 Block 2/3, or blinatumomab)."""

    duration_days: Positive
    rest_days: NonNegative
    toxic_death_prob: Probability
    late_failure_prob: Probability
    mrd_log10_reduction: AnyReal
    stop_after_cycle1_prob: ByMrdStatus
    mrd_unassessed_after_cycle2_prob: Probability
    grade3plus_prob: ByCycle
    infection_grade3plus_prob: ByCycle


class ByTherapy(Frozen):
    chemo: Probability
    blinatumomab: Probability


class WeibullTiming(Frozen):
    """Event timing among those who have the event (``sim.model.survival``)."""

    form: Literal["weibull"] = "weibull"
    median_days: Positive
    shape: Positive


class ConsolidationParams(Documented):
    """HR/IR: Arm A (chemo) and Arm B (blinatumomab), two cycles, then HSCT."""

    chemo: ConsolidationBlock
    blinatumomab: ConsolidationBlock
    mrd_response_sd: Positive
    hsct_prob_mrd_negative: Probability
    hsct_prob_mrd_positive: Probability
    no_hsct_relapse_prob: Probability
    relapse_timing: WeibullTiming


class ByDonorType(Frozen):
    matched_sibling: NonNegative
    haploidentical: NonNegative
    matched_unrelated: NonNegative
    mismatched_unrelated: NonNegative


class DonorShares(ByDonorType, RequiredShares):
    """How often each donor type is found (relative weights)."""


class HsctParams(Documented):
    donor_shares: DonorShares
    donor_search_days: ByDonorType
    conditioning_days: NonNegative
    inpatient_days_after_graft: NonNegative
    trm_prob: Probability
    trm_rr_aya: Positive
    aya_min_age_years: NonNegative
    trm_timing: WeibullTiming
    relapse_prob: Probability
    relapse_timing: WeibullTiming


class LowRiskParams(Documented):
    """LR: Arm C (Block 2, Block 3, continuation, maintenance) and Arm D (blinatumomab)."""

    block_days: Positive
    blinatumomab_block_days: Positive
    continuation_days: Positive
    therapy_total_days: Positive
    toxic_death_prob: ByTherapy
    relapse_prob_marrow: ByTherapy
    relapse_prob_extramedullary: Probability
    relapse_timing: WeibullTiming
    block3_febrile_neutropenia_prob: ByTherapy
    block3_infection_prob: ByTherapy
    block3_sepsis_prob: ByTherapy

    @model_validator(mode="after")
    def _maintenance_fits(self) -> "LowRiskParams":
        stages = max(2 * highest(self.block_days), highest(self.block_days) + highest(self.blinatumomab_block_days))
        stages += highest(self.continuation_days)
        if lowest(self.therapy_total_days) < stages:
            raise ValueError(
                "'therapy_total_days' must cover Block 2, Block 3 or blinatumomab and continuation "
                f"({stages:g} days) (got {lowest(self.therapy_total_days):g})"
            )
        return self


class PrognosisParams(Documented):
    """Log-odds effects of the prognostic layer (``sim.model.phases.prognosis``).

    Every effect is a log odds ratio against the reference patient: relapse
    >= 36 months from diagnosis, marrow MRD below the detection limit, combined
    (not isolated) marrow relapse or isolated extramedullary relapse, not
    CNS2, under 18, female, not obese, treated on protocol. Zero switches an
    effect off.
    """

    relapse_lt18_months_log_odds: AnyReal
    relapse_18_36_months_log_odds: AnyReal
    mrd_detection_limit_percent: Positive
    mrd_positive_log_odds: NonNegative
    mrd_per_log10_log_odds: NonNegative
    mrd_unknown_log_odds: AnyReal
    isolated_marrow_log_odds: AnyReal
    marrow_cns2_log_odds: AnyReal
    age_18_plus_log_odds: AnyReal
    male_log_odds: AnyReal
    obese_extramedullary_log_odds: AnyReal
    early_relapse_after_hsct_log_odds: AnyReal
    early_relapse_after_hsct_days: Positive
    off_protocol_log_odds: AnyReal


class SalvageShares(RequiredShares):
    car_t: NonNegative
    inotuzumab: NonNegative
    blinatumomab: NonNegative
    second_hsct: NonNegative


class SecondRelapseParams(Documented):
    """Salvage after relapse: long-term survival by the therapy the relapse followed."""

    survival_prob_after_lr: ByTherapy
    extramedullary_after_lr_log_odds: AnyReal
    survival_prob_after_hr_ir: Probability
    survival_prob_after_hsct: Probability
    death_timing: WeibullTiming
    salvage_shares: SalvageShares


class NotRandomisedCare(Shares):
    """Off-protocol care of risk-assigned patients who are not randomised (shares)."""

    chemo: NonNegative
    blinatumomab: NonNegative
    palliative: NonNegative


class OffProtocolParams(Documented):
    """Patients who leave protocol therapy after Block 1 (section 3.4)."""

    failure_salvage_blinatumomab_prob: Probability
    failure_hsct_prob: Probability
    failure_survival_prob_hsct: Probability
    failure_survival_prob_no_hsct: Probability
    failure_death_timing: WeibullTiming
    not_assigned_event_free_prob: Probability
    not_assigned_survival_prob: Probability
    not_assigned_event_timing: WeibullTiming
    not_assigned_death_timing: WeibullTiming
    not_randomised_care: NotRandomisedCare

    _survival_needs_event_free = not_above("not_assigned_event_free_prob", "not_assigned_survival_prob")


class MitclParams(Documented):
    """After mitoxantrone + clofarabine: a second cycle without CR, then HSCT in CR."""

    second_cycle_cr_prob: Probability
    hsct_prob_in_cr: Probability
    hsct_risk_groups: list[Literal["LR", "IR", "HR"]]
    otherwise: Literal["chemo", "blinatumomab"]


class PartialResponseParams(Documented):
    """Blinatumomab at once also for partial responders (not in CR after reinduction)."""

    partial_response_share_of_failures: Probability


class FollowUpParams(Documented):
    """How long patients are followed, and death in remission without HSCT.

    ``censoring = "data_cutoff"`` stops follow-up at the study day
    ``data_cutoff_day`` (trial emulation with staggered accrual) or at the
    horizon if sooner; ``"horizon"`` follows everyone to the horizon.
    """

    horizon_days: Positive
    censoring: Literal["horizon", "data_cutoff"] = "horizon"
    data_cutoff_day: NonNegative | None = None
    remission_death_prob: Probability
    remission_death_timing: WeibullTiming

    @model_validator(mode="after")
    def _cutoff_given(self) -> "FollowUpParams":
        if self.censoring == "data_cutoff" and self.data_cutoff_day is None:
            raise ValueError("'data_cutoff_day' must be given when censoring = 'data_cutoff' (got none)")
        return self


class SalvageCosts(Frozen):
    """Cost of each salvage therapy (the ``salvage`` column), once per patient who gets it."""

    car_t: NonNegative
    inotuzumab: NonNegative
    blinatumomab: NonNegative
    second_hsct: NonNegative


class UnitCosts(Frozen):
    """Unit costs. ``hsct`` is the procedure without its bed-days (conditioning, graft,
    donor search), which ``bed_day`` already prices through ``inpatient_days``."""

    bed_day: NonNegative
    blinatumomab_day: NonNegative
    hsct: NonNegative
    follow_up_year: NonNegative
    salvage: SalvageCosts


class StateUtilities(Frozen):
    """Utility weight of each health state (``sim.model.phases.common.close_states``)."""

    on_therapy: Utility
    remission: Utility
    after_relapse: Utility


class EconomicsParams(Documented):
    """Costs and QALYs (``sim.analysis.economics``): unit costs, state utilities, annual discount
    rates (applied in continuous time) and the willingness to pay per QALY."""

    currency: str = "GBP"
    discount_rate_costs: DiscountRate
    discount_rate_effects: DiscountRate
    willingness_to_pay: NonNegative
    unit_costs: UnitCosts
    utilities: StateUtilities
