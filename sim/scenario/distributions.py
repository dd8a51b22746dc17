"""Uncertain parameters: a number, or a distribution written in a scenario file.

A scenario parameter is either a plain number or a table such as
``{dist = "beta", alpha = 30, beta = 631, source = "AALL1331-all 3.1"}``.
A plain run uses each distribution's *central value* (documented per family
below); probabilistic sensitivity analysis and sweeps draw from it by inverse
CDF of a uniform, so a parameter draw is a monotone function of one uniform
from a named stream (common random numbers hold across sweep points).

Families and their central values:

==============  ==============================  ==============
``dist``        fields                          central value
==============  ==============================  ==============
``beta``        ``alpha``, ``beta``             mean
``uniform``     ``low``, ``high``               midpoint
``triangular``  ``low``, ``mode``, ``high``     mode
``lognormal``   ``median``, ``sigma`` (of log)  median
``gamma``       ``mean``, ``sd``                mean
``normal``      ``mean``, ``sd``                mean
==============  ==============================  ==============

Every distribution may carry ``source`` (an evidence row) or ``assumption``
(the reasoning behind it); the scenario files use them so a clinician can read
why each range is what it is.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)


def _stats():
    """``scipy.stats``, imported on first use: 0.6 s that a run with central values never needs."""
    from scipy import stats

    return stats


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    source: str | None = None
    assumption: str | None = None

    def central(self) -> float:  # pragma: no cover - every family overrides
        raise NotImplementedError

    def support(self) -> tuple[float, float]:  # pragma: no cover
        raise NotImplementedError

    def scipy(self) -> tuple[Any, tuple[float, ...], float, float]:  # pragma: no cover - every family but uniform
        """The family in scipy.stats: ``(distribution, shapes, loc, scale)``."""
        raise NotImplementedError

    def ppf(self, u: float) -> float:
        """The inverse CDF at ``u``: scipy.stats' ``ppf`` (the same double).

        For ``0 < u < 1`` and parameters scipy accepts, it is what that ``ppf``
        computes there, ``_ppf(u, *shapes) * scale + loc`` (the family's own
        quantile function, the one subclasses of ``rv_continuous`` define),
        called directly: the wrapper's checks and broadcasting cost six to
        fifteen times as much, and probabilistic sensitivity analysis draws
        every parameter of every replication. Elsewhere (0, 1, parameters
        scipy refuses), the wrapper itself (:meth:`reference_ppf`).
        """
        distribution, shapes, loc, scale = self.scipy()
        if 0.0 < u < 1.0 and scale > 0 and loc == loc and distribution._argcheck(*shapes):
            return float((distribution._ppf(np.array([u]), *shapes) * scale + loc)[0])
        return self.reference_ppf(u)

    def reference_ppf(self, u: float) -> float:
        """scipy.stats' ``ppf`` at ``u``, through its public method (the tests hold :meth:`ppf` to it)."""
        distribution, shapes, loc, scale = self.scipy()
        return float(distribution.ppf(u, *shapes, loc=loc, scale=scale))


