"""Reading scenario files: TOML in, a validated :class:`~sim.parameters.Scenario` out.

This is the only module that reads scenarios from disk. It resolves
``extends = "other.toml"`` (relative to the extending file; keys of the
extending file override, tables merge key by key, arrays are replaced) and
``fitted = "x.fitted.toml"`` (values written by ``simulate calibrate``, merged
over the file that names them, before any extending file),
validates the merged document once, and turns every problem into one line
naming the file, the TOML key path, the rule and the value::

    scenarios/x.toml: block1.toxic_death_prob.bm_lt18: must be a probability in [0, 1] (got 1.2)

All problems are reported at once, in a :class:`ScenarioError`.
"""

from __future__ import annotations

import difflib
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .parameters import Scenario


class ScenarioError(Exception):
    """A scenario that cannot be used; ``str()`` is the user-facing message."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class LoadedScenario:
    scenario: Scenario
    path: Path
    sources: dict[str, str] = field(default_factory=dict)  # file -> text, extends chain first

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for name, text in self.sources.items():
            digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        return digest.hexdigest()


def _read_toml(path: Path, display: str) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([f"{display}: file not found"]) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{display}: cannot read ({exc.__class__.__name__}: {exc})"]) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{display}: malformed TOML: {exc}"]) from None


def _merge(base: dict, override: dict, origin: dict, base_origin: dict, file: str, prefix: tuple = ()) -> dict:
    merged = dict(base)
    for key, value in override.items():
        path = prefix + (key,)
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, origin, base_origin, file, path)
        else:
            merged[key] = value
            origin[path] = file
    return merged


def _load_document(path: Path, display: str, chain: tuple[Path, ...]) -> tuple[dict, dict, dict[str, str]]:
    """Merged document, origin of each key path, and source texts (base first)."""
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(p.name for p in chain + (resolved,))
        raise ScenarioError([f"{display}: extends: a scenario cannot extend itself (cycle {cycle})"])
    document, text = _read_toml(path, display)
    fitted_name = document.pop("fitted", None)
    base_name = document.pop("extends", None)
    if fitted_name is not None:
        document, fitted_sources = _with_fitted(document, path, display, fitted_name)
    else:
        fitted_sources = {}
    if base_name is None:
        origin = {(key,): display for key in document}
        return document, origin, {display: text, **fitted_sources}
    if not isinstance(base_name, str):
        raise ScenarioError([f"{display}: extends: must be a file name (got {base_name!r})"])
    base_path = path.parent / base_name
    base_display = str(Path(display).parent / base_name)
    base, origin, sources = _load_document(base_path, base_display, chain + (resolved,))
    merged = _merge(base, document, origin, {}, display)
    sources[display] = text
    sources.update(fitted_sources)
    return merged, origin, sources


def _with_fitted(document: dict, path: Path, display: str, fitted_name: object) -> tuple[dict, dict[str, str]]:
    """Merge the calibrated values file named by ``fitted`` over ``document``."""
    if not isinstance(fitted_name, str):
        raise ScenarioError([f"{display}: fitted: must be a file name (got {fitted_name!r})"])
    fitted_display = str(Path(display).parent / fitted_name)
    fitted, fitted_text = _read_toml(path.parent / fitted_name, fitted_display)
    fitted.pop("calibration", None)  # provenance of the fit, not parameters
    return _merge(document, fitted, {}, {}, display), {fitted_display: fitted_text}


def _file_of(loc: tuple, origin: dict, default: str) -> str:
    for end in range(len(loc), 0, -1):
        if loc[:end] in origin:
            return origin[loc[:end]]
    return default


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model class whose fields live at key path ``loc`` (for suggestions)."""
    model: Any = Scenario
    for part in loc:
        info = model.model_fields.get(part) if isinstance(part, str) else None
        if info is None:
            return None
        candidates = [info.annotation, *getattr(info.annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


def _describe(err: dict) -> tuple[tuple, str]:
    loc = tuple(part for part in err["loc"] if isinstance(part, str) and not part.startswith("function-"))
    kind = err["type"]
    message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "missing":
        return loc, "missing required key"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; allowed: {', '.join(model.model_fields)}"
        return loc, f"unknown key{hint}"
    if "(got" not in message:
        message = f"{message} (got {err['input']!r})"
    return loc, message[0].lower() + message[1:]


def load_scenario(path: str | Path) -> LoadedScenario:
    """Read, merge and validate a scenario file; raise :class:`ScenarioError`."""
    path = Path(path)
    display = str(path)
    document, origin, sources = _load_document(path, display, ())
    try:
        scenario = Scenario.model_validate(document)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc, message = _describe(err)
            key = ".".join(loc) or "(top level)"
            problems.append(f"{_file_of(loc, origin, display)}: {key}: {message}")
        raise ScenarioError(problems) from None
    return LoadedScenario(scenario=scenario, path=path, sources=sources)


def fitted_values_path(path: str | Path) -> Path:
    """The fitted-values file a scenario names with ``fitted = "..."``."""
    path = Path(path)
    document, _ = _read_toml(path, str(path))
    name = document.get("fitted")
    if not isinstance(name, str):
        raise ScenarioError([f"{path}: fitted: missing; the scenario must name a fitted-values file to calibrate into"])
    return path.parent / name
