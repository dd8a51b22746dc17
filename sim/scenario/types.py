"""Building blocks of the parameter models: checked number-or-distribution types
and the small tables (by relapse group, age band, sex, risk group) they fill.

Each checked type accepts a plain number or a distribution table and enforces
its domain on the number or on the distribution's whole support, with messages
in the shape ``must be a probability in [0, 1] (got 1.2)``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Callable

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    model_validator,
)

from sim.scenario.distributions import _Dist, central_value, parse_distribution


class Frozen(BaseModel):
    """Base of every parameter model: immutable, strict, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _checked(label: str, low: float, high: float, low_open: bool = False, high_open: bool = False) -> Callable[[Any], Any]:
    def inside(value: float) -> bool:
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        return above and below

    def validate(raw: Any) -> float | _Dist:
        if isinstance(raw, _Dist):
            return raw
        if isinstance(raw, bool) or not isinstance(raw, (int, float, dict)):
            raise ValueError(f"must be {label} or a distribution table (got {raw!r})")
        if isinstance(raw, dict):
            dist = parse_distribution(raw)
            lo, hi = dist.support()
            if lo < low or hi > high or (high_open and hi >= high):
                raise ValueError(
                    f"must be {label}; a {raw['dist']} distribution reaches [{lo:g}, {hi:g}]"
                )
            return dist
        value = float(raw)
        if math.isnan(value) or not inside(value):
            raise ValueError(f"must be {label} (got {raw!r})")
        if math.isinf(value):  # no figure of the model is infinite: a day, a rate or a cost that is means a typo
            raise ValueError(f"must be {label}, and finite (got {raw!r})")
        return value

    return validate


def _serialise(value: float | _Dist) -> Any:
    return value.model_dump(exclude_none=True) if isinstance(value, _Dist) else value


_SERIALISER = PlainSerializer(_serialise)

Probability = Annotated[float, PlainValidator(_checked("a probability in [0, 1]", 0.0, 1.0)), _SERIALISER]
NonNegative = Annotated[float, PlainValidator(_checked("a number >= 0", 0.0, math.inf)), _SERIALISER]
Positive = Annotated[
    float, PlainValidator(_checked("a number > 0", 0.0, math.inf, low_open=True)), _SERIALISER
]
# A number of places (beds, slots, infusion places): at least 1; a value between
# whole numbers (a distribution's draw) is rounded to the nearest at run time.
Capacity = Annotated[
    float, PlainValidator(_checked("a capacity of at least 1 place", 1.0, math.inf)),
    _SERIALISER,
]
# An annual discount rate, and a utility weight (1 = full health; below 0 = worse than death).
DiscountRate = Annotated[
    float, PlainValidator(_checked("a discount rate in [0, 1)", 0.0, 1.0, high_open=True)), _SERIALISER
]
Utility = Annotated[
    float, PlainValidator(_checked("a utility weight <= 1", -math.inf, 1.0)), _SERIALISER
]
AnyReal = Annotated[
    float, PlainValidator(_checked("a real number", -math.inf, math.inf)), _SERIALISER
]


def not_above(lower_name: str, upper_name: str):
    """A model check for a nested pair of rates (e.g. grade 4+ within grade 3+): field
    ``lower_name`` must not exceed field ``upper_name`` (central values compared).

    Assign it in the class body: ``_nested = not_above("grade4plus", "grade3plus")``.
    """

    def check(model: Any) -> Any:
        low, high = central_value(getattr(model, lower_name)), central_value(getattr(model, upper_name))
        if low > high:
            raise ValueError(f"'{lower_name}' must not exceed '{upper_name}' (got {low:g} > {high:g})")
        return model

    return model_validator(mode="after")(check)


class Shares(Frozen):
    """Relative weights of a choice (shares of a whole, in any units), each at least 0. When the
    choice can be made, at least one must be above 0 at its central value (:meth:`refuse_if_empty`:
    a plain run uses central values), or nothing could be chosen; a table never consulted (e.g.
    reasons for not being randomised when everyone is) may hold only zeros."""

    def refuse_if_empty(self, name: str | None = None, when: str = "") -> None:
        """A ValueError (naming the table ``name``, when checked from outside it) when no share is
        above 0 at its central value."""
        if not any(central_value(value) > 0 for value in self.__dict__.values()):
            raise ValueError(f"{f'{name!r} ' if name else ''}must have at least one share above 0{when} "
                             f"(got {', '.join(f'{key} = {value!r}' for key, value in self.__dict__.items())})")


class RequiredShares(Shares):
    """Shares of a choice every scenario can make (a donor type, a salvage therapy)."""

    @model_validator(mode="after")
    def _something_to_choose(self) -> "RequiredShares":
        self.refuse_if_empty()
        return self


class Documented(Frozen):
    """A parameter group: says where its figures come from."""

    source: str


# --- tables keyed by the model's categories -------------------------------

RELAPSE_GROUPS = ("bm_lt18", "bm_18_36", "bm_ge36", "iem_lt18", "iem_ge18")
AE_GROUPS = ("early_bm", "late_bm", "early_iem", "late_iem")
AE_AGE_BANDS = ("age_1_9", "age_10_18", "age_19_30")
RISK_GROUPS = ("LR", "IR", "HR")


class ProbabilityByRelapseGroup(Frozen):
    bm_lt18: Probability
    bm_18_36: Probability
    bm_ge36: Probability
    iem_lt18: Probability
    iem_ge18: Probability


class ProbabilityByAeGroup(Frozen):
    """The four groups AALL1331 reports toxicity by: early/late BM and IEM."""

    early_bm: Probability
    late_bm: Probability
    early_iem: Probability
    late_iem: Probability


class ProbabilityByAgeBand(Frozen):
    """Age bands of the AALL1331 toxicity tables (1-9, 10-18, 19-30 years)."""

    age_1_9: Probability
    age_10_18: Probability
    age_19_30: Probability


class ProbabilityBySex(Frozen):
    male: Probability
    female: Probability


class ProbabilityByRiskGroup(Frozen):
    LR: Probability
    IR: Probability
    HR: Probability
