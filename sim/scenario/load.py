"""Reading scenario files: TOML in, a validated :class:`~sim.scenario.schema.Scenario` out.

This is the only module that reads scenarios from disk. It resolves
``extends = "other.toml"`` (relative to the extending file; keys of the
extending file override, tables merge key by key, arrays are replaced) and
``fitted = "x.fitted.toml"`` (values written by ``simulate calibrate``, merged
over the file that names them, before any extending file) and
``ensemble = "x.ensemble.parquet"`` (the calibrated parameter sets that
``run.parameter_mode = "calibrated"`` draws from), lets every
``[reinduction.NAME]`` table start from ``[block1]``,
validates the merged document once, and turns every problem into one line
naming the file, the TOML key path, the rule and the value::

    scenarios/x.toml: block1.toxic_death_prob.bm_lt18: must be a probability in [0, 1] (got 1.2)

A sweep's listed values are validated too, each as the scenario it makes::

    scenarios/x.toml: sweep.grid."hsct.trm_prob": point 1 sets hsct.trm_prob = 1.7: must be a probability in [0, 1] (got 1.7)

All problems are reported at once, in a :class:`ScenarioError`.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.scenario.problems import ScenarioError, describe
from sim.scenario.schema import Scenario
from sim.scenario.sweep import value_problems


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
    except (OSError, UnicodeDecodeError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
        raise ScenarioError([f"{display}: cannot read ({exc.__class__.__name__}: {exc})"]) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{display}: malformed TOML: {exc}"]) from None


def _family(key: str) -> str:
    """Keys that are alternative forms of one setting: ``x``, ``x_by_age``, ``x_by_sex``."""
    return key.split("_by_", 1)[0]


def _is_value_table(value: object) -> bool:
    """A distribution table is one value: an override replaces it whole."""
    return isinstance(value, dict) and "dist" in value


def _leaves(document: dict, prefix: tuple = ()) -> list[tuple]:
    paths = []
    for key, value in document.items():
        path = prefix + (key,)
        if isinstance(value, dict) and not _is_value_table(value):
            paths.extend(_leaves(value, path))
        else:
            paths.append(path)
    return paths


def _forget(origin: dict, path: tuple) -> None:
    for leaf in [p for p in origin if p[: len(path)] == path]:
        del origin[leaf]


def _merge(base: dict, override: dict, origin: dict, file: str, prefix: tuple = ()) -> dict:
    """``override`` merged over ``base``; ``origin`` maps every leaf path to its file.

    Tables merge key by key; a value (number, array, distribution table)
    replaces what was there; setting ``x`` drops a base's ``x_by_age`` or
    ``x_by_sex`` (and the reverse), as they are forms of one setting.
    """
    merged = dict(base)
    for key, value in override.items():
        path = prefix + (key,)
        for sibling in [k for k in merged if k != key and _family(k) == _family(key) and "_by_" in k + key]:
            del merged[sibling]
            _forget(origin, prefix + (sibling,))
        current = merged.get(key)
        if isinstance(value, dict) and isinstance(current, dict) and not (
            _is_value_table(value) or _is_value_table(current)
        ):
            merged[key] = _merge(current, value, origin, file, path)
        else:
            _forget(origin, path)
            merged[key] = value
            for leaf in _leaves({key: value}, prefix):
                origin[leaf] = file
    return merged


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _read_ensemble(path: Path, display: str) -> tuple[dict[str, Any], str]:
    """The calibrated ensemble (one row per parameter set, one column per key path) and its digest."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise ScenarioError([f"{display}: file not found; Suggestion: run `simulate calibrate` to write it"]) from None
    except Exception as exc:  # pyarrow raises several types for unreadable files
        raise ScenarioError([f"{display}: cannot read as Parquet ({exc.__class__.__name__}: {exc})"]) from None
    paths = tuple(table.column_names)
    if table.num_rows == 0:
        raise ScenarioError([f"{display}: holds no parameter set; Suggestion: run `simulate calibrate` to write it"])
    for name in paths:
        column = table.column(name)
        if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)) or column.null_count:
            raise ScenarioError([f"{display}: column {name!r} must hold a number in every row "
                                 f"(got type {column.type}, {column.null_count} missing)"])
        finite = pc.is_finite(pc.cast(column, pa.float64()))
        if not pc.all(finite).as_py():
            row = pc.index(finite, False).as_py()
            raise ScenarioError([f"{display}: column {name!r} must hold a finite number in every row "
                                 f"(got {column[row].as_py()} in row {row + 1})"])
    columns = [table.column(name).to_pylist() for name in paths]
    values = tuple(tuple(float(column[row]) for column in columns) for row in range(table.num_rows))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"file": display, "paths": paths, "values": values}, f"parquet sha256 {digest}"


