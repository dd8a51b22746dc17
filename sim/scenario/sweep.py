"""The ``[sweep]`` table: which parameter sets (points) a sweep asks for, checked at load.

The points of sampled designs are drawn by ``sim.execution.designs``.

Designs:

* ``grid``: every combination of the listed values (``[sweep.grid]``).
  A key may be a glob pattern: ``"reinduction.mitcl.toxic_death_prob.*"``
  sets every matching parameter to the point's value.
* ``one_way``: the central scenario, then each listed parameter alone at its
  low and at its high value (``[sweep.one_way]``; a tornado analysis).
* ``latin_hypercube``, ``sobol`` (Saltelli), ``morris``: sampled designs
  from SALib over the listed distribution-valued parameters; each design
  coordinate in [0, 1] is mapped through the parameter's own distribution
  (inverse CDF).
* ``psa``: probabilistic sensitivity analysis (with a calibrated ensemble,
  each point also takes one of its parameter sets), a Latin hypercube over
  *every* distribution in the scenario.

Every point is a full run of the scenario (all strategies, common random
numbers), with the same seed at every point, so differences between points
come from the parameters, not from different patients.
"""

from __future__ import annotations

import fnmatch
import itertools
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from sim.scenario.distributions import _Dist
from sim.scenario.keypaths import VariantError, numeric_paths, value_at, with_values
from sim.scenario.types import Frozen

DESIGNS = ("grid", "one_way", "latin_hypercube", "sobol", "morris", "psa")
SAMPLED = ("latin_hypercube", "sobol", "morris", "psa")
MIN_SAMPLES = {"latin_hypercube": 2, "sobol": 2, "morris": 2, "psa": 2}
DEFAULT_OUTCOMES = ("os_4y", "efs_4y", "reinduction_death")


class SweepSettings(Frozen):
    design: Literal["grid", "one_way", "latin_hypercube", "sobol", "morris", "psa"]
    replications: int | None = Field(default=None, ge=2)
    grid: dict[str, list[float]] = {}
    one_way: dict[str, list[float]] = {}
    parameters: list[str] = []
    samples: int = Field(default=16, ge=1)
    outcomes: list[str] = list(DEFAULT_OUTCOMES)

    @model_validator(mode="after")
    def _design_inputs(self) -> "SweepSettings":
        if self.design == "grid" and not self.grid:
            raise ValueError("'grid' must list parameter = [values] for design = 'grid' (got none)")
        if self.design == "one_way" and not self.one_way:
            raise ValueError("'one_way' must list parameter = [low, high] for design = 'one_way' (got none)")
        for path, values in self.grid.items():
            if not values:
                raise ValueError(f"'grid' must list at least one value for {path!r} (got [])")
        if not self.outcomes:
            raise ValueError("'outcomes' must name at least one outcome measure (got [])")
        for name, listed in (("parameters", self.parameters), ("outcomes", self.outcomes)):
            repeated = sorted({item for item in listed if listed.count(item) > 1})
            if repeated:
                raise ValueError(f"'{name}' must name each once (got {', '.join(map(repr, repeated))} more than once)")
        for path, bounds in self.one_way.items():
            if len(bounds) != 2 or bounds[0] > bounds[1]:
                raise ValueError(f"'one_way' must give [low, high] with low <= high for {path!r} (got {bounds})")
        if self.design in ("latin_hypercube", "sobol", "morris") and not self.parameters:
            raise ValueError(f"'parameters' must list distribution-valued parameters for design = {self.design!r} (got none)")
        if self.design in SAMPLED and self.samples < MIN_SAMPLES[self.design]:
            raise ValueError(
                f"'samples' must be at least {MIN_SAMPLES[self.design]} for design = {self.design!r} (got {self.samples})"
            )
        if self.design == "sobol" and self.samples & (self.samples - 1):
            raise ValueError(f"'samples' must be a power of 2 for design = 'sobol' (Saltelli) (got {self.samples})")
        return self


def expand(scenario, path: str) -> list[str]:
    """Concrete key paths a sweep key stands for: itself, or every match of a glob
    pattern (``reinduction.mitcl.toxic_death_prob.*`` sets all five groups at once)."""
    if not any(char in path for char in "*?["):
        return [path]
    return [p for p in numeric_paths(scenario) if fnmatch.fnmatchcase(p, path)]


