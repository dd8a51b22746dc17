"""The package's layers import only downward, and no module imports itself back.

Layers (README, "Data flow"): clinical constants < scenario < model < analysis
< execution < trial, cli and bench. Every ``import sim...`` in ``sim/`` is read
with ``ast`` (imports inside functions and under ``TYPE_CHECKING`` count too).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sim"
LAYERS = {
    "sim": 0, "sim.clinical": 0, "sim.data": 0,
    "sim.scenario": 1,
    "sim.model": 2,
    "sim.analysis": 3,
    "sim.execution": 4,
    "sim.trial": 5, "sim.cli": 5, "sim.bench": 5,
    "sim.__main__": 6,
}


def layer_of(module: str) -> int:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and to the README")


def imports() -> dict[str, set[tuple[str, int]]]:
    graph: dict[str, set[tuple[str, int]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(p for p in parts if p != "__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = graph.setdefault(module, set())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{module} line {node.lineno}: relative import (the layers read from absolute ones)"
                if node.module and node.module.split(".")[0] == "sim":
                    found.add((node.module, node.lineno))
            elif isinstance(node, ast.Import):
                found.update((a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "sim")
    return graph


def upward_imports(graph: dict[str, set[tuple[str, int]]]) -> list[str]:
    return [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)}) at line {line}"
        for module, targets in graph.items()
        for target, line in targets
        if target != "sim" and layer_of(target) > layer_of(module)
    ]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}

    def visit(module: str, stack: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target in graph and state.get(target) is None:
                found = visit(target, stack + [target])
                if found:
                    return found
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module, [module])
            if found:
                return found
    return None


def test_every_import_points_to_the_same_or_a_lower_layer() -> None:
    upward = upward_imports(imports())
    assert not upward, "\n".join(upward)


def test_no_import_cycle() -> None:
    graph = {module: {t for t, _ in targets if t != module} for module, targets in imports().items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_catch_an_upward_import_and_a_cycle() -> None:
    upward = upward_imports({"sim.scenario.schema": {("sim.analysis.summary", 7), ("sim.clinical", 3)}})
    assert upward == ["sim.scenario.schema (layer 1) imports sim.analysis.summary (layer 3) at line 7"]
    assert find_cycle({"sim.a": {"sim.b"}, "sim.b": {"sim.c"}, "sim.c": {"sim.a"}}) == ["sim.a", "sim.b", "sim.c", "sim.a"]
    assert find_cycle({"sim.a": {"sim.b"}, "sim.b": set()}) is None
