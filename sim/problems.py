"""Problems with parameters, one line each: the TOML key path, the rule and the value.

Loading a scenario (``sim.scenario.load``) and building a variant of one
(``sim.scenario.keypaths``: sweep points, calibration iterates, PSA draws) validate
through the same pydantic models; this module turns the errors of either
into the lines the command line prints, such as::

    block1.toxic_death_prob.bm_lt18: must be a probability in [0, 1] (got 1.2)
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel


class ScenarioError(Exception):
    """A scenario that cannot be used; ``str()`` is the user-facing message."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self):  # survive the trip back from a worker process
        return (type(self), (self.problems,))


def model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class whose fields live at key path ``loc`` under ``root`` (for suggestions)."""
    model: Any = root
    for part in loc:
        info = model.model_fields.get(part) if isinstance(part, str) else None
        if info is None:
            return None
        candidates = [info.annotation, *getattr(info.annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


_QUOTED_KEY = re.compile(r"^'([A-Za-z0-9_.]+)' (must .*)$", re.S)


def describe(err: dict, root: type[BaseModel]) -> tuple[tuple, str]:
    """(key path, message) of one pydantic error raised while validating ``root``."""
    loc = tuple(part for part in err["loc"] if isinstance(part, str) and not part.startswith("function-"))
    kind = err["type"]
    message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    # A check across keys names the key it blames first: put that key in the path.
    quoted = _QUOTED_KEY.match(message)
    if quoted and kind == "value_error":
        key = tuple(quoted.group(1).split("."))
        model = model_at(root, loc)
        if model is not None and key[0] in model.model_fields:
            loc, message = loc + key, quoted.group(2)
    if kind == "missing":
        return loc, "missing required key"
    if kind == "extra_forbidden":
        model = model_at(root, loc[:-1])
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; allowed: {', '.join(model.model_fields)}"
        return loc, f"unknown key{hint}"
    if "(got" not in message and "missing required key" not in message:
        message = f"{message} (got {err['input']!r})"
    return loc, message[0].lower() + message[1:]
