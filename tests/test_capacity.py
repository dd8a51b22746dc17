"""Limited capacity: beds, HSCT slots and blinatumomab places that patients queue for.

* Ample capacity gives the same patients as unlimited capacity, patient by
  patient and event by event. The wait columns are the one difference, by
  design: null under unlimited capacity (nobody queues: no request is made),
  a number under limited capacity for every patient who queued (0 when served
  at once), and ``hsct_wait_outcome`` "granted".
* A binding HSCT limit: waits and relapses while waiting rise as the limit
  falls (seeded, over a few limits), and draws do not depend on the queue.
* Occupancy never exceeds capacity: from the exact peaks the resources keep,
  and independently from the transplants the patients record.
* Bad input: one line naming file, key, rule and value.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim.model.records as records
from sim.bench import CountingEnvironment
from sim.execution.runner import Task, run_task
from sim.model.capacity import MONTH_DAYS
from sim.model.records import EventLog, PatientRecord, events_table
from sim.model.records import _ascending as ascending
from sim.model.replication import simulate_replication
from sim.scenario.distributions import central_value
from sim.scenario.load import load_scenario
from sim.scenario.schema import CapacitySettings, CohortSettings, with_values
from tests.conftest import SCENARIOS_DIR, load_error, write_scenario

WAIT_COLUMNS = ["block1_bed_wait_days", "bed_wait_days", "blinatumomab_wait_days", "hsct_wait_days",
                "hsct_wait_outcome"]


@pytest.fixture(scope="module")
def comparison():
    """The three-strategy comparison (blinatumomab, MITCL, chemotherapy), 200 patients over a year."""
    scenario = load_scenario(SCENARIOS_DIR / "mitcl.toml").scenario
    return scenario.model_copy(update={"cohort": CohortSettings(n_patients=200, accrual="staggered",
                                                                accrual_days=365.0)})


@pytest.fixture(scope="module")
def capacity_scenario():
    return load_scenario(SCENARIOS_DIR / "capacity.toml").scenario


def limited(scenario, **capacity):
    return scenario.model_copy(update={"capacity": CapacitySettings(**capacity)})


def frames(result):
    return result.patients.to_pandas(), result.events.to_pandas()


# --- ample capacity is unlimited capacity --------------------------------------------

@pytest.mark.parametrize("setting", ["day_care", "inpatient"])
def test_ample_capacity_equals_unlimited_patient_by_patient(comparison, setting) -> None:
    ample = limited(comparison, inpatient_beds=10_000, hsct_slots_per_month=10_000,
                    blinatumomab_places=None if setting == "inpatient" else 10_000, blinatumomab_setting=setting)
    for replication in (0, 1):
        unlimited = simulate_replication(comparison, 11, replication)
        result = simulate_replication(ample, 11, replication)
        (p0, e0), (p1, e1) = frames(unlimited), frames(result)
        others = [c for c in p0.columns if c not in WAIT_COLUMNS]
        pd.testing.assert_frame_equal(p0[others], p1[others])
        pd.testing.assert_frame_equal(e0, e1)  # no queue events: nobody waited
        assert unlimited.occupancy is None and p0[WAIT_COLUMNS].isna().all().all()
        # Every patient queued for a bed (each reinduction is inpatient) and was served at once.
        assert (p1["bed_wait_days"] == 0).all() and (p1["block1_bed_wait_days"] == 0).all()
        queued = p1["hsct_wait_days"].notna()
        assert queued.any() and (p1.loc[queued, "hsct_wait_days"] == 0).all()
        assert (p1.loc[queued, "hsct_wait_outcome"] == "granted").all()
        assert (p1["hsct_wait_outcome"].notna() == queued).all()
        blinatumomab = p1["arm"].isin(["B_blinatumomab", "D_blinatumomab"])
        if setting == "day_care":
            assert (p1.loc[blinatumomab, "blinatumomab_wait_days"].dropna() == 0).all()
            assert p1.loc[blinatumomab, "blinatumomab_wait_days"].notna().any()
        else:
            assert p1["blinatumomab_wait_days"].isna().all()  # cycles take beds instead
        assert (result.occupancy.to_pandas()["queued_max"] == 0).all()


class PathwayEnds(CountingEnvironment):
    """An environment that notes the SimPy time at which each patient's process ends, by patient,
    and counts the SimPy waits (timeouts) it is asked for, as the benchmark's does."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: dict[int, float] = {}

    def process(self, generator):
        record = generator.gi_frame.f_locals.get("record")  # a patient's pathway; None for the monitor
        if record is None:
            return super().process(generator)

        def noted():
            value = yield from generator
            self.ends[record.patient_id] = self.now
            return value
        return super().process(noted())


