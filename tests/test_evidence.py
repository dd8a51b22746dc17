"""Every parameter of every packaged scenario says where it comes from.

Walks each ``scenarios/*.toml`` as loaded (extends and fitted values merged)
and checks every numeric leaf. A leaf passes when it is

* a distribution (its range) carrying ``source`` (an evidence row) or
  ``assumption`` (the reasoning behind the range);
* fitted by ``simulate calibrate``: ``sim.analysis.calibrate.FREE_PARAMETERS`` gives
  each its target and its search range;
* a value a ``[reinduction.NAME]`` table keeps from ``[block1]`` (judged there);
* a plain number fixed by the evidence, the protocol or the run's design, in
  ``FIXED`` below with where it comes from.

Anything else is an assumption written as a bare number, which cannot be swept
and hides its uncertainty: give it as a distribution with its range.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from sim.analysis.calibrate import FREE_PARAMETERS
from sim.scenario.distributions import is_distribution
from sim.scenario.keypaths import numeric_paths
from sim.scenario.load import load_scenario
from sim.scenario.sweep import parameter_value

SCENARIOS = sorted(p for p in (Path(__file__).parents[1] / "scenarios").glob("*.toml") if ".fitted." not in p.name)

# Plain numbers that are not assumptions: key pattern -> where the number comes from.
FIXED = {
    # the run and its design
    "run.replications": "run setting, not a model parameter",
    "sweep.*": "sweep design settings, not model parameters",
    "cohort.n_patients": "AALL1331 enrolled 661 (section 2); a design choice elsewhere",
    "cohort.accrual_days": "accrual January 2014 to September 2019 (section 7); 0 for day-0 comparisons",
    "follow_up.horizon_days": "6-year horizon, a design choice",
    "follow_up.data_cutoff_day": "AALL1331 data cut-off 31 March 2023 (section 7)",
    # protocol
    "block1.therapy_days": "UKALL R3 Block 1 is 28 days (section 7)",
    "reinduction.mitcl.therapy_days": "MITCL neutrophil recovery from day 19 at the earliest (section 7)",
    "assignment.ir_mrd_threshold_percent": "COG risk rule: MRD 0.1% (section 1)",
    "consolidation.*.duration_days": "28-day blocks and infusions (section 7)",
    "low_risk.block_days": "28-day blocks (section 7)",
    "low_risk.blinatumomab_block_days": "28-day infusion (section 7)",
    "low_risk.therapy_total_days": "LR therapy about two years (section 4.2)",
    # evidence rows
    "block1.toxic_death_prob.*": "section 3.1: deaths by relapse group",
    "block1.progression_death_prob.*": "section 3.1: the 2 progression deaths",
    "block1.early_treatment_failure_prob.*": "section 3.1: treatment failures by relapse group",
    "block1.mrd_ge_0_01_prob.*": "section 3.1: end-of-Block-1 MRD by relapse group",
    "block1.infection_by_ae_group.*": "section 3.3: infections by relapse group",
    "block1.adverse_events.*": "section 3.3: named adverse events by age band and sex",
    "assignment.not_assigned_reasons.*": "section 3.2: counts of reasons",
    "assignment.randomisation_prob.*": "section 3.2: randomised among risk-assigned",
    "assignment.not_randomised_reasons.*": "section 3.2: counts of reasons",
    "consolidation.*.late_failure_prob": "section 4.1: late treatment failures among first events",
    "consolidation.chemo.mrd_unassessed_after_cycle2_prob": "section 4.1: Arm A MRD-negative count unchanged",
    "consolidation.blinatumomab.stop_after_cycle1_prob.mrd_positive": "section 4.1: not seen in Arm B",
    "consolidation.*.grade3plus_prob.*": "section 4.1: grade 3+ toxicity by cycle",
    "consolidation.*.infection_grade3plus_prob.*": "section 4.1: grade 3+ infection by cycle",
    "hsct.donor_shares.*": "section 6: donor types in IntReALL-HR",
    "prognosis.mrd_detection_limit_percent": "section 1: MRD-negative means < 0.01% by flow cytometry",
    "low_risk.block3_*": "section 4.2: Block 3 toxicity by arm",
    "off_protocol.failure_salvage_blinatumomab_prob": "section 3.4: 22 of the 42 early treatment failures",
    "off_protocol.failure_hsct_prob": "section 3.4: 5 of the 42 early treatment failures",
    "off_protocol.failure_survival_prob_*": "section 3.4: survival of the 42 early treatment failures",
}
FITTED = set(FREE_PARAMETERS)
# Tables of design choices a user makes (a proposed trial's size, alpha, looks), not model parameters.
DESIGN_TABLES = {"trial"}


def undocumented(scenario) -> list[str]:
    """Leaves that fail the rule, each as 'path = value: why'."""
    problems = []
    for path in numeric_paths(scenario):
        value = parameter_value(scenario, path)
        if is_distribution(value):
            if not (value.source or value.assumption):
                problems.append(f"{path}: a distribution without 'source' or 'assumption'")
            continue
        if path in FITTED or any(fnmatch.fnmatchcase(path, pattern) for pattern in FIXED):
            continue
        if path.split(".")[0] in DESIGN_TABLES:
            continue
        parts = path.split(".")
        if parts[0] == "reinduction":
            inherited = ".".join(["block1", *parts[2:]])
            if parameter_value(scenario, inherited) == value:
                continue
        problems.append(f"{path} = {value:g}: a bare number; give a distribution with 'source' or 'assumption'")
    return problems


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_parameter_carries_a_source_or_an_assumption_with_a_range(path: Path) -> None:
    problems = undocumented(load_scenario(path).scenario)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_the_check_catches_a_bare_assumption(tmp_path: Path) -> None:
    scenario = tmp_path / "bare.toml"
    scenario.write_text(f'extends = "{SCENARIOS[0].as_posix()}"\n[hsct]\nconditioning_days = 9\n'
                        '[block1.toxic_death_prob]\nbm_lt18 = { dist = "beta", alpha = 1, beta = 9 }\n',
                        encoding="utf-8")
    assert undocumented(load_scenario(scenario).scenario) == [
        "block1.toxic_death_prob.bm_lt18: a distribution without 'source' or 'assumption'",
        "hsct.conditioning_days = 9: a bare number; give a distribution with 'source' or 'assumption'",
    ]


def test_every_fixed_entry_is_used() -> None:
    paths = {p for s in SCENARIOS for p in numeric_paths(load_scenario(s).scenario)}
    unused = [pattern for pattern in FIXED if not any(fnmatch.fnmatchcase(p, pattern) for p in paths)]
    assert not unused
