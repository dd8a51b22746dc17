"""Walking parameters by dotted key path: list them, realise them, vary them.

``realise`` turns every distribution into a number (central value, or an
inverse-CDF draw) and ``with_values`` sets parameters by key path; both return
copies, never mutating the scenario. Dicts of tables (``reinduction.mitcl``)
are walked like tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel

from .distributions import _Dist

if TYPE_CHECKING:
    from .parameters import Scenario


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


def _replace(model: BaseModel, choose: Callable[[str, Any], Any], prefix: str = "") -> BaseModel:
    update = {}
    for name, path, value in _children(model, prefix):
        if _is_table(value):
            new = _replace(value, choose, f"{path}.")
        elif isinstance(value, dict) and any(_is_table(item) for item in value.values()):
            replaced = {key: _replace(item, choose, f"{path}.{key}.") if _is_table(item) else item
                        for key, item in value.items()}
            new = value if all(replaced[k] is value[k] for k in value) else replaced
        else:
            new = choose(path, value)
        if new is not value:
            update[name] = new
    return model.model_copy(update=update) if update else model


def realise(scenario: Scenario, uniforms: dict[str, float] | None = None) -> Scenario:
    """A copy with every distribution replaced by a number.

    Without ``uniforms`` each distribution takes its central value; with them,
    the parameter at each listed path takes its inverse CDF at that uniform.
    """
    uniforms = uniforms or {}

    def choose(path: str, value: Any) -> Any:
        if not isinstance(value, _Dist):
            return value
        return value.ppf(uniforms[path]) if path in uniforms else value.central()

    return _replace(scenario, choose)  # type: ignore[return-value]


def with_values(scenario: Scenario, values: dict[str, float]) -> Scenario:
    """A copy with the parameters at the given dotted key paths set to numbers."""
    missing = set(values)

    def choose(path: str, value: Any) -> Any:
        if path in values:
            missing.discard(path)
            return float(values[path])
        return value

    result = _replace(scenario, choose)
    if missing:
        raise KeyError(f"no parameter at {sorted(missing)}")
    return result  # type: ignore[return-value]
