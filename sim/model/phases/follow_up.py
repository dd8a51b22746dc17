"""Follow-up: remission with competing relapse and death, and salvage after relapse.

Clinical steps:

1. **In remission** after the last therapy, relapse and death in remission
   compete; whichever day comes first (each drawn by the phase that set the
   state, see ``sim.model.survival``) ends remission, unless follow-up ends first.
2. **Relapse** (a second relapse) is an EFS event. The patient gets salvage
   therapy (CAR-T, inotuzumab, blinatumomab or a second HSCT, drawn from
   assumed shares and recorded) and then survives long term with a
   probability that depends on the therapy the relapse followed (after LR
   therapy: by arm, lower for isolated extramedullary relapse; HR/IR without
   HSCT; after HSCT, section 6: 25-30% long-term survival after a second
   HSCT), shifted by the prognostic layer (``sim.model.phases.prognosis``: time
   to first relapse, site, a relapse soon after HSCT, off-protocol care),
   otherwise dies of relapse at a Weibull time.

Follow-up takes no limited resource in any scenario, and nothing after it can
meet one, so it runs on the patient's own clock (:func:`~sim.model.phases.common.advance`)
and makes no SimPy wait, whatever the run. The pathway then waits once more
(with nothing limited, its only wait), to the end of follow-up, so that each
patient's process, and the run with its occupancy table, spans the patient's
pathway (``sim.model.pathway.patient_pathway``).

Parameters: ``[second_relapse]``, effects ``[prognosis]``.
Streams: ``follow_up.*``.
"""

from __future__ import annotations

from sim.model.phases.common import advance, death, efs_event
from sim.model.phases.prognosis import salvage_death_shift
from sim.model.records import EventLog, PatientRecord
from sim.model.streams import Streams, pick_weighted
from sim.model.survival import adjusted_prob, cure_weibull_time
from sim.scenario.post_induction import PrognosisParams, SecondRelapseParams

SALVAGE_CONTEXTS = ("after_lr", "after_hr_ir", "after_hsct")


def after_relapse(
    record: PatientRecord, params: SecondRelapseParams, effects: PrognosisParams,
    context: str, streams: Streams, log: EventLog, therapy: str = "chemo",
) -> None:
    """A relapse now: EFS event, salvage, then survival or death from relapse.

    ``therapy`` (chemo or blinatumomab) matters after LR therapy only.
    """
    i = record.patient_id
    record.relapse_day = record.now_days
    efs_event(record, log, "relapse")
    log.add(record, "relapse", context)
    record.salvage = pick_weighted(streams.draws["follow_up.salvage"][i], params.salvage_shares)
    log.add(record, "salvage", record.salvage)
    survival = getattr(params, f"survival_prob_{context}")
    if context == "after_lr":
        survival = adjusted_prob(
            getattr(survival, therapy),
            params.extramedullary_after_lr_log_odds if record.relapse_group.startswith("iem") else 0.0,
        )
    death_prob = adjusted_prob(1.0 - survival, salvage_death_shift(record, effects))
    timing = params.death_timing
    death_in = cure_weibull_time(
        streams.draws["follow_up.relapse_death"][i], streams.draws["follow_up.relapse_death_day"][i],
        death_prob, timing.median_days, timing.shape,
    )
    if advance(record, record.censor_day, death=record.now_days + death_in) == "death":
        death(record, log, "relapse")


def in_remission(
    record: PatientRecord, params: SecondRelapseParams, effects: PrognosisParams,
    context: str, relapse_day: float, death_day: float, death_cause: str, streams: Streams, log: EventLog,
    therapy: str = "chemo",
) -> None:
    """Remission until relapse, death in remission, or the end of follow-up."""
    outcome = advance(record, record.censor_day, relapse=relapse_day, death=death_day)
    if outcome == "relapse":
        after_relapse(record, params, effects, context, streams, log, therapy)
    elif outcome == "death":
        death(record, log, death_cause)
