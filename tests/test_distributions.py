"""A parameter's inverse CDF: each family's :meth:`ppf` is scipy.stats' own, to the last bit.

Probabilistic sensitivity analysis draws every parameter of every replication by inverse CDF;
:meth:`ppf` calls the family's quantile function without scipy.stats' ``ppf`` wrapper (a
hundred times its cost), so these hold it to ``reference_ppf`` (the wrapper) over random
parameters and uniforms.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sim.scenario.distributions import parse_distribution

# What a stream draws (0, or a multiple of 2**-53 below 1), and sweep designs' levels (1e-9 and
# 1 - 1e-9 at the ends): 0, or anything from 2**-53 up to 1. (Below that scipy.stats' beta can
# fail on its own.)
SMALLEST_DRAW = 2.0**-53
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


def beta(alpha: float, beta: float):
    return parse_distribution({"dist": "beta", "alpha": alpha, "beta": beta})


@pytest.mark.filterwarnings("ignore:Error in function boost:RuntimeWarning")  # scipy's, on both paths
@settings(max_examples=400, deadline=None)
@given(distribution=distributions(), u=uniforms)
# where scipy.special's betaincinv parts from the quantile scipy.stats' beta calls
@example(distribution=beta(0.5, 2.0), u=2 * SMALLEST_DRAW)
@example(distribution=beta(0.5, 3.0), u=SMALLEST_DRAW)
@example(distribution=beta(2.0, 0.5), u=1 - 2 * SMALLEST_DRAW)
@example(distribution=beta(0.5, 2.0), u=1e-9)
# parameters scipy.stats refuses (a gamma whose shape underflows to 0): its NaN
@example(distribution=parse_distribution({"dist": "gamma", "mean": 1e-200, "sd": 1.0}), u=0.5)
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
