"""One Monte Carlo replication: a pure function of (scenario, seed, replication).

Every strategy of the scenario runs on the same cohort with the same streams
(common random numbers). The function is picklable and touches no files, so
any executor can run it and the result does not depend on which one did.
"""

from __future__ import annotations

from typing import Callable, Sequence

import pyarrow as pa
import simpy

from .cohort import Cohort, draw_cohort, load_case_mix
from .parameters import Scenario, distribution_paths, realise
from .pathway import Models, patient_pathway
from .phases.block1 import Block1Model
from .records import EventLog, PatientRecord, events_table, patients_table
from .streams import Streams, generator_for


def realised_parameters(scenario: Scenario, seed: int, replication: int) -> Scenario:
    """Central values, or one draw per replication in ``parameter_mode = "sampled"``.

    Each parameter's uniform comes from its own stream, named by its key path,
    so adding a parameter never changes another's draw.
    """
    if scenario.run.parameter_mode == "central":
        return realise(scenario)
    uniforms = {
        path: float(generator_for(seed, replication, f"parameters.{path}").random())
        for path in distribution_paths(scenario)
    }
    return realise(scenario, uniforms)


def build_models(scenario: Scenario) -> Models:
    """Derived constants of every phase, from realised parameters."""
    case_mix = load_case_mix()
    return Models(
        scenario=scenario,
        block1=Block1Model.build(scenario.block1, case_mix),
        reinductions={name: Block1Model.build(params, case_mix) for name, params in scenario.reinduction.items()},
    )


def run_replication(
    scenario: Scenario, seed: int, replication: int, select: Callable[[Cohort], Sequence[int]] | None = None
) -> tuple[pa.Table, pa.Table]:
    """Patients and events tables of every strategy for one replication.

    ``select`` (picklable) picks the patients to simulate from the drawn cohort,
    e.g. a trial's eligible patients; each keeps its row of every stream.
    """
    params = realised_parameters(scenario, seed, replication)
    models = build_models(params)
    n = params.cohort.n_patients
    streams = Streams(seed, replication, n)
    accrual_days = params.cohort.accrual_days if params.cohort.accrual == "staggered" else 0.0
    cohort = draw_cohort(load_case_mix(), n, accrual_days, streams)
    covariates = {
        "enrolment_day": cohort.enrolment_day.tolist(),
        "relapse_group": cohort.relapse_group,
        "relapse_site": cohort.relapse_site,
        "months_to_relapse": cohort.months_to_relapse.tolist(),
        "age_years": cohort.age_years.tolist(),
        "sex": cohort.sex,
        "ethnicity": cohort.ethnicity,
        "obese": cohort.obese.tolist(),
        "cns_status": cohort.cns_status,
        "testicular_disease": cohort.testicular_disease.tolist(),
        "cytogenetics": cohort.cytogenetics,
        "resistance_z": cohort.resistance_z.tolist(),
    }
    patient_tables, event_tables = [], []
    for strategy in params.strategies:
        env = simpy.Environment()
        beds = simpy.Resource(env, params.capacity.inpatient_beds) if params.capacity.inpatient_beds else None
        log = EventLog()
        records = [
            PatientRecord(patient_id=i, **{name: values[i] for name, values in covariates.items()})
            for i in (range(n) if select is None else select(cohort))
        ]
        for record in records:
            env.process(patient_pathway(env, record, strategy, models, streams, log, beds))
        env.run()
        patient_tables.append(patients_table(strategy, replication, records))
        event_tables.append(events_table(strategy, replication, log))
    return pa.concat_tables(patient_tables), pa.concat_tables(event_tables)
