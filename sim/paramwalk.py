"""Walking parameters by dotted key path: list them, realise them, vary them.

``realise`` turns every distribution into a number (central value, or an
inverse-CDF draw) and ``with_values`` sets parameters by key path; both return
copies, never mutating the scenario, and both validate the copy through the
models a loaded scenario went through, so a sweep point, a calibration iterate
or a PSA draw obeys every rule a scenario file does (:class:`VariantError`
otherwise). Dicts of tables (``reinduction.mitcl``) are walked like tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel, ValidationError

from sim.scenario.distributions import _Dist
from sim.scenario.problems import ScenarioError, describe

if TYPE_CHECKING:
    from sim.scenario.schema import Scenario


def _children(model: BaseModel, prefix: str) -> list[tuple[str, str, Any]]:
    """(field, dotted path, value) of a model's fields; a dict of models counts as a table."""
    return [(name, f"{prefix}{name}", getattr(model, name)) for name in type(model).model_fields]


def _is_table(value: Any) -> bool:
    return isinstance(value, BaseModel) and not isinstance(value, _Dist)


def _leaf_paths(model: BaseModel, keep: Callable[[Any], bool], prefix: str = "") -> list[str]:
    """Dotted key paths of the leaves ``keep`` accepts, in file order (dicts of tables included)."""
    paths = []
    for _, path, value in _children(model, prefix):
        if keep(value):
            paths.append(path)
        elif _is_table(value):
            paths.extend(_leaf_paths(value, keep, f"{path}."))
        elif isinstance(value, dict):
            for key, item in value.items():
                if _is_table(item):
                    paths.extend(_leaf_paths(item, keep, f"{path}.{key}."))
    return paths


def numeric_paths(model: BaseModel) -> list[str]:
    """Dotted key paths of every numeric or distribution-valued parameter."""
    return _leaf_paths(model, lambda v: isinstance(v, _Dist) or (isinstance(v, (int, float)) and not isinstance(v, bool)))


def distribution_paths(model: BaseModel) -> list[str]:
    """Dotted key paths of every distribution-valued parameter, in file order."""
    return _leaf_paths(model, lambda v: isinstance(v, _Dist))


class VariantError(ScenarioError):
    """A variant (sweep point, calibration iterate, PSA draw) that breaks a rule of the scenario.

    ``key_problems`` holds ``(key path, message)`` pairs; ``variant`` says which
    variant it is (``"with hsct.trm_prob = 1.7"``).
    """

    def __init__(self, key_problems: list[tuple[str, str]], variant: str) -> None:
        self.key_problems = list(key_problems)
        self.variant = variant
        super().__init__([f"{variant}: {key}: {message}" for key, message in self.key_problems])

    def __reduce__(self):
        return (type(self), (self.key_problems, self.variant))


def _rebuild(model: BaseModel, choose: Callable[[str, Any], Any], prefix: str = "") -> BaseModel | dict:
    """``model`` itself when ``choose`` changes nothing under it, else its fields (with the
    changes) as a dict, ready to validate. Unchanged tables stay as they are."""
    fields, changed = {}, False
    for name, path, value in _children(model, prefix):
        if _is_table(value):
            new = _rebuild(value, choose, f"{path}.")
        elif isinstance(value, dict) and any(_is_table(item) for item in value.values()):
            rebuilt = {key: _rebuild(item, choose, f"{path}.{key}.") if _is_table(item) else item
                       for key, item in value.items()}
            new = value if all(rebuilt[k] is value[k] for k in value) else rebuilt
        else:
            new = choose(path, value)
        changed = changed or new is not value
        fields[name] = new
    return fields if changed else model


def _validated(scenario: Scenario, document: BaseModel | dict, variant: str) -> Scenario:
    """The variant ``document`` describes, through the validation a loaded scenario went through."""
    if document is scenario:
        return scenario
    model = type(scenario)
    try:
        return model.model_validate(document, context={"variant": True})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc, message = describe(err, model)
            problems.append((".".join(loc) or "(top level)", message))
        raise VariantError(problems, variant) from None


def realise(scenario: Scenario, uniforms: dict[str, float] | None = None, variant: str = "a parameter draw") -> Scenario:
    """A validated copy with every distribution replaced by a number.

    Without ``uniforms`` each distribution takes its central value; with them,
    the parameter at each listed path takes its inverse CDF at that uniform.
    Raises :class:`VariantError`, naming ``variant``, when the draws break a
    rule across keys (a grade 4+ rate above its grade 3+ rate).
    """
    uniforms = uniforms or {}

    def choose(path: str, value: Any) -> Any:
        if not isinstance(value, _Dist):
            return value
        return value.ppf(uniforms[path]) if path in uniforms else value.central()

    return _validated(scenario, _rebuild(scenario, choose), variant)


def _as_field_value(current: Any, value: float) -> float | int:
    """A whole number stays an integer where the parameter is one (``cohort.n_patients``)."""
    number = float(value)
    if isinstance(current, int) and not isinstance(current, bool) and number.is_integer():
        return int(number)
    return number


def with_values(scenario: Scenario, values: dict[str, float]) -> Scenario:
    """A validated copy with the parameters at the given dotted key paths set to numbers.

    Raises ``KeyError`` for a path that is not a parameter, and
    :class:`VariantError` (naming each key, rule and value) when a value
    breaks a rule, as loading a scenario file with that value would.
    """
    missing = set(values)

    def choose(path: str, value: Any) -> Any:
        if path in values:
            missing.discard(path)
            return _as_field_value(value, values[path])
        return value

    document = _rebuild(scenario, choose)
    if missing:
        raise KeyError(f"no parameter at {sorted(missing)}")
    setting = ", ".join(f"{path} = {value:g}" for path, value in values.items())
    return _validated(scenario, document, f"with {setting}")
