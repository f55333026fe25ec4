"""The project's layering, read from the source (every import, at any depth, also under TYPE_CHECKING):

- `fenix/` is the engine's library: it imports no other top-level package of the project (`api`, `cli`, `worker`,
  `workflows`, `activities`, `bench`, `demo`, `tests`), so everything else may build on it.
- `fenix/planning/` is pure: no Temporal import, so workflows, activities and the benchmark share it as it is.
- No import circle between the modules of `workflows/`, except the one listed in KNOWN_WORKFLOW_CYCLES.
- `bench/` does not import `tests/`: a benchmark must not depend on test helpers.

Devcloud scripts (`devcloud/`) run in the test cloud's own venv and are not part of the project's packages.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("activities", "api", "bench", "cli", "demo", "fenix", "tests", "workflows")
MODULES = ("worker",)  # top-level modules beside the packages

# Import circles between modules of workflows/ that exist today and are kept on purpose, each with its reason.
# A new circle fails the test; so does a module joining a known one (the set of modules changes), and an entry
# that no longer matches any circle (remove it once the circle is gone).
KNOWN_WORKFLOW_CYCLES: dict[frozenset[str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def project_modules() -> dict[str, Path]:
    """Every module of the project, by dotted name."""
    found = {name: ROOT / f"{name}.py" for name in MODULES}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _imported(name: str, path: Path, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """Dotted names one import statement brings in: `from a import b` names `a.b` (a module or a name in `a`)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: from the module's own package upwards
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


@cache
def imports() -> dict[str, set[str]]:
    """Module -> the dotted names it imports (project modules resolved to the deepest module that exists)."""
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for dotted in _imported(name, path, node):
                    parts = dotted.split(".")
                    # `from workflows import vnf` is the module workflows.vnf; `from workflows.vnf import VnfFlow`
                    # is the module workflows.vnf (VnfFlow is no module): keep the longest prefix that is one.
                    while len(parts) > 1 and ".".join(parts) not in modules:
                        parts.pop()
                    targets.add(".".join(parts))
        graph[name] = targets - {name}
    return graph


def top(name: str) -> str:
    return name.split(".")[0]


def is_project(name: str) -> bool:
    return top(name) in PACKAGES or top(name) in MODULES


def test_the_layering_sees_the_whole_project() -> None:
    """Guards the test itself: a package renamed or missing would make every rule below pass vacuously."""
    modules = project_modules()
    assert {top(m) for m in modules} == set(PACKAGES) | set(MODULES)
    assert "fenix.planning.pacer" in modules and "workflows.session" in modules
    assert "workflows.context" in imports()["workflows.session"]
    assert "workflows.context" in imports()["workflows.vnf"]
    assert "fenix.planning.pacer" in imports()["workflows.vnf"]


def test_fenix_imports_nothing_else_from_the_project() -> None:
    bad = sorted(f"{m} imports {t}" for m, targets in imports().items() if top(m) == "fenix"
                 for t in targets if is_project(t) and top(t) != "fenix")
    assert not bad, "fenix/ must not depend on the rest of the project:\n" + "\n".join(bad)


def test_planning_is_free_of_temporal() -> None:
    bad = sorted(f"{m} imports {t}" for m, targets in imports().items() if m.startswith("fenix.planning")
                 for t in targets if top(t) == "temporalio")
    assert not bad, "fenix/planning/ must stay pure (it also runs outside workflows):\n" + "\n".join(bad)


def test_bench_does_not_import_tests() -> None:
    bad = sorted(f"{m} imports {t}" for m, targets in imports().items() if top(m) == "bench"
                 for t in targets if top(t) == "tests")
    assert not bad, "\n".join(bad)


def cycles(graph: dict[str, set[str]]) -> list[tuple[frozenset[str], list[str]]]:
    """Every set of modules that import each other in a circle (a strongly connected component, Tarjan), with one
    circle in it to show: the shortest from its smallest module back to it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [(c, _circle(graph, c)) for c in sorted(components, key=min)]


def _circle(graph: dict[str, set[str]], component: frozenset[str]) -> list[str]:
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError(f"not a circle: {sorted(component)}")


def test_cycles_finds_and_reports_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": {"b", "e"}, "e": set()}
    assert cycles(graph) == [(frozenset({"a", "b", "c", "d"}), ["a", "b", "c", "a"])]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_new_import_circle_in_workflows() -> None:
    graph = {m: {t for t in targets if top(t) == "workflows"} for m, targets in imports().items()
             if top(m) == "workflows"}
    found = cycles(graph)
    new = [f"{' -> '.join(circle)} (modules in the circle: {', '.join(sorted(component))})"
           for component, circle in found if component not in KNOWN_WORKFLOW_CYCLES]
    assert not new, "import circle(s) between workflows/ modules:\n" + "\n".join(new)
    stale = [sorted(c) for c in KNOWN_WORKFLOW_CYCLES if c not in {component for component, _ in found}]
    assert not stale, f"KNOWN_WORKFLOW_CYCLES lists a circle that is gone; remove it: {stale}"
