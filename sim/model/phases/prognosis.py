"""The prognostic layer: how a patient's prognosis shifts every risk after Block 1.

Every post-induction event follows the mixture-cure form of ``sim.model.survival``:
a state's event probability (relapse, or death after a second relapse) and a
Weibull time among those who have it. Covariates act on it in one way only,
as a shift of the event probability's log-odds::

    logit p_patient = logit p_state + shift(patient, state)

where ``p_state`` is the state's baseline (the reference patient: relapse
>= 36 months from diagnosis, marrow MRD below the detection limit, combined
marrow or isolated extramedullary relapse, not CNS2, under 18, female, not
obese, on protocol). The shift is a sum of log odds ratios, each a scenario
parameter in ``[prognosis]`` with a prior (range and source):

=============================  =======================================================  ======  =======
effect                         evidence (calibration inputs)                            relapse salvage
=============================  =======================================================  ======  =======
time to first relapse          < 18 and 18-36 vs >= 36 months: the strongest predictor    yes     yes
                               (section 9: Nguyen 2008, Rheingold 2024; section 3.4)
marrow MRD level               step at the detection limit plus a slope per log10 above    yes     no
                               it (section 6 HSCT-MRD; section 9: "increasing levels",
                               Hagedorn for isolated extramedullary relapse); unknown
                               MRD has its own effect
isolated marrow                vs combined (section 3.4: inferior OS)                      yes     yes
marrow + CNS2                  vs CNS3/CNS1 (section 3.4: BM + CNS2 fares worse)           yes     yes
age >= 18, male                section 3.4: inferior EFS, not OS                           yes     no
obesity, extramedullary        section 3.4                                                 yes     no
relapse soon after HSCT        section 9 (HowITreat): within 6-12 months does worst        no      yes
off-protocol care              section 3.4: patients leaving protocol do badly            yes     yes
=============================  =======================================================  ======  =======

"relapse" is every relapse clock after Block 1 (HR/IR without HSCT, after
HSCT with the pre-HSCT MRD, LR therapy, MITCL in CR, off protocol); "salvage"
is death after a second relapse. A higher MRD never lowers relapse risk: both
MRD effects are constrained to be >= 0.
"""

from __future__ import annotations

import math

from sim.model.records import PatientRecord
from sim.scenario.post_induction import PrognosisParams

MRD_MAX_LOG10_ABOVE_LIMIT = 4.0  # 0.01% to 100%: the assay's whole range
# Off-protocol care modelled on the arms; palliative care has its own baseline.
OFF_PROTOCOL_ACTIVE_CARE = frozenset({"chemo", "blinatumomab"})


def _biology(record: PatientRecord, effects: PrognosisParams) -> float:
    """Effects of the first relapse itself, shared by relapse and salvage."""
    shift = 0.0
    months = record.months_to_relapse
    if months < 18.0:
        shift += effects.relapse_lt18_months_log_odds
    elif months < 36.0:
        shift += effects.relapse_18_36_months_log_odds
    if record.relapse_site == "isolated_marrow":
        shift += effects.isolated_marrow_log_odds
    if record.cns_status == "CNS2" and not record.relapse_group.startswith("iem"):
        shift += effects.marrow_cns2_log_odds
    if record.off_protocol_therapy in OFF_PROTOCOL_ACTIVE_CARE:
        shift += effects.off_protocol_log_odds
    return shift


def mrd_log_odds(mrd_percent: float | None, effects: PrognosisParams) -> float:
    """Shift for the latest marrow MRD: 0 below the detection limit, then a step
    and a slope per log10 (capped at 100%); ``None`` is unknown MRD."""
    if mrd_percent is None:
        return effects.mrd_unknown_log_odds
    limit = effects.mrd_detection_limit_percent
    if mrd_percent < limit:
        return 0.0
    levels = math.log10(mrd_percent / limit)
    if levels > MRD_MAX_LOG10_ABOVE_LIMIT:  # a comparison, not min(): this runs at every relapse clock
        levels = MRD_MAX_LOG10_ABOVE_LIMIT
    return effects.mrd_positive_log_odds + effects.mrd_per_log10_log_odds * levels


def relapse_shift(record: PatientRecord, effects: PrognosisParams, mrd_percent: float | None) -> float:
    """Log-odds shift of a relapse probability, given the latest marrow MRD."""
    shift = _biology(record, effects) + mrd_log_odds(mrd_percent, effects)
    if record.age_years >= 18.0:
        shift += effects.age_18_plus_log_odds
    if record.sex == "male":
        shift += effects.male_log_odds
    if record.obese and record.relapse_group.startswith("iem"):
        shift += effects.obese_extramedullary_log_odds
    return shift


def salvage_death_shift(record: PatientRecord, effects: PrognosisParams) -> float:
    """Log-odds shift of death after a second relapse (salvage fails), at the relapse."""
    shift = _biology(record, effects)
    if record.hsct and record.now_days - record.hsct_day < effects.early_relapse_after_hsct_days:
        shift += effects.early_relapse_after_hsct_log_odds
    return shift
