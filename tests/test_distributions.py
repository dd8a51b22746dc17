"""A parameter's inverse CDF: each family's :meth:`ppf` is scipy.stats' own, to the last bit.

Probabilistic sensitivity analysis draws every parameter of every replication by inverse CDF;
:meth:`ppf` computes it from scipy.special, not through scipy.stats (thirty times the cost), so
these hold it to ``reference_ppf`` (scipy.stats' ``ppf``) over random parameters and uniforms.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.scenario.distributions import SMALLEST_DRAW, parse_distribution

# What a stream draws: 0, or a uniform from 2**-53 up to 1 (excluded). (Below 2**-53, where
# scipy.stats' own root finding can fail, ``ppf`` is scipy.stats' ppf itself.)
uniforms = st.one_of(st.just(0.0), st.floats(SMALLEST_DRAW, 1.0, exclude_max=True))
positives = st.floats(1e-3, 1e3)


@st.composite
def distributions(draw):
    family = draw(st.sampled_from(["beta", "uniform", "triangular", "lognormal", "gamma", "normal"]))
    if family == "beta":
        fields = {"alpha": draw(st.floats(0.05, 2000.0)), "beta": draw(st.floats(0.05, 2000.0))}
    elif family in ("lognormal",):
        fields = {"median": draw(positives), "sigma": draw(st.floats(1e-3, 3.0))}
    elif family == "gamma":
        fields = {"mean": draw(positives), "sd": draw(positives)}
    elif family == "normal":
        fields = {"mean": draw(st.floats(-1e3, 1e3)), "sd": draw(positives)}
    else:
        low, high = sorted(draw(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=2, unique=True)))
        fields = {"low": low, "high": high}
        if family == "triangular":
            fields["mode"] = draw(st.one_of(st.just(low), st.just(high), st.floats(low, high)))
    return parse_distribution({"dist": family, **fields})


@settings(max_examples=400, deadline=None)
@given(distribution=distributions(), u=uniforms)
def test_ppf_is_scipy_stats_ppf_to_the_last_bit(distribution, u) -> None:
    value = distribution.ppf(u)
    reference = distribution.reference_ppf(u)
    assert isinstance(value, float)
    assert value == reference or (math.isnan(value) and math.isnan(reference)), (distribution, u)


@pytest.mark.parametrize("raw", [
    {"dist": "beta", "alpha": 30.0, "beta": 631.0},
    {"dist": "triangular", "low": 0.0, "mode": 0.2, "high": 1.0},
    {"dist": "lognormal", "median": 2.0, "sigma": 0.4},
    {"dist": "gamma", "mean": 1.5, "sd": 0.3},
    {"dist": "normal", "mean": 0.3, "sd": 0.05},
])
def test_ppf_is_monotone_and_ends_at_the_support(raw) -> None:
    distribution = parse_distribution(raw)
    grid = [k / 1000 for k in range(1, 1000)]
    values = [distribution.ppf(u) for u in grid]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert distribution.ppf(0.0) == distribution.support()[0] == distribution.reference_ppf(0.0)
