"""Validation table: a bad scenario in, the exact message out.

Each row writes a scenario that extends scenarios/aall1331.toml with one
change (so the extending file is the one at fault), loads it, and checks the
whole of ``str(ScenarioError)``. ``{file}`` in an expected message stands for
the extending file's path as given to ``load_scenario``; ``{base}`` for the
AALL1331 file as the extends chain names it.

"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from sim.scenario.distributions import Beta, Gamma
from sim.scenario.load import ScenarioError, load_scenario
from tests.conftest import AALL1331_TOML, write_scenario

BASE = AALL1331_TOML.resolve().as_posix()


# A complete [economics] table; a row below breaks one of its values.
ECONOMICS = """
[economics]
source = "test"
discount_rate_costs = {costs}
discount_rate_effects = 0.035
willingness_to_pay = 30000
[economics.unit_costs]
bed_day = 1
blinatumomab_day = 1
hsct = 1
follow_up_year = 1
salvage = {{ car_t = 1, inotuzumab = 1, blinatumomab = 1, second_hsct = 1 }}
[economics.utilities]
on_therapy = 0.6
remission = {remission}
after_relapse = 0.5
"""


def economics(costs: str = "0.035", remission: str = "0.9") -> str:
    return ECONOMICS.format(costs=costs, remission=remission)


# (id, body after the extends line, expected message: str for an exact match,
#  re.Pattern for a full match where a line depends on the Python version)
BAD_SCENARIOS = [
    pytest.param(
        "name = \n",
        re.compile(r"{file}: malformed TOML: .+ \(at line 2, column \d+\)"),
        id="malformed-toml-names-line",
    ),
    pytest.param(
        "cohrt = 1\n",
        "{file}: cohrt: unknown key; did you mean 'cohort'?",
        id="unknown-top-level-key",
    ),
    pytest.param(
        "[cohrt]\nn_patients = 5\n",
        "{file}: cohrt: unknown key; did you mean 'cohort'?",
        id="unknown-top-level-table",
    ),
    pytest.param(
        "[block1.toxic_death_prob]\nbm_lt19 = 0.1\n",
        "{file}: block1.toxic_death_prob.bm_lt19: unknown key; did you mean 'bm_lt18'?",
        id="unknown-nested-key",
    ),
    pytest.param(
        "[block1.adverse_events.sepsis]\ngrade3plus_by_agee = { age_1_9 = 0.1 }\n",
        "{file}: block1.adverse_events.sepsis.grade3plus_by_agee: unknown key; "
        "did you mean 'grade3plus_by_age'?",
        id="unknown-deeply-nested-key",
    ),
    pytest.param(
        "[cohort]\nzzz = 1\n",
        "{file}: cohort.zzz: unknown key; allowed: n_patients, accrual, accrual_days, youngest_diagnosis_years, "
        "months_to_relapse_mean_excess",
        id="unknown-key-without-close-match-lists-allowed",
    ),
    pytest.param(
        "[block1.toxic_death_prob]\nbm_lt18 = 1.2\n",
        "{file}: block1.toxic_death_prob.bm_lt18: must be a probability in [0, 1] (got 1.2)",
        id="probability-above-one",
    ),
    pytest.param(
        "[block1.toxic_death_prob]\nbm_lt18 = -0.1\n",
        "{file}: block1.toxic_death_prob.bm_lt18: must be a probability in [0, 1] (got -0.1)",
        id="probability-below-zero",
    ),
    pytest.param(
        "[block1.toxic_death_prob]\nbm_lt18 = nan\n",
        "{file}: block1.toxic_death_prob.bm_lt18: must be a probability in [0, 1] (got nan)",
        id="probability-nan",
    ),
    pytest.param(
        "[follow_up]\nhorizon_days = inf\n",
        "{file}: follow_up.horizon_days: must be a number > 0, and finite (got inf)",
        id="infinite-where-positive",
    ),
    pytest.param(
        "[capacity]\ninpatient_beds = inf\n",
        "{file}: capacity.inpatient_beds: must be a capacity of at least 1 place, and finite (got inf)",
        id="infinite-capacity",
    ),
    pytest.param(
        "[prognosis]\nmale_log_odds = -inf\n",
        "{file}: prognosis.male_log_odds: must be a real number, and finite (got -inf)",
        id="infinite-log-odds",
    ),
    pytest.param(
        '[hsct]\ntrm_prob = { dist = "beta", alpha = inf, beta = 3 }\n',
        "{file}: hsct.trm_prob: beta distribution: 'alpha' input should be a finite number (got inf)",
        id="infinite-distribution-parameter",
    ),
    pytest.param(
        "[hsct.donor_shares]\nmatched_sibling = 0\nhaploidentical = 0\nmatched_unrelated = 0\nmismatched_unrelated = 0\n",
        "{file}: hsct.donor_shares: must have at least one share above 0 (got matched_sibling = 0.0, "
        "haploidentical = 0.0, matched_unrelated = 0.0, mismatched_unrelated = 0.0)",
        id="all-shares-zero",
    ),
    pytest.param(
        "[assignment.not_randomised_reasons]\nsevere_adverse_event = 0\nphysician_or_patient_choice = 0\n"
        "death = 0\nother = 0\n",
        "{file}: assignment.not_randomised_reasons: must have at least one share above 0 when some patients are "
        "not randomised (got severe_adverse_event = 0.0, physician_or_patient_choice = 0.0, death = 0.0, other = 0.0)",
        id="reasons-all-zero-when-needed",
    ),

    pytest.param(
        'name = ".."\n',
        "{file}: name: must name a folder, not '.' or '..' (got '..')",
        id="name-outside-outputs",
    ),
    pytest.param(
        '[sweep]\ndesign = "grid"\n[sweep.grid]\n"hsct.trm_prob" = []\n',
        "{file}: sweep.grid: must list at least one value for 'hsct.trm_prob' (got [])",
        id="sweep-grid-without-values",
    ),
    pytest.param(
        '[sweep]\ndesign = "grid"\noutcomes = []\n[sweep.grid]\n"hsct.trm_prob" = [0.1]\n',
        "{file}: sweep.outcomes: must name at least one outcome measure (got [])",
        id="sweep-without-outcomes",
    ),
    pytest.param(
        '[sweep]\ndesign = "grid"\n[sweep.grid]\n"hsct.trm_prob" = [0.1, nan]\n',
        "{file}: sweep.grid.hsct.trm_prob: input should be a finite number (got nan)",
        id="sweep-value-nan",
    ),
    pytest.param(
        '[sweep]\ndesign = "latin_hypercube"\nparameters = ["hsct.trm_rr_aya", "hsct.trm_rr_aya"]\n',
        "{file}: sweep.parameters: must name each once (got 'hsct.trm_rr_aya' more than once)",
        id="sweep-parameter-twice",
    ),
    pytest.param(
        "[block1]\ntherapy_days = -3\n",
        "{file}: block1.therapy_days: must be a number >= 0 (got -3)",
        id="negative-duration",
    ),
    pytest.param(
        "[block1]\nmrd_log10_sd = 0\n",
        "{file}: block1.mrd_log10_sd: must be a number > 0 (got 0)",
        id="zero-where-positive",
    ),
    pytest.param(
        '[block1]\ntherapy_days = "28"\n',
        "{file}: block1.therapy_days: must be a number >= 0 or a distribution table (got '28')",
        id="string-where-number",
    ),
    pytest.param(
        "[block1]\ntherapy_days = true\n",
        "{file}: block1.therapy_days: must be a number >= 0 or a distribution table (got True)",
        id="boolean-where-number",
    ),
    pytest.param(
        '[block1]\ntherapy_days = { dist = "weibull", shape = 1.0 }\n',
        "{file}: block1.therapy_days: 'dist' must be one of beta, uniform, triangular, lognormal, "
        "gamma, normal (got 'weibull')",
        id="unknown-distribution-family",
    ),
    pytest.param(
        "[block1.toxic_death_prob]\n"
        'bm_lt18 = { dist = "uniform", low = 0.5, high = 1.5 }\n',
        "{file}: block1.toxic_death_prob.bm_lt18: must be a probability in [0, 1]; "
        "a uniform distribution reaches [0.5, 1.5] (got {{'dist': 'uniform', 'low': 0.5, 'high': 1.5}})",
        id="uniform-reaching-1.5-on-a-probability",
    ),
    pytest.param(
        "[block1.toxic_death_prob]\n"
        'bm_lt18 = { dist = "beta", alpha = 1, beta = 2, sorce = "x" }\n',
        "{file}: block1.toxic_death_prob.bm_lt18: beta distribution: 'sorce' unknown key for a beta "
        "distribution (got 'x')",
        id="unknown-key-in-distribution",
    ),
    pytest.param(
        "[cohort]\nn_patients = 0\n",
        "{file}: cohort.n_patients: input should be greater than or equal to 1 (got 0)",
        id="zero-patients",
    ),
    pytest.param(
        '[cohort]\nn_patients = "50"\n',
        "{file}: cohort.n_patients: input should be a valid integer (got '50')",
        id="string-patients",
    ),
    pytest.param(
        '[cohort]\naccrual = "weekly"\n',
        "{file}: cohort.accrual: input should be 'day0' or 'staggered' (got 'weekly')",
        id="unknown-accrual",
    ),
    pytest.param(
        "[capacity]\ninpatient_beds = 0\n",
        "{file}: capacity.inpatient_beds: must be a capacity of at least 1 place (got 0)",
        id="zero-beds",
    ),
    pytest.param(
        '[run]\nparameter_mode = "random"\n',
        "{file}: run.parameter_mode: input should be 'central', 'sampled' or 'calibrated' (got 'random')",
        id="unknown-parameter-mode",
    ),
    pytest.param(
        'name = "a b"\n',
        "{file}: name: must use only letters, digits, '_', '-' or '.' (got 'a b')",
        id="name-not-a-slug",
    ),
    pytest.param(
        'strategies = ["foo"]\n',
        "{file}: strategies: unknown strategy 'foo'; known: aall1331, r3_chemo, r3_blina, mitcl, reduced_blina (got ['foo'])",
        id="unknown-strategy",
    ),
    pytest.param(
        'strategies = ["aall1331", "aall1331"]\n',
        "{file}: strategies: strategy names must be unique (got ['aall1331'] more than once)",
        id="duplicated-strategy",
    ),
    pytest.param(
        "cohrt = 1\n[block1]\ntherapy_dys = 3\n",
        "{file}: block1.therapy_dys: unknown key; did you mean 'therapy_days'?\n"
        "{file}: cohrt: unknown key; did you mean 'cohort'?",
        id="two-bad-keys-two-lines",
    ),
    pytest.param(
        "[block1]\ntherapy_days = -3\n[block1.toxic_death_prob]\nbm_lt18 = 1.2\n",
        "{file}: block1.therapy_days: must be a number >= 0 (got -3)\n"
        "{file}: block1.toxic_death_prob.bm_lt18: must be a probability in [0, 1] (got 1.2)",
        id="two-bad-values-two-lines",
    ),
    # --- checks across keys, distributions, and files of an extends chain ------
    pytest.param(
        '[block1]\ntherapy_days = { dist = "uniform", low = 30.0, high = 20.0 }\n',
        "{file}: block1.therapy_days: uniform distribution: 'low' must be below 'high' "
        "(got low=30.0, high=20.0)",
        id="uniform-low-above-high",
    ),
    pytest.param(
        "[block1.toxic_death_prob]\n"
        'bm_lt18 = { dist = "beta", alpha = -1, beta = 9 }\n',
        "{file}: block1.toxic_death_prob.bm_lt18: beta distribution: 'alpha' must be > 0 (got -1)",
        id="beta-negative-alpha",
    ),
    pytest.param(
        "[block1.toxic_death_prob]\n"
        'bm_lt18 = { dist = "beta", alpha = 1 }\n',
        "{file}: block1.toxic_death_prob.bm_lt18: beta distribution: missing required key 'beta'",
        id="beta-missing-parameter",
    ),
    pytest.param(
        "strategies = []\n",
        re.compile(r"{file}: strategies: must (list|name) at least one strategy \(got \[\]\)"),
        id="no-strategies",
    ),
    pytest.param(
        '[cohort]\naccrual = "staggered"\naccrual_days = 0\n',
        re.compile(
            r"{file}: cohort\.accrual_days: must be > 0 when accrual = 'staggered' \(got 0(\.0)?\)"
        ),
        id="staggered-accrual-over-zero-days",
    ),
    pytest.param(
        "[block1]\ngrade4plus_given_survival = 0.9\n",
        re.compile(
            r"{file}: block1\.grade4plus_given_survival: must not exceed "
            r"'?grade3plus_given_survival'? \(got 0\.9 > 0\.7158\d*\)"
        ),
        id="grade4-above-grade3",
    ),
    pytest.param(
        '[block1]\ncount_recovery_extra_days_mean = { dist = "weibull", shape = 1.0 }\n',
        "{file}: block1.count_recovery_extra_days_mean: 'dist' must be one of beta, uniform, "
        "triangular, lognormal, gamma, normal (got 'weibull')",
        id="bad-distribution-over-a-distribution-names-base-file",
    ),
    pytest.param(
        economics(costs="1.0"),
        "{file}: economics.discount_rate_costs: must be a discount rate in [0, 1) (got 1.0)",
        id="economics-discount-rate-one",
    ),
    pytest.param(
        economics(costs="-0.01"),
        "{file}: economics.discount_rate_costs: must be a discount rate in [0, 1) (got -0.01)",
        id="economics-discount-rate-negative",
    ),
    pytest.param(
        economics(costs='{ dist = "uniform", low = 0.0, high = 1.0, assumption = "x" }'),
        "{file}: economics.discount_rate_costs: must be a discount rate in [0, 1); a uniform distribution reaches "
        "[0, 1] (got {{'dist': 'uniform', 'low': 0.0, 'high': 1.0, 'assumption': 'x'}})",
        id="economics-discount-rate-distribution-reaches-one",
    ),
    pytest.param(
        economics(remission="1.2"),
        "{file}: economics.utilities.remission: must be a utility weight <= 1 (got 1.2)",
        id="economics-utility-above-one",
    ),
    pytest.param(
        '[sweep]\ndesign = "one_way"\noutcomes = ["os_4y", "qalys"]\n[sweep.one_way]\n"hsct.trm_prob" = [0.05, 0.2]\n',
        "{file}: sweep.outcomes: must name economics measures only with an [economics] table (unit costs, "
        "utilities, discount rates): ['qalys'] need one; Suggestion: add one, as in "
        "scenarios/economics_example.toml, or drop them (got no [economics])",
        id="economics-outcome-without-economics",
    ),
]


@pytest.mark.parametrize("body, expected", BAD_SCENARIOS)
def test_bad_scenario_message(tmp_path: Path, body: str, expected) -> None:
    path = write_scenario(tmp_path, body, name="bad.toml")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    if isinstance(expected, re.Pattern):
        pattern = expected.pattern.replace("{file}", re.escape(str(path)))
        assert re.fullmatch(pattern, message), message
    else:
        assert message == expected.format(file=path), message
    assert caught.value.problems == message.split("\n")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}: file not found"


def test_extends_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "a.toml")
    assert str(caught.value) == (
        f"{tmp_path / 'a.toml'}: extends: a scenario cannot extend itself (cycle a.toml -> b.toml -> a.toml)"
    )


def test_extends_itself(tmp_path: Path) -> None:
    (tmp_path / "self.toml").write_text('extends = "self.toml"\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "self.toml")
    assert str(caught.value) == (
        f"{tmp_path / 'self.toml'}: extends: a scenario cannot extend itself (cycle self.toml -> self.toml)"
    )


def test_extends_not_a_string(tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text("extends = 3\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "x.toml")
    assert str(caught.value) == f"{tmp_path / 'x.toml'}: extends: must be a file name (got 3)"


def test_malformed_base_names_the_base_and_its_line(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text('name = "x"\n\n[cohort\n', encoding="utf-8")
    (tmp_path / "child.toml").write_text('extends = "base.toml"\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "child.toml")
    assert re.fullmatch(
        re.escape(f"{tmp_path / 'base.toml'}: malformed TOML: ") + r".+ \(at line 3, column \d+\)",
        str(caught.value),
    ), str(caught.value)


def test_missing_extends_target_names_the_referring_file(tmp_path: Path) -> None:
    child = tmp_path / "child.toml"
    child.write_text('extends = "gone.toml"\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(child)
    assert str(caught.value) == f"{child}: extends: {tmp_path / 'gone.toml'}: file not found"


# --- valid inputs ---------------------------------------------------------------

def test_beta_on_a_probability_is_accepted(tmp_path: Path) -> None:
    path = write_scenario(
        tmp_path, '[block1.toxic_death_prob]\nbm_lt18 = { dist = "beta", alpha = 1, beta = 9, source = "x" }\n'
    )
    value = load_scenario(path).scenario.block1.toxic_death_prob.bm_lt18
    assert isinstance(value, Beta)
    assert value.central() == pytest.approx(0.1)


def test_a_number_replaces_a_distribution(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, "[block1]\ncount_recovery_extra_days_mean = 3.0\n")
    assert load_scenario(path).scenario.block1.count_recovery_extra_days_mean == 3.0


def test_extending_file_overrides_only_what_it_names(tmp_path: Path, base_scenario) -> None:
    path = write_scenario(tmp_path, "[cohort]\nn_patients = 50\n")
    loaded = load_scenario(path).scenario
    assert loaded.cohort.n_patients == 50
    assert loaded.cohort.accrual == base_scenario.cohort.accrual
    assert loaded.cohort.accrual_days == base_scenario.cohort.accrual_days
    assert loaded.block1 == base_scenario.block1
    assert loaded.assignment == base_scenario.assignment


@pytest.mark.parametrize(
    "body, check",
    [
        pytest.param(
            '[block1]\ncount_recovery_extra_days_mean = { dist = "gamma", mean = 3.0, sd = 1.0 }\n',
            lambda s: isinstance(s.block1.count_recovery_extra_days_mean, Gamma),
            id="distribution-family",
        ),
        pytest.param(
            "[block1.adverse_events.sepsis]\ngrade3plus = 0.1\n",
            lambda s: s.block1.adverse_events.sepsis.grade3plus == 0.1,
            id="event-rate-form",
        ),
    ],
)
def test_extending_file_replaces(tmp_path: Path, body: str, check) -> None:
    assert check(load_scenario(write_scenario(tmp_path, body)).scenario)


def test_shipped_scenario_loads_and_is_frozen(base_scenario) -> None:
    assert base_scenario.name == "aall1331"
    assert base_scenario.cohort.n_patients == 661
    with pytest.raises(ValidationError, match="frozen"):
        base_scenario.cohort.n_patients = 1  # type: ignore[misc]


def test_bad_fitted_value_names_the_fitted_file(tmp_path: Path) -> None:
    (tmp_path / "bad.fitted.toml").write_text("[hsct]\ntrm_prob = 1.5\n", encoding="utf-8")
    path = write_scenario(tmp_path, "", name="child.toml")
    path.write_text(path.read_text() + 'fitted = "bad.fitted.toml"\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == (
        f"{tmp_path / 'bad.fitted.toml'}: hsct.trm_prob: must be a probability in [0, 1] (got 1.5)"
    )


def test_sha256_does_not_depend_on_how_the_path_is_spelled(tmp_path: Path, monkeypatch) -> None:
    path = write_scenario(tmp_path, "[cohort]\nn_patients = 50\n")
    monkeypatch.chdir(tmp_path)
    assert load_scenario(path.name).sha256 == load_scenario(path.resolve()).sha256


def test_a_table_of_shares_that_is_never_consulted_may_hold_only_zeros(tmp_path: Path) -> None:
    """Everyone randomised: the reasons for not being randomised are never drawn, so zeros are fine;
    a share given as a distribution counts by its central value (what a plain run uses)."""
    path = tmp_path / "ok.toml"
    path.write_text(
        f'extends = "{AALL1331_TOML.resolve().as_posix()}"\n'
        "[assignment.randomisation_prob]\nLR = 1\nIR = 1\nHR = 1\n"
        "[assignment.not_randomised_reasons]\nsevere_adverse_event = 0\nphysician_or_patient_choice = 0\n"
        "death = 0\nother = 0\n"
        "[hsct.donor_shares]\nmatched_sibling = 0\nhaploidentical = 0\nmatched_unrelated = 0\n"
        'mismatched_unrelated = { dist = "triangular", low = 0, mode = 0.5, high = 1, assumption = "test" }\n',
        encoding="utf-8")
    load_scenario(path)


def test_a_block1_problem_is_said_once_not_again_for_each_reinduction_that_inherits_it(tmp_path: Path) -> None:
    """``[reinduction.mitcl]`` starts from ``[block1]``: a bad value written in ``[block1]`` is one
    problem, not a second under ``reinduction.mitcl``, a key the user never wrote; a value the
    reinduction table writes itself is still reported there."""
    mitcl = (AALL1331_TOML.parent / "mitcl.toml").resolve().as_posix()
    path = tmp_path / "bad.toml"
    path.write_text(f'extends = "{mitcl}"\n[block1]\nmrd_log10_sd = -1\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}: block1.mrd_log10_sd: must be a number > 0 (got -1)"
    path.write_text(f'extends = "{mitcl}"\n[block1]\nmrd_log10_sd = -1\n[reinduction.mitcl]\nmrd_log10_sd = -1\n',
                    encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).splitlines() == [f"{path}: block1.mrd_log10_sd: must be a number > 0 (got -1)",
                                              f"{path}: reinduction.mitcl.mrd_log10_sd: must be a number > 0 (got -1)"]
