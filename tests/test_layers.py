"""The package's import graph has no cycle: every `import` / `from ... import` in aejax/, at any depth (function
bodies included), read statically.

`import aejax.a.b` and `from aejax.a import b` (b a module) are edges to the module aejax.a.b; `from aejax.a import
name` (name defined in aejax/a/__init__.py or aejax/a.py) is an edge to aejax.a. A package's `__init__` is a node
like any other: a submodule that imports names from its own package's `__init__` while that `__init__` imports
the submodule forms a cycle, so submodules import the defining module directly. The implicit imports of parent
packages (`import aejax.a.b` runs aejax/__init__.py first) are not edges: every module would otherwise depend on
`aejax/__init__.py`, the front door that re-exports everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "aejax"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under `root` (a package's name for its __init__.py)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imports_of(module: str, path: Path, modules: set[str]) -> set[str]:
    """The package modules that `module` imports anywhere in its source."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = node.module
            if node.level:
                source = _resolve_relative(module, is_package, node.level, node.module)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in modules else source)
    edges = set()
    for name in found:
        while name and name not in modules:  # `import aejax.a.b.name`-style leftovers: the nearest module
            name = name.rpartition(".")[0]
        if name and name != module:
            edges.add(name)
    return edges


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {module: imports_of(module, path, set(files)) for module, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle (first node repeated at the end), or None; depth-first search in sorted order."""
    state: dict[str, str] = {}  # "open" while on the stack, "done" after
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for child in sorted(graph.get(node, ())):
            if state.get(child) == "open":
                return [*stack[stack.index(child) :], child]
            if child not in state:
                cycle = visit(child)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_graph_reads_the_package():
    graph = import_graph()
    assert {"aejax", "aejax.cli", "aejax.fitting", "aejax.tasks", "aejax.models.registry"} <= set(graph)
    assert "aejax.fitting" in graph["aejax.tasks.reduction"]
    assert "aejax.models.capsule" in graph["aejax.objectives.regularizers"]  # a function-level import counts


def test_find_cycle_reports_the_loop():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
