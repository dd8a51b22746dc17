"""The parametric form for relapse and death times: a Weibull mixture cure model.

A patient in a given state (in remission after consolidation, after HSCT,
after a second relapse, ...) either never has the event (probability
``1 - event_prob``, the "cure" fraction) or has it at a Weibull time with the
state's median and shape::

    S(t) = 1 - event_prob * (1 - exp(-ln 2 * (t / median) ** shape))

Why this form: the sources report relapse and death as plateaus (most events
inside four years, long-term survivors thereafter: 4-year DFS/OS, 10-year
CR2 HSCT survival), which a cure fraction captures and a single exponential
or Weibull does not; the Weibull part gives the early peak of events. Each
state's ``event_prob`` is what the calibration fits or the evidence gives;
medians and shapes are assumptions with ranges in the scenario.

Draws use two uniforms (event or not, then when), so a change of
``event_prob`` only changes who has the event, not when the others would:
common random numbers stay tight across strategies.
"""

from __future__ import annotations

import math

LN2 = math.log(2.0)


def cure_weibull_time(u_event: float, u_time: float, event_prob: float, median_days: float, shape: float) -> float:
    """Days to the event from the start of the state; ``inf`` for the cured."""
    if u_event >= event_prob:
        return math.inf
    return median_days * (-math.log1p(-u_time) / LN2) ** (1.0 / shape)


def logit(p: float) -> float:
    # clamped to [1e-12, 1 - 1e-12] by comparisons: min(max(...)) would be two calls, for a function
    # called a few times for every patient
    if p < 1e-12:
        p = 1e-12
    elif p > 1 - 1e-12:
        p = 1 - 1e-12
    return math.log(p / (1 - p))


def expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def adjusted_prob(base_prob: float, log_odds: float) -> float:
    """A probability shifted on the logit scale (covariate effects as odds ratios):
    ``expit(logit(base_prob) + log_odds)``."""
    if log_odds == 0.0:
        return base_prob
    # logit and expit inlined (the same operations): this runs at every relapse clock, several times a patient
    p = base_prob
    if p < 1e-12:
        p = 1e-12
    elif p > 1 - 1e-12:
        p = 1 - 1e-12
    x = math.log(p / (1 - p)) + log_odds
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