def test_patients_wait_in_simpy_at_every_step_only_when_a_resource_is_limited(comparison, monkeypatch) -> None:
    """Without a limited resource no patient can change what happens to another: each pathway runs
    on the patient's own clock and its process makes one SimPy wait, from the start of the run to the
    patient's enrolment day plus its last day. With one, patients meet at it: they enter at their
    enrolment day and every step of therapy is a SimPy wait. Either way each process ends at its
    pathway's end on the run's clock, so the run (and its occupancy table) spans every pathway; the
    test above shows the two give the same patients. With nothing limited each patient's rows are
    logged together, so the events table needs no sort."""
    ample = limited(comparison, inpatient_beds=10_000, hsct_slots_per_month=10_000)
    in_order: list[bool] = []
    monkeypatch.setattr(records, "_ascending", lambda keys: in_order.append(ascending(keys)) or in_order[-1])
    for scenario, at_every_step in ((comparison, False), (ample, True)):
        environments: list[PathwayEnds] = []
        in_order.clear()

        def environment() -> PathwayEnds:
            environments.append(PathwayEnds())
            return environments[-1]

        patients = simulate_replication(scenario, 11, 0, environment=environment).patients.to_pandas()
        assert len(environments) == patients["strategy"].nunique() == 3
        for env, (strategy, rows) in zip(environments, patients.groupby("strategy", sort=False)):
            pathway_end = (rows["enrolment_day"] + rows["pathway_end_day"]).to_numpy()
            process_end = np.array([env.ends[i] for i in rows["patient_id"]])
            np.testing.assert_allclose(process_end, pathway_end, rtol=0, atol=1e-6, err_msg=strategy)
            assert env.now == pytest.approx(pathway_end.max(), abs=1e-6)
            if at_every_step:  # enrolment, Block 1, assignment, therapy..., beside the monitor's one a day
                assert env.n_timeouts - (math.floor(env.now) + 1) > 3 * len(rows), strategy
            else:
                assert env.n_timeouts == (pathway_end > 0).sum() == len(rows), strategy
        assert in_order == [not at_every_step] * 3  # the events tables of the three strategies


def test_the_events_table_keeps_each_patients_rows_together_in_the_order_logged() -> None:
    """With nothing limited each patient's rows are logged together and kept as they came; with a
    limited resource patients' rows interleave, and a stable sort by patient puts them together,
    each patient's in the order logged."""
    def log_of(patients: list[int]) -> EventLog:
        log = EventLog()
        for k, patient in enumerate(patients):
            log.add_at(PatientRecord(patient), float(k), f"event {k}")
        return log

    for logged in ([0, 0, 1, 1, 1, 2], [2, 0, 1, 0, 2, 1, 0]):
        table = events_table("s", 0, log_of(logged), 0.01).to_pandas()
        expected = sorted(range(len(logged)), key=lambda k: logged[k])  # Python's sort is stable
        assert table["patient_id"].tolist() == [logged[k] for k in expected]
        assert table["event"].tolist() == [f"event {k}" for k in expected]


# --- a binding HSCT limit ------------------------------------------------------------

LIMITS = (3, 5, 8, 12)


@pytest.mark.parametrize("seed", [0, 1])
def test_waits_and_relapses_while_waiting_rise_as_the_hsct_limit_falls(capacity_scenario, seed) -> None:
    mitcl = capacity_scenario.model_copy(update={"strategies": ["mitcl"], "reference": None})
    waits, relapses, transplants = [], [], []
    for slots in LIMITS:
        patients = simulate_replication(with_values(mitcl, {"capacity.hsct_slots_per_month": slots}), seed, 0).patients
        patients = patients.to_pandas()
        waits.append(patients["hsct_wait_days"].mean())
        relapses.append(int((patients["hsct_wait_outcome"] == "relapse").sum()))
        transplants.append(int(patients["hsct"].sum()))
    # LIMITS rise, so every measure of the queue must fall (weakly) along them, and really move overall.
    assert all(a >= b for a, b in zip(waits, waits[1:])), waits
    assert all(a >= b for a, b in zip(relapses, relapses[1:])), relapses
    assert all(a <= b for a, b in zip(transplants, transplants[1:])), transplants
    assert waits[0] > 10 * waits[-1] and relapses[0] > relapses[-1] + 50


