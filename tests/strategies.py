"""Shared hypothesis strategies: root seeds, replication indices, small cohorts,
and small variants of the AALL1331 scenario (as validated parameter copies)."""

from __future__ import annotations

from hypothesis import strategies as st

from sim.scenario.schema import CapacitySettings, CohortSettings, RunSettings, Scenario

# The CLI accepts seeds in [0, 2**63 - 1]; the library takes any non-negative int.
seeds = st.integers(min_value=0, max_value=2**63 - 1)
replications = st.integers(min_value=0, max_value=10_000)
cohort_sizes = st.integers(min_value=1, max_value=60)
decision_names = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30
)


@st.composite
def small_variants(draw, base: Scenario, max_patients: int = 60) -> Scenario:
    """A copy of ``base`` with a small cohort, either accrual, maybe a bed limit,
    and central or sampled parameters, validated like a scenario file."""
    n_patients = draw(st.integers(min_value=1, max_value=max_patients))
    staggered = draw(st.booleans())
    cohort = CohortSettings(
        n_patients=n_patients,
        accrual="staggered" if staggered else "day0",
        accrual_days=draw(st.floats(min_value=1.0, max_value=3000.0)) if staggered else 0.0,
    )
    beds = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=5)))
    run = RunSettings(replications=1, parameter_mode=draw(st.sampled_from(["central", "sampled"])))
    variant = base.model_dump() | {
        "cohort": cohort.model_dump(),
        "capacity": CapacitySettings(inpatient_beds=beds).model_dump(),
        "run": run.model_dump(),
    }
    return Scenario.model_validate(variant)  # runs the scenario-wide checks too
