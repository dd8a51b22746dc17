"""Group-sequential boundaries against published values, and their exactness.

Published Lan-DeMets O'Brien-Fleming-type boundaries, one-sided alpha = 0.025,
equally spaced looks (rpact ``getDesignGroupSequential(kMax = K, alpha = 0.025,
typeOfDesign = "asOF")``, ``criticalValues``; gsDesign ``gsDesign(k = K,
test.type = 1, alpha = 0.025, sfu = sfLDOF)``, ``upper$bound``; the same
figures to 4 decimals):

* K = 2: 2.9626, 1.9686
* K = 3: 3.7103, 2.5114, 1.9930
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm

from sim.trial.boundaries import crossing_probabilities, efficacy_boundaries, spent

PUBLISHED_OBF = {
    2: (2.9626, 1.9686),
    3: (3.7103, 2.5114, 1.9930),
}


@pytest.mark.parametrize("looks", sorted(PUBLISHED_OBF))
def test_obrien_fleming_boundaries_match_published_values(looks: int) -> None:
    fractions = [k / looks for k in range(1, looks + 1)]
    bounds = efficacy_boundaries(fractions, 0.025, "obrien_fleming").efficacy_z
    assert np.round(bounds, 4).tolist() == list(PUBLISHED_OBF[looks])


def test_first_obrien_fleming_boundary_has_its_closed_form() -> None:
    # At the first look the boundary is z_{1 - alpha(t1)}, alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)).
    first = efficacy_boundaries([0.5, 1.0], 0.025).efficacy_z[0]
    assert first == pytest.approx(norm.isf(2 - 2 * norm.cdf(norm.isf(0.0125) / math.sqrt(0.5))), abs=1e-8)


@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
@pytest.mark.parametrize("fractions", [[1 / 3, 2 / 3, 1.0], [0.25, 0.6, 0.8, 1.0], [0.5, 1.0]])
def test_boundaries_spend_exactly_alpha_under_the_null(spending, fractions) -> None:
    design = efficacy_boundaries(fractions, 0.025, spending)
    crossing = crossing_probabilities(fractions, design.efficacy_z)
    assert np.cumsum(crossing) == pytest.approx(spent(spending, 0.025, fractions), abs=1e-7)
    assert crossing.sum() == pytest.approx(0.025, abs=1e-7)


def test_recursive_integration_agrees_with_the_multivariate_normal() -> None:
    # Independent check: P(no crossing) from scipy's multivariate normal CDF with corr sqrt(t_i / t_j).
    fractions = np.array([1 / 3, 2 / 3, 1.0])
    bounds = efficacy_boundaries(fractions, 0.025, "pocock").efficacy_z
    correlation = np.sqrt(np.minimum.outer(fractions, fractions) / np.maximum.outer(fractions, fractions))
    no_crossing = multivariate_normal(mean=np.zeros(3), cov=correlation).cdf(np.array(bounds), rng=np.random.default_rng(1))
    assert 1 - no_crossing == pytest.approx(0.025, abs=2e-4)


def test_pocock_boundaries_are_nearly_flat_and_obrien_fleming_falls() -> None:
    pocock = efficacy_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.025, "pocock").efficacy_z
    obf = efficacy_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.025, "obrien_fleming").efficacy_z
    assert max(pocock) - min(pocock) < 0.1
    assert all(a > b for a, b in zip(obf, obf[1:]))


def test_one_look_is_the_fixed_design_and_two_sided_spends_half_per_tail() -> None:
    assert efficacy_boundaries([1.0], 0.025).efficacy_z[0] == pytest.approx(norm.isf(0.025), abs=1e-9)
    assert efficacy_boundaries([1.0], 0.05, sided=2).efficacy_z[0] == pytest.approx(norm.isf(0.025), abs=1e-9)
    two_sided = efficacy_boundaries([0.5, 1.0], 0.05, sided=2).efficacy_z
    assert np.round(two_sided, 3).tolist() == [2.963, 1.969]


def test_power_with_drift_matches_the_closed_form_for_one_look() -> None:
    information, drift = 100.0, 0.25
    power = crossing_probabilities([information], [1.959964], drift=drift)[0]
    assert power == pytest.approx(norm.cdf(drift * math.sqrt(information) - 1.959964), abs=1e-9)


@pytest.mark.parametrize("fractions", [[0.5, 0.5, 1.0], [0.0, 1.0], [0.5, 1.2], []])
def test_bad_information_fractions_are_refused(fractions) -> None:
    with pytest.raises(ValueError, match="information fractions must increase within"):
        efficacy_boundaries(fractions, 0.025)
