"""The package's modules import one another without a cycle, read from their own source.

Every ``import`` and ``from ... import`` counts, at module level or inside a function
(a lazy import is an edge too), and so does a string naming a module (what
``importlib.import_module`` receives).  ``from . import sibling`` is an edge to
``pkg.sibling``; importing a name from a package is an edge to its ``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import portable_layers

ROOT = Path(portable_layers.__file__).parent
PACKAGE = "portable_layers"


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    names = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The package's modules that module ``name`` (at ``path``) imports."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def target(dotted: str) -> None:
        while dotted and dotted not in modules:  # "pkg.mod.func" is an edge to pkg.mod
            dotted = dotted.rpartition(".")[0]
        if dotted:
            found.add(dotted)

    tree = ast.parse(path.read_text(), str(path))
    # a class's ``__module__ = "..."`` names where it is found, it imports nothing
    labels = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
              and all(isinstance(t, ast.Attribute) and t.attr == "__module__"
                      for t in node.targets)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                target(full if full in modules else source)
        elif (isinstance(node, ast.Constant) and node.value in modules
              and id(node) not in labels):
            found.add(node.value)  # a module named by a string: importlib.import_module
    found.discard(name)
    return found


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

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
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def import_graph() -> dict[str, set[str]]:
    names = module_names()
    return {n: imports_of(n, p, set(names)) for n, p in names.items()}


def test_no_import_cycle() -> None:
    cycles = [c for c in strongly_connected(import_graph()) if len(c) > 1]
    assert cycles == [], f"import cycles (strongly connected modules): {cycles}"


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    """The reader finds what the test relies on: a function-level import, ``from . import``
    of a sibling, a parent-relative import and a module named by a string."""
    graph = import_graph()
    assert "portable_layers.solver" in graph["portable_layers.cli.train"]  # inside _solver
    assert "portable_layers._compat" in graph["portable_layers.plotting"]  # from . import
    assert "portable_layers.cli.recipes" in graph["portable_layers.cli.train"]
    assert "portable_layers.cli.check" in graph["portable_layers.cli"]  # by its name


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert sorted(c for c in strongly_connected(graph) if len(c) > 1) == [["a", "b", "c"]]