def _load_document(
    path: Path, display: str, chain: tuple[Path, ...], root: Path, use_fitted: bool = True
) -> tuple[dict, dict, dict[str, str]]:
    """Merged document, origin of each leaf, and source texts (base first).

    Source texts are keyed by path relative to the top scenario's folder, so
    the scenario hash does not depend on how the scenario's path was written.
    """
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(p.name for p in chain + (resolved,))
        raise ScenarioError([f"{display}: extends: a scenario cannot extend itself (cycle {cycle})"])
    document, text = _read_toml(path, display)
    fitted_name = document.pop("fitted", None)
    ensemble_name = document.pop("ensemble", None)
    base_name = document.pop("extends", None)
    origin: dict = {}
    if base_name is None:
        merged, sources = _merge({}, document, origin, display), {}
    else:
        if not isinstance(base_name, str):
            raise ScenarioError([f"{display}: extends: must be a file name (got {base_name!r})"])
        base_path = path.parent / base_name
        if not base_path.exists():
            raise ScenarioError([f"{display}: extends: {base_path}: file not found"])
        base_display = str(Path(display).parent / base_name)
        base, origin, sources = _load_document(base_path, base_display, chain + (resolved,), root, use_fitted)
        merged = _merge(base, document, origin, display)
    sources[_relative(resolved, root)] = text
    if fitted_name is not None and use_fitted:
        if not isinstance(fitted_name, str):
            raise ScenarioError([f"{display}: fitted: must be a file name (got {fitted_name!r})"])
        fitted_path = path.parent / fitted_name
        fitted_display = str(Path(display).parent / fitted_name)
        fitted, fitted_text = _read_toml(fitted_path, fitted_display)
        fitted.pop("calibration", None)  # provenance of the fit, not parameters
        merged = _merge(merged, fitted, origin, fitted_display)
        sources[_relative(fitted_path.resolve(), root)] = fitted_text
    if ensemble_name is not None and use_fitted:
        if not isinstance(ensemble_name, str):
            raise ScenarioError([f"{display}: ensemble: must be a file name (got {ensemble_name!r})"])
        ensemble_path = path.parent / ensemble_name
        if ensemble_path.exists():  # absent until `simulate calibrate` writes it
            ensemble, digest = _read_ensemble(ensemble_path, str(Path(display).parent / ensemble_name))
            merged["calibration_ensemble"] = ensemble
            origin[("calibration_ensemble",)] = ensemble["file"]
            sources[_relative(ensemble_path.resolve(), root)] = digest
        else:  # this file's own ensemble, not yet written: not silently the one a file it extends names
            merged.pop("calibration_ensemble", None)
            origin[("calibration_ensemble",)] = display
    return merged, origin, sources


def _reinductions_from_block1(document: dict) -> dict:
    """Each ``[reinduction.NAME]`` table starts from ``[block1]`` and overrides what differs."""
    block1, tables = document.get("block1"), document.get("reinduction")
    if not isinstance(block1, dict) or not isinstance(tables, dict):
        return document
    inherited = {
        name: _merge(block1, table, {}, "") if isinstance(table, dict) else table for name, table in tables.items()
    }
    return {**document, "reinduction": inherited}


def _inherited_from_block1(loc: tuple, message: str, described: list, origin: dict) -> bool:
    """Whether a problem of a ``[reinduction.NAME]`` key is one of ``[block1]``'s that the table
    inherited (:func:`_reinductions_from_block1`) without writing the key itself."""
    if len(loc) < 3 or loc[0] != "reinduction" or (("block1", *loc[2:]), message) not in described:
        return False
    return not any(path[: len(loc)] == loc or loc[: len(path)] == path for path in origin if len(path) > 2)


def _file_of(loc: tuple, origin: dict, default: str) -> str:
    """The file that last set anything at or under ``loc`` (or the value holding it)."""
    files = [file for path, file in origin.items() if path[: len(loc)] == loc or loc[: len(path)] == path]
    if not files:
        return default
    order = list(dict.fromkeys(origin.values()))
    return max(files, key=order.index)


def load_scenario(path: str | Path, use_fitted: bool = True) -> LoadedScenario:
    """Read, merge and validate a scenario file; raise :class:`ScenarioError`.

    ``use_fitted=False`` leaves out the fitted values and the ensemble, so
    fitted parameters keep their priors (what the calibration starts from).
    """
    path = Path(path)
    display = str(path)
    document, origin, sources = _load_document(path, display, (), path.resolve().parent, use_fitted)
    document = _reinductions_from_block1(document)
    try:
        scenario = Scenario.model_validate(document)
    except ValidationError as exc:
        described = [describe(err, Scenario) for err in exc.errors()]
        problems = []
        for loc, message in described:
            if _inherited_from_block1(loc, message, described, origin):
                continue  # said once, where it was written
            key = ".".join(loc) or "(top level)"
            problems.append(f"{_file_of(loc, origin, display)}: {key}: {message}")
        raise ScenarioError(problems) from None
    problems = []
    for table, key, message in value_problems(scenario):
        key_path = f'sweep.{table}."{key}"' if key else f"sweep.{table}"
        problems.append(f"{_file_of(('sweep', table), origin, display)}: {key_path}: {message}")
    if problems:
        raise ScenarioError(problems)
    return LoadedScenario(scenario=scenario, path=path, sources=sources)


def _named_file(path: str | Path, key: str, what: str) -> Path:
    """The file a scenario names with ``key = "..."`` (relative to the scenario), or a ScenarioError."""
    path = Path(path)
    document, _ = _read_toml(path, str(path))
    name = document.get(key)
    if not isinstance(name, str):
        raise ScenarioError([f"{path}: {key}: missing; the scenario must name {what} to calibrate into"])
    return path.parent / name


def ensemble_path(path: str | Path) -> Path:
    """The calibrated-ensemble file a scenario names with ``ensemble = "..."``."""
    return _named_file(path, "ensemble", "an ensemble file")


def fitted_values_path(path: str | Path) -> Path:
    """The fitted-values file a scenario names with ``fitted = "..."``."""
    return _named_file(path, "fitted", "a fitted-values file")