def expand_values(scenario, values: dict[str, float]) -> dict[str, float]:
    return {concrete: value for path, value in values.items() for concrete in expand(scenario, path)}


def parameter_value(scenario, path: str):
    """The value (number or distribution) at a dotted key path, or KeyError.

    A glob pattern answers with its first match (all must exist)."""
    matches = expand(scenario, path)
    if not matches:
        raise KeyError(path)
    path = matches[0]
    value = value_at(scenario, path)
    if isinstance(value, bool) or not isinstance(value, (int, float, _Dist)):
        raise KeyError(path)
    return value


def swept_paths(sweep: SweepSettings, distribution_paths: list[str]) -> list[str]:
    if sweep.design == "grid":
        return list(sweep.grid)
    if sweep.design == "one_way":
        return list(sweep.one_way)
    if sweep.design == "psa":
        return list(sweep.parameters) or list(distribution_paths)
    return list(sweep.parameters)


def listed_points(sweep: SweepSettings, scenario) -> tuple[list[str], np.ndarray]:
    """(parameter paths, points [n_points, n_params]) of a design that lists its
    values in the file (``grid``: every combination; ``one_way``: the centre,
    then each parameter at its low and high value, the others at the centre)."""
    if sweep.design == "grid":
        paths = list(sweep.grid)
        return paths, np.array(list(itertools.product(*[sweep.grid[p] for p in paths])), dtype=float)
    paths = list(sweep.one_way)
    centre = [_central(scenario, p) for p in paths]
    rows = [centre]
    for k, path in enumerate(paths):
        for bound in sweep.one_way[path]:
            row = list(centre)
            row[k] = bound
            rows.append(row)
    return paths, np.array(rows, dtype=float)


def _central(scenario, path: str) -> float:
    value = parameter_value(scenario, path)
    return value.central() if isinstance(value, _Dist) else float(value)


def point_variant(scenario, values: dict[str, float], point: int):
    """The scenario at one sweep point, validated like a scenario file
    (:class:`~sim.scenario.keypaths.VariantError` naming the point otherwise)."""
    try:
        return with_values(scenario, expand_values(scenario, values))
    except VariantError as exc:
        setting = ", ".join(f"{path} = {value:g}" for path, value in values.items())
        raise VariantError(exc.key_problems, f"sweep point {point} ({setting})") from None


def value_problems(scenario) -> list[tuple[str, str, str]]:
    """Every listed sweep value that breaks a rule: (table, sweep key or "" for a whole point, message).

    ``grid`` and ``one_way`` list their values in the file, so they are
    checked when the file loads. Each value is first tried alone (so the
    message names the one sweep key at fault), then each grid point whole
    (for rules across keys). Sampled designs draw inside each parameter's own
    distribution; their points are checked when the run plans them.
    """
    sweep = scenario.sweep
    if sweep is None or sweep.design not in ("grid", "one_way"):
        return []
    table = sweep.grid if sweep.design == "grid" else sweep.one_way
    paths, points = listed_points(sweep, scenario)
    problems: list[tuple[str, str, str]] = []
    for column, key in enumerate(paths):
        concrete = expand(scenario, key)
        for value in dict.fromkeys(table[key]):
            try:
                with_values(scenario, dict.fromkeys(concrete, value))
            except VariantError as exc:
                point = int(np.flatnonzero(points[:, column] == value)[0])
                at_fault, message = exc.key_problems[0]
                setting = f"{at_fault if at_fault in concrete else concrete[0]} = {value:g}"
                problems.append((sweep.design, key, _blame(point, setting, at_fault, message)))
    if problems or sweep.design == "one_way":
        return problems
    for point, row in enumerate(points):
        try:
            point_variant(scenario, dict(zip(paths, row, strict=True)), point)
        except VariantError as exc:
            at_fault, message = exc.key_problems[0]
            setting = ", ".join(f"{path} = {value:g}" for path, value in zip(paths, row, strict=True))
            problems.append((sweep.design, "", _blame(point, setting, at_fault, message)))
    return problems


def _blame(point: int, setting: str, at_fault: str, message: str) -> str:
    """``point 2 sets hsct.trm_prob = 1.7: must be ...``; the key at fault is named when it is not the one set."""
    if setting.split(" = ", 1)[0] == at_fault and "," not in setting:
        return f"point {point} sets {setting}: {message}"
    return f"point {point} sets {setting}: {at_fault}: {message}"
