"""One Monte Carlo replication: a pure function of (scenario, seed, replication).

Every strategy of the scenario runs on the same cohort with the same streams
(common random numbers). The function is picklable and touches no files, so
any executor can run it and the result does not depend on which one did.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import pyarrow as pa
import simpy

from sim.model.capacity import occupancy_monitor, occupancy_table, resources_for
from sim.model.cohort import Cohort, case_mix_for, draw_cohort
from sim.model.pathway import Models, patient_pathway
from sim.model.phases.block1 import Block1Model, block1_plans
from sim.model.records import (
    DiscardedEvents,
    EventLog,
    PatientRecord,
    events_table,
    patient_table_layout,
    patients_table,
)
from sim.model.streams import Streams, first_uniforms, generator_for
from sim.scenario.keypaths import VariantError
from sim.scenario.schema import Scenario, distribution_paths, realise, with_values


def realised_parameters(scenario: Scenario, seed: int, replication: int) -> Scenario:
    """The parameter values of one replication, by ``run.parameter_mode``.

    * "central": every distribution at its central value;
    * "sampled": every distribution drawn afresh (probabilistic sensitivity
      analysis), and the fitted parameters from one calibrated set;
    * "calibrated": central values, and the fitted parameters from one
      calibrated set (calibration uncertainty alone).

    Each parameter's uniform comes from its own stream, named by its key path,
    and the calibrated set from its own, so adding a parameter never changes
    another's draw.
    """
    mode = scenario.run.parameter_mode
    if mode == "central":
        return realise(scenario)
    uniforms = {}
    if mode == "sampled":
        paths = distribution_paths(scenario)
        uniforms = {path: float(draw) for path, draw in zip(paths, first_uniforms(
            seed, replication, [f"parameters.{path}" for path in paths]))}
    realised = realise(scenario, uniforms, variant=f"the parameter draw of replication {replication}")
    ensemble = scenario.calibration_ensemble
    if ensemble is None:
        return realised
    k = _ensemble_row(scenario, seed, replication)
    try:
        return with_values(realised, dict(zip(ensemble.paths, ensemble.values[k])))
    except VariantError as exc:  # the file is the culprit: name it, and the row
        raise VariantError(exc.key_problems, f"{ensemble.file}: parameter set {k} (row {k + 1})") from None


def _ensemble_row(scenario: Scenario, seed: int, replication: int) -> int | None:
    """The calibrated set a replication uses (its own stream), or None without an ensemble."""
    ensemble = scenario.calibration_ensemble
    if ensemble is None:
        return None
    u = float(generator_for(seed, replication, "parameters.calibration_ensemble").random())
    return min(int(u * len(ensemble.values)), len(ensemble.values) - 1)


# Realised parameters and models by (scenario object, calibrated set): without sampling they are
# the same for every replication, and building them is a good part of a replication's cost. Each
# entry holds its scenario object, so an entry is used only for that very object (its id cannot be
# reused while cached, and a lookup is one dict read, safe when threads share the process); a new
# scenario object (the next task, sweep point or calibration iterate) empties the cache, so memory
# stays flat.
_REALISED: dict[tuple[int, int | None], tuple[Scenario, Scenario, Models]] = {}
_LAST_SCENARIO: list[Scenario] = []


def replication_models(scenario: Scenario, seed: int, replication: int) -> tuple[Scenario, Models]:
    """:func:`realised_parameters` and :func:`build_models` of one replication, reusing those
    built for an earlier replication of the same scenario object when the values cannot differ
    ("central" mode, or "calibrated" mode's same calibrated set); "sampled" mode builds afresh."""
    mode = scenario.run.parameter_mode
    if mode == "sampled":
        params = realised_parameters(scenario, seed, replication)
        return params, build_models(params)
    key = (id(scenario), None if mode == "central" else _ensemble_row(scenario, seed, replication))
    cached = _REALISED.get(key)
    if cached is None or cached[0] is not scenario:
        if not _LAST_SCENARIO or _LAST_SCENARIO[0] is not scenario:
            _REALISED.clear()
            _LAST_SCENARIO[:] = [scenario]
        params = realised_parameters(scenario, seed, replication)
        cached = _REALISED[key] = (scenario, params, build_models(params))
    return cached[1], cached[2]


def build_models(scenario: Scenario) -> Models:
    """Derived constants of every phase, from realised parameters."""
    case_mix = case_mix_for(scenario.cohort)
    return Models(
        scenario=scenario,
        block1=Block1Model.build(scenario.block1, case_mix),
        reinductions={name: Block1Model.build(params, case_mix) for name, params in scenario.reinduction.items()},
    )


@dataclass(frozen=True)
class ReplicationResult:
    """The tables of one replication; ``events`` is None when not asked for, ``occupancy`` when the
    scenario limits no resource."""

    patients: pa.Table
    events: pa.Table | None
    occupancy: pa.Table | None = None


def run_replication(
    scenario: Scenario, seed: int, replication: int, select: Callable[[Cohort], Sequence[int]] | None = None,
    environment: Callable[[], simpy.Environment] = simpy.Environment, events: bool = True,
    patient_columns: Sequence[str] | None = None,
) -> tuple[pa.Table, pa.Table | None]:
    """Patients and events tables of every strategy for one replication (see :func:`simulate_replication`)."""
    result = simulate_replication(scenario, seed, replication, select, environment, events, patient_columns)
    return result.patients, result.events


def simulate_replication(
    scenario: Scenario, seed: int, replication: int, select: Callable[[Cohort], Sequence[int]] | None = None,
    environment: Callable[[], simpy.Environment] = simpy.Environment, events: bool = True,
    patient_columns: Sequence[str] | None = None,
) -> ReplicationResult:
    """Patients, events and (with limited capacity) occupancy tables of every strategy for one replication.

    ``select`` (picklable) picks the patients to simulate from the drawn cohort,
    e.g. a trial's eligible patients, each at most once; each keeps its row of
    every stream. ``environment`` makes each strategy's SimPy environment; the
    benchmark passes one that counts the events it processes. Limited resources
    (``sim.model.capacity``) are shared by the patients of one strategy, whose
    every step then waits in SimPy; with none, each patient's steps run on its
    own clock (:func:`sim.model.pathway.patient_pathway`). Either way the run
    ends when the last patient's pathway ends.

    ``events=False`` logs no events and builds no events table (``events`` is
    None), for callers that read only the patients (a sweep's points,
    calibration, trial simulations); ``patient_columns`` builds only those
    columns of the patients table (after its key columns; see
    :func:`sim.model.records.patients_table`). Every patient, draw and value
    is the same either way.
    """
    patient_table_layout(patient_columns)  # an unknown column fails here, before anything is simulated
    with collector_paused():
        return _simulate(scenario, seed, replication, select, environment, events, patient_columns)


_PAUSE_LOCK = threading.Lock()
_PAUSES = [0, False]  # replications under way in this process; whether the collector ran before the first


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a replication runs.

    A replication allocates hundreds of thousands of short-lived objects
    (events, generator frames, rows), and the collector would otherwise stop
    every 700 allocations to scan them, a fifth of the run time. What the
    replication leaves in reference cycles is bounded by one replication and
    collected at the first collection after it. Replications running at once
    in threads of one process share the pause: the collector is restored, as
    it was, when the last of them ends (also on an exception).
    """
    with _PAUSE_LOCK:
        if _PAUSES[0] == 0:
            _PAUSES[1] = gc.isenabled()
            gc.disable()
        _PAUSES[0] += 1
    try:
        yield
    finally:
        with _PAUSE_LOCK:
            _PAUSES[0] -= 1
            if _PAUSES[0] == 0 and _PAUSES[1]:
                gc.enable()


def _simulate(scenario: Scenario, seed: int, replication: int, select, environment, events: bool,
              patient_columns: Sequence[str] | None) -> ReplicationResult:
    params, models = replication_models(scenario, seed, replication)
    n = params.cohort.n_patients
    streams = Streams(seed, replication, n)
    accrual_days = params.cohort.accrual_days if params.cohort.accrual == "staggered" else 0.0
    cohort = draw_cohort(case_mix_for(params.cohort), n, accrual_days, streams)
    rows = list(zip(*cohort.columns().values()))  # a patient's covariates, in the record's order, then z
    patient_tables, event_tables, occupancy_tables = [], [], []
    plans: dict[str, list] = {}  # Block 1 plans by reinduction
    for strategy in params.strategies:
        env = environment()
        resources = resources_for(env, params.capacity)
        log = EventLog() if events else DiscardedEvents()
        records = [
            PatientRecord(i, *rows[i][:-1], resistance_z=rows[i][-1])
            for i in (range(n) if select is None else select(cohort))
        ]
        reinduction = params.strategy(strategy).reinduction
        if reinduction not in plans:  # strategies sharing a reinduction share its plans (read only)
            plans[reinduction] = block1_plans(models.reinduction(reinduction), streams, records)
        processes = [
            env.process(patient_pathway(env, record, strategy, models, streams, log, resources, plan))
            for record, plan in zip(records, plans[reinduction])
        ]
        if resources is None:
            env.run()
        else:
            occupancy: list[tuple] = []
            env.process(occupancy_monitor(env, resources, occupancy))
            env.run(until=env.all_of(processes))
            occupancy_tables.append(occupancy_table(strategy, replication, occupancy))
        limit = params.prognosis.mrd_detection_limit_percent
        patient_tables.append(patients_table(strategy, replication, records, limit, patient_columns))
        if events:
            event_tables.append(events_table(strategy, replication, log, limit))
    return ReplicationResult(
        pa.concat_tables(patient_tables), pa.concat_tables(event_tables) if events else None,
        pa.concat_tables(occupancy_tables) if occupancy_tables else None,
    )
