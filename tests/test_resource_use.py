"""Resource use per patient: every inpatient block of every arm, blinatumomab days, health states.

Traces with fixed draws pin the LR arms' blocks exactly; whole replications
of the AALL1331 trial emulation (all four arms, central values) check per arm
that each expected block adds its days, patient by patient, for the patients
who complete their arm event-free; and that the states add up to follow-up.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.model.phases.common import close_states
from sim.model.phases.low_risk import low_risk_therapy
from sim.model.records import PatientRecord
from sim.scenario.schema import realise
from tests.conftest import run_frames
from tests.test_arm_traces import (  # noqa: F401 (fixtures)
    EOB1,
    lr_draws,
    models,
    params,
    randomised_patient,
    trace,
)


@pytest.mark.parametrize("therapy, inpatient, blinatumomab", [
    ("chemo", 28.0 + 28.0, 0.0),                    # Arm C: Blocks 2 and 3 in hospital
    ("blinatumomab", 28.0, 28.0 + 0.5 * 112.0),     # Arm D: Block 2; the blinatumomab block; 2 x 28 of 112 days of continuation
])
def test_low_risk_blocks_count_by_arm(params, therapy, inpatient, blinatumomab) -> None:  # noqa: F811
    record = randomised_patient(mrd_percent=0.005)
    lr = params.low_risk
    trace(lambda env, streams, log: low_risk_therapy(env, record, lr, therapy, 0.005, params.prognosis, streams, log),
          record, lr_draws())
    assert (record.inpatient_days, record.blinatumomab_days) == (inpatient, blinatumomab)
    # on therapy through continuation (day 198); maintenance counts as remission
    assert record.therapy_until_day == EOB1 + lr.block_days * 2 + lr.continuation_days == 198.0


def test_a_relapse_in_block3_counts_only_the_days_given(params) -> None:  # noqa: F811
    record = randomised_patient(mrd_percent=0.005)
    lr = params.low_risk
    u_day = 1.0 - math.exp(-math.log(2) * (40.0 / 540.0) ** 1.5)  # relapse 40 days after randomisation, in Block 3
    trace(lambda env, streams, log: low_risk_therapy(env, record, lr, "chemo", 0.005, params.prognosis, streams, log),
          record, lr_draws(u_relapse=0.0, u_relapse_day=u_day))
    assert record.now_days == pytest.approx(EOB1 + 40.0)
    assert record.inpatient_days == pytest.approx(40.0)  # Block 2 whole, 12 days of Block 3


def _closed(**fields) -> PatientRecord:
    record = PatientRecord(patient_id=0, **fields)
    close_states(record)
    return record


def test_states_follow_each_other_and_add_up_to_follow_up() -> None:
    relapsed = _closed(therapy_until_day=200.0, efs_days=500.0, efs_event=True, efs_event_type="relapse",
                       os_days=800.0, os_event=True)
    assert (relapsed.on_therapy_days, relapsed.remission_days, relapsed.after_relapse_days) == (200.0, 300.0, 300.0)
    assert relapsed.therapy_end_day == 200.0
    failed = _closed(therapy_until_day=200.0, efs_days=35.0, efs_event=True, efs_event_type="treatment_failure",
                     os_days=400.0, os_event=True)
    assert (failed.on_therapy_days, failed.remission_days, failed.after_relapse_days) == (35.0, 0.0, 365.0)
    died_on_therapy = _closed(therapy_until_day=200.0, efs_days=90.0, efs_event=True, efs_event_type="death",
                              os_days=90.0, os_event=True)
    assert (died_on_therapy.on_therapy_days, died_on_therapy.therapy_end_day) == (90.0, 90.0)
    censored_on_therapy = _closed(therapy_until_day=200.0, efs_days=100.0, os_days=100.0)
    assert (censored_on_therapy.on_therapy_days, censored_on_therapy.therapy_end_day) == (100.0, None)


@pytest.fixture(scope="module")
def trial_patients(base_scenario):
    patients, _ = run_frames(base_scenario, 11, range(3))
    return patients


def test_every_arm_counts_its_inpatient_blocks(trial_patients, base_scenario) -> None:
    """Patients who complete their arm event-free, alive past its end: Block 1 (from day 0, no
    bed wait) plus each arm's blocks, and for HR/IR the HSCT admission."""
    central = realise(base_scenario)
    hsct = central.hsct.conditioning_days + central.hsct.inpatient_days_after_graft
    chemo_block = central.consolidation.chemo.duration_days
    lr_block = central.low_risk.block_days
    p = trial_patients[~trial_patients["efs_event"] & (trial_patients["os_days"] > 800) & trial_patients["arm"].notna()]
    beyond_block1 = p["inpatient_days"] - p["eob1_day"]
    seen = {}
    for arm, rows in beyond_block1.groupby(p["arm"]):
        frame = p.loc[rows.index]
        if arm in ("A_chemo", "B_blinatumomab"):
            transplanted = frame["hsct"].to_numpy(bool)
            blocks = frame["consolidation_cycles"].to_numpy(float) * (chemo_block if arm == "A_chemo" else 0.0)
            expected = blocks + np.where(transplanted, hsct, 0.0)
        else:
            expected = np.full(len(frame), 2 * lr_block if arm == "C_chemo" else lr_block)
        np.testing.assert_allclose(rows.to_numpy(), expected, err_msg=arm)
        seen[arm] = len(frame)
        counted = rows if arm != "B_blinatumomab" else rows[frame["hsct"].to_numpy(bool)]  # B: infusions only
        assert len(counted) and (counted > 0).all(), f"{arm}: a patient with nothing beyond Block 1"
    assert set(seen) == {"A_chemo", "B_blinatumomab", "C_chemo", "D_blinatumomab"} and min(seen.values()) >= 5, seen


def test_blinatumomab_days_by_arm(trial_patients) -> None:
    p = trial_patients[~trial_patients["efs_event"] & (trial_patients["os_days"] > 800) & trial_patients["arm"].notna()]
    by_arm = p.groupby("arm")["blinatumomab_days"]
    assert by_arm.max()["A_chemo"] == 0.0 and by_arm.max()["C_chemo"] == 0.0
    b = p[p["arm"] == "B_blinatumomab"]
    np.testing.assert_allclose(b["blinatumomab_days"], 28.0 * b["consolidation_cycles"].astype(float))
    np.testing.assert_allclose(p.loc[p["arm"] == "D_blinatumomab", "blinatumomab_days"], 28.0 * 3)


def test_resource_use_and_states_hold_for_every_patient(trial_patients) -> None:
    p = trial_patients
    total = p["on_therapy_days"] + p["remission_days"] + p["after_relapse_days"]
    np.testing.assert_allclose(total, p["os_days"], rtol=0, atol=1e-9)
    assert (p[["on_therapy_days", "remission_days", "after_relapse_days", "blinatumomab_days"]] >= 0).all().all()
    assert (p["inpatient_days"] + p["blinatumomab_days"] <= p["os_days"] + 1e-9).all()
    relapsed = p["relapse_day"].notna()
    assert (p.loc[relapsed, "after_relapse_days"] > 0).all() or (p.loc[relapsed, "relapse_day"] == p.loc[relapsed, "os_days"]).any()