class Beta(_Dist):
    dist: Literal["beta"]
    alpha: float = Field(gt=0)
    beta: float = Field(gt=0)

    def central(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def support(self) -> tuple[float, float]:
        return (0.0, 1.0)

    def scipy(self) -> tuple[Any, tuple[float, ...], float, float]:
        return _stats().beta, (self.alpha, self.beta), 0.0, 1.0


class Uniform(_Dist):
    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> "Uniform":
        if not self.low < self.high:
            raise ValueError(f"'low' must be below 'high' (got low={self.low}, high={self.high})")
        return self

    def central(self) -> float:
        return 0.5 * (self.low + self.high)

    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def ppf(self, u: float) -> float:
        return self.low + u * (self.high - self.low)

    def reference_ppf(self, u: float) -> float:
        return float(_stats().uniform.ppf(u, loc=self.low, scale=self.high - self.low))


class Triangular(_Dist):
    dist: Literal["triangular"]
    low: float
    mode: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> "Triangular":
        if not (self.low <= self.mode <= self.high and self.low < self.high):
            raise ValueError(
                "must satisfy low <= mode <= high with low < high "
                f"(got low={self.low}, mode={self.mode}, high={self.high})"
            )
        return self

    def central(self) -> float:
        return self.mode

    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def scipy(self) -> tuple[Any, tuple[float, ...], float, float]:
        width = self.high - self.low
        return _stats().triang, ((self.mode - self.low) / width,), self.low, width


class Normal(_Dist):
    dist: Literal["normal"]
    mean: float
    sd: float = Field(gt=0)

    def central(self) -> float:
        return self.mean

    def support(self) -> tuple[float, float]:
        return (-math.inf, math.inf)

    def scipy(self) -> tuple[Any, tuple[float, ...], float, float]:
        return _stats().norm, (), self.mean, self.sd


class _OnPositives(_Dist):
    """A family whose values are the positive numbers."""

    def support(self) -> tuple[float, float]:
        return (0.0, math.inf)


class LogNormal(_OnPositives):
    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    sigma: float = Field(gt=0)

    def central(self) -> float:
        return self.median

    def scipy(self) -> tuple[Any, tuple[float, ...], float, float]:
        return _stats().lognorm, (self.sigma,), 0.0, self.median


class Gamma(_OnPositives):
    """Written by its mean and sd; scipy's shape and scale follow from them."""

    dist: Literal["gamma"]
    mean: float = Field(gt=0)
    sd: float = Field(gt=0)

    @property
    def shape(self) -> float:
        return (self.mean / self.sd) ** 2

    @property
    def scale(self) -> float:
        return self.sd**2 / self.mean

    def central(self) -> float:
        return self.mean

    def scipy(self) -> tuple[Any, tuple[float, ...], float, float]:
        return _stats().gamma, (self.shape,), 0.0, self.scale


Distribution = Annotated[
    Union[Beta, Uniform, Triangular, LogNormal, Gamma, Normal], Field(discriminator="dist")
]
DIST_FAMILIES = ("beta", "uniform", "triangular", "lognormal", "gamma", "normal")
_DIST_ADAPTER: TypeAdapter = TypeAdapter(Distribution)


def parse_distribution(raw: dict[str, Any]) -> _Dist:
    """Validate a distribution table, turning pydantic's errors into one line."""
    family = raw.get("dist")
    if family not in DIST_FAMILIES:
        raise ValueError(
            f"'dist' must be one of {', '.join(DIST_FAMILIES)} (got {family!r})"
        )
    try:
        return _DIST_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(part) for part in err["loc"][1:])
            kind, ctx = err["type"], err.get("ctx", {})
            if kind == "missing":
                problems.append(f"{family} distribution: missing required key '{field}'")
                continue
            if kind == "extra_forbidden":
                message = f"unknown key for a {family} distribution"
            elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
                sign = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
                bound = next(iter(ctx.values()))
                message = f"must be {sign} {bound:g}"
            else:
                message = err["msg"].removeprefix("Value error, ")
                message = message[0].lower() + message[1:]
            if "(got" not in message:
                message = f"{message} (got {err['input']!r})"
            problems.append(f"{family} distribution: '{field}' {message}" if field else f"{family} distribution: {message}")
        raise ValueError("; ".join(problems)) from None


def shown(value: float | _Dist) -> str:
    """A parameter as a message shows it: ``3``, or ``a triangular distribution centred on 0``."""
    if isinstance(value, _Dist):
        return f"a {value.dist} distribution centred on {value.central():g}"  # type: ignore[attr-defined]
    return f"{value:g}"


def central_value(value: float | _Dist) -> float:
    """The value a plain (non-sampled) run uses."""
    return value.central() if isinstance(value, _Dist) else float(value)


def is_distribution(value: Any) -> bool:
    return isinstance(value, _Dist)


def lowest(value: float | _Dist) -> float:
    """The smallest value a parameter can take (a distribution's support)."""
    return value.support()[0] if isinstance(value, _Dist) else float(value)


def highest(value: float | _Dist) -> float:
    """The largest value a parameter can take (a distribution's support)."""
    return value.support()[1] if isinstance(value, _Dist) else float(value)
