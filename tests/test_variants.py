"""Variants (sweep points, calibration iterates, PSA draws) pass the validation a
scenario file does: a validation table of (values, exact message), and the
copies that must stay valid."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from sim.model.replication import realised_parameters
from sim.scenario.keypaths import VariantError, realise, with_values
from sim.scenario.load import load_scenario
from sim.scenario.sweep import point_variant
from tests.conftest import write_scenario

BAD_VARIANTS = [
    pytest.param({"hsct.trm_prob": -0.5},
                 "with hsct.trm_prob = -0.5: hsct.trm_prob: must be a probability in [0, 1] (got -0.5)",
                 id="probability-below-0"),
    pytest.param({"block1.toxic_death_prob.bm_lt18": 3.0},
                 "with block1.toxic_death_prob.bm_lt18 = 3: block1.toxic_death_prob.bm_lt18: "
                 "must be a probability in [0, 1] (got 3.0)",
                 id="probability-above-1"),
    pytest.param({"cohort.n_patients": 30.5},
                 "with cohort.n_patients = 30.5: cohort.n_patients: input should be a valid integer (got 30.5)",
                 id="fractional-count"),
    pytest.param({"block1.therapy_days": -1.0},
                 "with block1.therapy_days = -1: block1.therapy_days: must be a number >= 0 (got -1.0)",
                 id="negative-duration"),
    pytest.param({"block1.grade3plus_given_survival": 0.1},
                 "with block1.grade3plus_given_survival = 0.1: block1.grade4plus_given_survival: "
                 "must not exceed 'grade3plus_given_survival' (got 0.249608 > 0.1)",
                 id="rule-across-keys"),
    pytest.param({"follow_up.horizon_days": 20.0},
                 "with follow_up.horizon_days = 20: follow_up.horizon_days: must be longer than Block 1 (28 days) (got 20)",
                 id="rule-across-tables"),
]


@pytest.mark.parametrize("values, message", BAD_VARIANTS)
def test_bad_variant_is_refused_with_key_rule_and_value(base_scenario, values, message) -> None:
    with pytest.raises(VariantError) as caught:
        with_values(base_scenario, values)
    assert str(caught.value) == message


def test_unknown_path_is_a_key_error(base_scenario) -> None:
    with pytest.raises(KeyError, match="hsct.trm_prb"):
        with_values(base_scenario, {"hsct.trm_prb": 0.1})


def test_a_whole_number_sets_an_integer_parameter(base_scenario) -> None:
    varied = with_values(base_scenario, {"cohort.n_patients": 30.0})
    assert varied.cohort.n_patients == 30 and isinstance(varied.cohort.n_patients, int)


def test_variants_leave_the_scenario_and_untouched_tables_alone(base_scenario) -> None:
    varied = with_values(base_scenario, {"hsct.trm_prob": 0.2})
    assert varied.hsct.trm_prob == 0.2 and base_scenario.hsct.trm_prob != 0.2
    assert varied.block1 is base_scenario.block1  # unchanged tables are shared, not copied


def test_a_draw_that_breaks_a_rule_is_refused(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, (
        '[block1]\ngrade3plus_given_survival = { dist = "uniform", low = 0.2, high = 0.5, assumption = "test" }\n'
    ))
    scenario = load_scenario(path).scenario  # central 0.35 is above grade 4+ (0.25): the file loads
    with pytest.raises(VariantError) as caught:
        realise(scenario, {"block1.grade3plus_given_survival": 0.0}, variant="the parameter draw of replication 4")
    assert str(caught.value) == (
        "the parameter draw of replication 4: block1.grade4plus_given_survival: "
        "must not exceed 'grade3plus_given_survival' (got 0.249608 > 0.2)"
    )


def test_a_variant_error_survives_the_trip_from_a_worker(base_scenario) -> None:
    with pytest.raises(VariantError) as caught:
        with_values(base_scenario, {"hsct.trm_prob": 1.7})
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value) and copy.problems == caught.value.problems


def test_points_of_a_sampled_design_realise(tmp_path: Path) -> None:
    # The sweep plan names distributions; its points hold numbers there, and must still validate.
    path = write_scenario(tmp_path, (
        '[sweep]\ndesign = "latin_hypercube"\nsamples = 4\n'
        'parameters = ["block1.count_recovery_extra_days_mean", "block1.mrd_log10_sd"]\n'
    ))
    scenario = load_scenario(path).scenario
    point = point_variant(scenario, {"block1.count_recovery_extra_days_mean": 6.5, "block1.mrd_log10_sd": 2.3}, 0)
    realised = realised_parameters(point, seed=1, replication=0)
    assert realised.block1.count_recovery_extra_days_mean == 6.5 and realised.block1.mrd_log10_sd == 2.3