def test_draws_do_not_depend_on_the_queue(capacity_scenario) -> None:
    """Only HSCT slots limited: everything before the slot queue is the same for every patient."""
    unlimited = limited(capacity_scenario)
    tight = with_values(capacity_scenario, {"capacity.hsct_slots_per_month": 3})
    p0, p1 = (simulate_replication(s, 4, 0).patients.to_pandas() for s in (unlimited, tight))
    before = ["enrolment_day", "age_years", "block1_max_grade", "block1_death", "eob1_mrd_percent", "risk_group",
              "arm", "consolidation_cycles", "cycle1_mrd_percent", "cycle2_mrd_percent"]
    pd.testing.assert_frame_equal(p0[before], p1[before])
    searched = p0["donor_type"].notna()
    pd.testing.assert_series_equal(p0.loc[searched, "donor_type"], p1.loc[searched, "donor_type"])
    assert (p1["hsct_wait_days"] > 0).sum() > 100  # the queue really formed


# --- occupancy never exceeds capacity -------------------------------------------------

@pytest.fixture(scope="module")
def tight_run(comparison, tmp_path_factory):
    """Every resource limited and binding, written through the runner like a real run."""
    run_dir = tmp_path_factory.mktemp("tight")
    scenario = limited(comparison, inpatient_beds=12, hsct_slots_per_month=3, blinatumomab_places=4)
    run_task(scenario, 2, Task(0, 2), run_dir)
    return scenario, run_dir


def test_occupancy_never_exceeds_capacity(tight_run) -> None:
    _, run_dir = tight_run
    occupancy = pd.read_parquet(run_dir / "occupancy")
    assert set(occupancy["resource"]) == {"inpatient_beds", "hsct_slots", "blinatumomab_places"}
    assert (occupancy["in_use_max"] <= occupancy["capacity"]).all()
    assert (occupancy["in_use"] <= occupancy["in_use_max"]).all() and (occupancy["queued"] <= occupancy["queued_max"]).all()
    assert (occupancy[["in_use", "queued"]] >= 0).all().all()
    peaks = occupancy.groupby("resource")[["in_use_max", "queued_max"]].max()
    assert (peaks["in_use_max"] == occupancy.groupby("resource")["capacity"].max()).all()  # limits reached
    assert (peaks["queued_max"] > 0).all()  # and binding: the check is not vacuous
    days = occupancy.groupby(["strategy", "replication", "resource"])["day"]
    assert (days.min() == 0).all() and (days.count() == days.max() + 1).all()  # one row per day, no gaps


def test_transplants_in_any_month_never_exceed_the_slots(tight_run) -> None:
    """Independent of the resource's own count: slot grants the patients record, in sliding month windows."""
    scenario, run_dir = tight_run
    patients = pd.read_parquet(run_dir / "patients")
    conditioning = central_value(scenario.hsct.conditioning_days)
    transplanted = patients[patients["hsct"]]
    granted = transplanted["enrolment_day"] + transplanted["hsct_day"] - conditioning  # every transplant conditions
    for _, days in granted.groupby([transplanted["strategy"], transplanted["replication"]], observed=True):
        days = np.sort(days.to_numpy())
        in_window = np.searchsorted(days, days + MONTH_DAYS - 1e-9, side="right") - np.arange(len(days))
        assert in_window.max() <= 3
        assert in_window.max() == 3  # the limit is reached


def test_occupancy_parts_follow_the_patients_parts(tight_run) -> None:
    _, run_dir = tight_run
    names = lambda d: sorted(p.name for p in (run_dir / d).glob("*.parquet"))  # noqa: E731
    assert names("occupancy") == names("patients") == ["part-r000000-000001.parquet"]


def test_unlimited_runs_write_no_occupancy(comparison, tmp_path) -> None:
    run_task(comparison.model_copy(update={"cohort": CohortSettings(n_patients=20)}), 2, Task(0, 1), tmp_path)
    assert (tmp_path / "patients").exists() and not (tmp_path / "occupancy").exists()


# --- bad input -----------------------------------------------------------------------

