"""Group-sequential boundaries from Lan-DeMets alpha-spending functions.

A design spends its type I error ``alpha`` over the looks of a trial as a
function of the information fraction ``t`` (Lan & DeMets 1983):

* O'Brien-Fleming type: ``alpha(t) = 2 - 2 * Phi(z_{1 - alpha/2} / sqrt(t))``
  (one-sided ``alpha``; gsDesign's ``sfLDOF``, rpact's ``asOF``);
* Pocock type: ``alpha(t) = alpha * log(1 + (e - 1) * t)``.

A two-sided design at level ``alpha`` spends ``alpha / 2`` in each tail with
the one-sided function (the convention of gsDesign and rpact).

The boundary ``b_k`` of look ``k`` is the value for which the probability,
under the null, of continuing through looks ``1 .. k-1`` and crossing at ``k``
equals the increment ``alpha(t_k) - alpha(t_{k-1})``. The standardised
statistics ``Z_k`` have the canonical joint distribution (Jennison & Turnbull
2000, ch. 3): ``Z_k sqrt(I_k)`` is a Brownian motion in information ``I``
with drift ``theta``. Crossing probabilities are computed exactly by the
recursive numerical integration of Armitage, McPherson & Rowe (1969) as set
out in Jennison & Turnbull (2000, ch. 19): the sub-density of ``Z_k`` on the
continuation region is carried from look to look by Simpson's rule on a fine
grid, and each boundary is found by root-finding. Nothing here is Bonferroni.

A two-sided design uses symmetric boundaries ``|Z_k| >= b_k`` and spends
``alpha`` over both tails together, again exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

Spending = Literal["obrien_fleming", "pocock"]
GRID_POINTS = 401        # Simpson grid per look (odd): crossing probabilities to about 1e-8
GRID_HALF_WIDTH = 9.0    # the grid covers drift +- 9 standard deviations
HUGE = 40.0              # a boundary nobody crosses (nothing left to spend)


def spent(spending: Spending, alpha: float, t: np.ndarray | float) -> np.ndarray:
    """Cumulative alpha spent at information fractions ``t`` (in [0, 1])."""
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    if spending == "obrien_fleming":
        with np.errstate(divide="ignore"):
            return np.where(t > 0, 2.0 - 2.0 * norm.cdf(norm.isf(alpha / 2.0) / np.sqrt(t)), 0.0)
    if spending == "pocock":
        return alpha * np.log1p((math.e - 1.0) * t)
    raise ValueError(f"spending must be 'obrien_fleming' or 'pocock' (got {spending!r})")


def _simpson(low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    z = np.linspace(low, high, GRID_POINTS)
    h = (high - low) / (GRID_POINTS - 1)
    weights = np.full(GRID_POINTS, 2.0)
    weights[1::2] = 4.0
    weights[0] = weights[-1] = 1.0
    return z, weights * h / 3.0


@dataclass(frozen=True)
class Boundaries:
    """Efficacy boundaries on the z scale, one per look, and the alpha each spends."""

    information_fractions: tuple[float, ...]
    efficacy_z: tuple[float, ...]
    cumulative_alpha: tuple[float, ...]
    sided: int


class _Recursion:
    """The sub-density of the statistic on the continuation region, look after look."""

    def __init__(self, information: np.ndarray, drift: float, sided: int) -> None:
        self.information = information
        self.drift = drift
        self.sided = sided
        self.z: np.ndarray | None = None          # grid of the last look's continuation region
        self.mass: np.ndarray | None = None       # sub-density times Simpson weights on that grid
        self.look = 0

    def _mean(self, k: int) -> float:
        return self.drift * math.sqrt(self.information[k])

    def crossing(self, k: int, bound: float) -> float:
        """P(continue through looks < k, cross ``bound`` at look k)."""
        sign_tails = (lambda upper, lower: upper + lower) if self.sided == 2 else (lambda upper, lower: upper)
        if k == 0:
            mean = self._mean(0)
            return float(sign_tails(norm.sf(bound - mean), norm.cdf(-bound - mean)))
        step = self.information[k] - self.information[k - 1]
        shift = self.z * math.sqrt(self.information[k - 1]) + self.drift * step
        scale = math.sqrt(step)
        root = math.sqrt(self.information[k])
        upper = norm.sf((bound * root - shift) / scale)
        lower = norm.cdf((-bound * root - shift) / scale)
        return float(self.mass @ sign_tails(upper, lower))

    def advance(self, k: int, bound: float) -> None:
        """Carry the sub-density to look k's continuation region (|z| < bound, or z < bound)."""
        mean = self._mean(k)
        low = -bound if self.sided == 2 else max(mean - GRID_HALF_WIDTH, -HUGE)
        high = min(bound, mean + GRID_HALF_WIDTH)
        low = max(low, mean - GRID_HALF_WIDTH)
        if high <= low:
            self.z, self.mass = np.array([0.0]), np.array([0.0])
            return
        z, weights = _simpson(low, high)
        if k == 0:
            density = norm.pdf(z - mean)
        else:
            step = self.information[k] - self.information[k - 1]
            root = math.sqrt(self.information[k])
            previous = self.z * math.sqrt(self.information[k - 1]) + self.drift * step
            kernel = norm.pdf((z[:, None] * root - previous[None, :]) / math.sqrt(step)) * root / math.sqrt(step)
            density = kernel @ self.mass
        self.z, self.mass = z, density * weights


def efficacy_boundaries(
    information_fractions: list[float] | tuple[float, ...],
    alpha: float,
    spending: Spending = "obrien_fleming",
    sided: int = 1,
) -> Boundaries:
    """Lan-DeMets boundaries at increasing information fractions ending at (or below) 1.

    One look is a fixed design: ``z_{1-alpha}`` (one-sided) or ``z_{1-alpha/2}``.
    """
    t = np.asarray(information_fractions, dtype=float)
    if len(t) == 0 or np.any(np.diff(t) <= 0) or t[0] <= 0 or t[-1] > 1 + 1e-12:
        raise ValueError(f"information fractions must increase within (0, 1] (got {list(information_fractions)})")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1) (got {alpha})")
    cumulative = spent(spending, alpha, t) if sided == 1 else 2.0 * spent(spending, alpha / 2.0, t)
    cumulative[-1] = alpha if t[-1] >= 1 - 1e-12 else cumulative[-1]
    increments = np.diff(cumulative, prepend=0.0)
    recursion = _Recursion(t, drift=0.0, sided=sided)
    bounds = []
    for k, target in enumerate(increments):
        if target <= 1e-15:
            bound = HUGE
        else:
            bound = brentq(lambda b: recursion.crossing(k, b) - target, 0.0, HUGE, xtol=1e-10)
        bounds.append(bound)
        if k < len(t) - 1:
            recursion.advance(k, bound)
    return Boundaries(tuple(map(float, t)), tuple(map(float, bounds)), tuple(map(float, cumulative)), sided)


def crossing_probabilities(
    information: list[float], efficacy_z: list[float], drift: float = 0.0, sided: int = 1
) -> np.ndarray:
    """P(stop for efficacy at each look) with drift ``theta`` per unit information."""
    information = np.asarray(information, dtype=float)
    recursion = _Recursion(information, drift, sided)
    probabilities = []
    for k, bound in enumerate(efficacy_z):
        probabilities.append(recursion.crossing(k, bound))
        if k < len(efficacy_z) - 1:
            recursion.advance(k, bound)
    return np.array(probabilities)
