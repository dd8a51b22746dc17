"""End-of-reinduction marrow MRD: one latent resistance, a level consistent with morphology.

A patient's latent disease resistance ``z`` (standard normal, from the
cohort) sets both the response and the marrow level, in one monotone map:

1. **Early treatment failure** is the top ``p_fail`` tail of ``z`` in the
   relapse group (``z > z_fail``): no morphological remission, so the marrow
   holds 5% blasts or more (``sim.clinical.REMISSION_BLAST_PERCENT``).
2. **The level** follows a parent log-normal, ``log10 L ~ N(mu_g, sd)``,
   split at 5%: a patient in remission has the level of the parent below 5%
   at their rank among remissions, ``Phi(z) / Phi(z_fail)``; a failure the
   level above 5% at their rank among failures. So no patient in remission
   has 5% or more, no failure has less, and a higher ``z`` never gives a
   lower level.
3. ``mu_g`` is solved (once per replication) so that ``P(L >= 0.01%)`` over
   all survivors equals the group's ``mrd_ge_0_01_prob``, failures counted
   as positive; ``sd`` is ``mrd_log10_sd`` (section 3.1, late BM: the share
   at >= 0.01% against >= 0.1%). A group whose ``mrd_ge_0_01_prob`` is not
   above its failure probability has no MRD-positive remission.
4. **A second cycle** (MITCL) that brings a failure into remission gives the
   level below 5% at the patient's rank among failures.

The recorded value is what a flow assay shows (``sim.model.records``); the
model keeps the latent level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import log_ndtr, ndtr, ndtri

from sim.clinical import MRD_MAX_PERCENT, MRD_POSITIVE_PERCENT, REMISSION_BLAST_PERCENT

_LOG_POSITIVE = math.log10(MRD_POSITIVE_PERCENT)
_LOG_REMISSION = math.log10(REMISSION_BLAST_PERCENT)
_TINY = 1e-12
# An exponent (log10 %) above which a level is capped at 100% anyway (ten times the cap): a power of ten is
# taken of the exponent capped there, the same level (NaN passes through), and no OverflowError however wide
# the spread of the exponents. (Remission levels need none: their exponents stay within a few hundredths of
# log10 5%, whatever the spread.)
CAP_EXPONENT = math.log10(MRD_MAX_PERCENT) + 1.0


@dataclass(frozen=True, slots=True)
class MrdGroup:
    """The MRD map of one relapse group: failure threshold on ``z`` and the split parent log-normal."""

    failure_z: float
    remission_share: float   # Phi(failure_z): P(remission), computed once
    failure_share: float     # Phi(-failure_z): P(failure), computed once, accurate in the tail
    mu: float                # mean of log10 level of the parent log-normal
    sd: float                # its standard deviation
    below_remission: float   # P(parent < 5%)
    above_remission: float   # P(parent >= 5%), kept apart for accuracy in the tail

    @classmethod
    def solve(cls, failure_prob: float, positive_prob: float, sd: float) -> "MrdGroup":
        failure_z = float(ndtri(1.0 - failure_prob)) if failure_prob > 0 else math.inf
        # share of remissions at >= 0.01%
        share = (positive_prob - failure_prob) / (1.0 - failure_prob) if failure_prob < 1 else 0.0
        share = min(max(share, _TINY), 1.0 - _TINY)

        def excess(mu: float) -> float:  # P(parent >= 0.01% | parent < 5%) - share, in logs for the tails
            return 1.0 - math.exp(log_ndtr((_LOG_POSITIVE - mu) / sd) - log_ndtr((_LOG_REMISSION - mu) / sd)) - share

        low, high = _LOG_POSITIVE - 30 * sd, _LOG_REMISSION + 30 * sd
        if excess(low) * excess(high) > 0:
            # a spread so wide (sd well above 1) that the interval from 0.01% to 5% is narrow against it: the
            # mean must go further out, in proportion to sd squared (only then: the usual bracket is kept)
            low, high = _LOG_POSITIVE - 30 * sd * max(sd, 1.0), _LOG_REMISSION + 30 * sd * max(sd, 1.0)
        mu = brentq(excess, low, high, xtol=1e-12)
        cut = (_LOG_REMISSION - mu) / sd
        return cls(failure_z, float(ndtr(failure_z)), float(ndtr(-failure_z)), mu, sd, float(ndtr(cut)),
                   float(ndtr(-cut)))

    def levels(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Early treatment failure and the end-of-reinduction level (%) of patients of resistance ``z``."""
        failed = z > self.failure_z
        level = np.empty(len(z))
        remission = ~failed
        if remission.any():  # below 5%, at the rank among remissions
            level[remission] = self._at_all(ndtr(z[remission]) / self.remission_share * self.below_remission)
        if failed.any():  # above 5%, at the rank among failures (counted from the top, for accuracy)
            from_top = ndtr(-z[failed]) / self.failure_share * self.above_remission
            exponents = self.mu - self.sd * ndtri(np.maximum(from_top, 1e-300))
            # powers by Python's float power, as for one patient: the same doubles; an exponent above the
            # cap's is capped first (the same level, and no overflow however wide ``mrd_log10_sd``)
            top = CAP_EXPONENT
            level[failed] = [min(MRD_MAX_PERCENT, max(REMISSION_BLAST_PERCENT, 10.0 ** (top if e > top else e)))
                             for e in exponents.tolist()]
        return failed, level

    def level_after_second_cycle(self, z: float) -> float:
        """A failure brought into remission by a second cycle: below 5%, at the rank among failures."""
        rank = 1.0 - float(ndtr(-z)) / self.failure_share
        return self._at(rank * self.below_remission)

    def _at_all(self, p: np.ndarray) -> list[float]:
        """:meth:`_at` of every probability of ``p``."""
        p = np.where(p < 1e-300, 1e-300, p)
        p = np.where(p > self.below_remission, self.below_remission, p)
        cap = REMISSION_BLAST_PERCENT * (1 - 1e-12)
        return [min(cap, 10.0 ** e) for e in (self.mu + self.sd * ndtri(p)).tolist()]

    def _at(self, p: float) -> float:
        """The parent's level at lower-tail probability ``p`` (a remission level: below 5%)."""
        if p < 1e-300:  # clamped by comparisons rather than min(max(...)), two calls
            p = 1e-300
        if p > self.below_remission:
            p = self.below_remission
        return min(REMISSION_BLAST_PERCENT * (1 - 1e-12), 10.0 ** (self.mu + self.sd * float(ndtri(p))))