BAD_CAPACITY = [
    pytest.param("[capacity]\ninpatient_beds = 0\n",
                 "{file}: capacity.inpatient_beds: must be a capacity of at least 1 place (got 0)", id="zero-beds"),
    pytest.param("[capacity]\nhsct_slots_per_month = -2\n",
                 "{file}: capacity.hsct_slots_per_month: must be a capacity of at least 1 place (got -2)",
                 id="negative-slots"),
    pytest.param('[capacity]\nhsct_slots_per_month = { dist = "uniform", low = 0, high = 4, assumption = "x" }\n',
                 "{file}: capacity.hsct_slots_per_month: must be a capacity of at least 1 place; "
                 "a uniform distribution reaches [0, 4] (got {{'dist': 'uniform', 'low': 0, 'high': 4, "
                 "'assumption': 'x'}})", id="distribution-reaching-zero"),
    pytest.param('[capacity]\nblinatumomab_places = "4"\n',
                 "{file}: capacity.blinatumomab_places: must be a capacity of at least 1 place or a distribution "
                 "table (got '4')", id="string-places"),
    pytest.param('strategies = ["r3_chemo"]\n[capacity]\nblinatumomab_places = 4\n',
                 "{file}: capacity.blinatumomab_places: must be a resource the strategies use: no strategy gives "
                 "blinatumomab cycles (strategies r3_chemo) (got 4)", id="places-nothing-uses"),
    pytest.param('[capacity]\nblinatumomab_places = 4\nblinatumomab_setting = "inpatient"\n',
                 "{file}: capacity.blinatumomab_places: must be a resource the strategies use: blinatumomab is given "
                 "as inpatient (blinatumomab_setting = 'inpatient'), so cycles take beds, not places; "
                 "Suggestion: drop it or set blinatumomab_setting = 'day_care' (got 4)", id="places-inpatient"),
    pytest.param("[capacity]\nhsct_slots_per_month = 5\n[consolidation]\nhsct_prob_mrd_negative = 0.0\n"
                 "hsct_prob_mrd_positive = 0.0\n[off_protocol]\nfailure_hsct_prob = 0.0\n",
                 "{file}: capacity.hsct_slots_per_month: must be a resource the strategies use: no strategy "
                 "transplants (every HSCT probability is 0; strategies aall1331) (got 5)", id="slots-nothing-uses"),
    pytest.param('[capacity]\nblinatumomab_setting = "home"\n',
                 "{file}: capacity.blinatumomab_setting: input should be 'day_care' or 'inpatient' (got 'home')",
                 id="unknown-setting"),
    pytest.param("[capacity]\noperating_theatres = 2\n",
                 "{file}: capacity.operating_theatres: unknown key; allowed: inpatient_beds, hsct_slots_per_month, "
                 "blinatumomab_places, blinatumomab_setting", id="unknown-resource"),
]


@pytest.mark.parametrize("body, expected", BAD_CAPACITY)
def test_bad_capacity_message(tmp_path: Path, body: str, expected: str) -> None:
    path, refusal = load_error(tmp_path, body)
    assert str(refusal) == expected.format(file=path)


def test_bad_capacity_on_the_command_line_is_one_line(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, "[capacity]\nhsct_slots_per_month = 0\n", name="bad.toml")
    done = subprocess.run([sys.executable, "-m", "sim", str(path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 2
    assert done.stderr == (f"error: {path}: capacity.hsct_slots_per_month: must be a capacity of at least 1 place "
                           "(got 0)\n")
    assert not (tmp_path / "out").exists()


def test_a_used_capacity_loads(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, "[capacity]\ninpatient_beds = 30\nhsct_slots_per_month = 4\n"
                                    "blinatumomab_places = 6\n", name="ok.toml")
    assert load_scenario(path).scenario.capacity.limited == ("inpatient_beds", "hsct_slots_per_month",
                                                             "blinatumomab_places")


def test_capacity_run_prints_the_queue_and_its_report_shows_it(tmp_path: Path) -> None:
    """End to end: a limited run prints the queue and its effect, and `simulate report` renders them."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "sim", str(SCENARIOS_DIR / "capacity.toml"), "--reps", "2", "--seed", "3",
               "--out", str(out), "--quiet"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "Queues" in run.stdout and "Effect of the queue" in run.stdout
    report = subprocess.run([sys.executable, "-m", "sim", "report", str(out)], capture_output=True, text=True,
                            timeout=600)
    assert report.returncode == 0, report.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Capacity: occupancy and queues" in page and "What the wait does to relapse and survival" in page
