"""The Lambda bundle's modules import each other without a cycle, lazy (function-level) imports included.

A cycle makes the import order matter (a half-initialised module seen through a lazy import) and
hides which module owns what; ``dsp``/``fftplan``/``fftwisdom`` had one, untangled by moving the
block geometry to ``handlers.fhr.blocks`` and wisdom loading into ``fftplan``.
"""

from __future__ import annotations

import ast
from pathlib import Path

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = HANDLERS) -> dict[str, set[str]]:
    """Module -> the modules of ``root`` it imports anywhere in its body (``from pkg import mod`` -> ``pkg.mod``)."""
    files = {_module_name(path, root): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in _executed(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in files]
                deps.update(submodules or [base])
        graph[name] = {dep for dep in deps if dep in files and dep != name}
    return graph


def _executed(tree: ast.AST) -> list[ast.AST]:
    """Every node, except under ``if TYPE_CHECKING:`` (imports for annotations only, never run)."""
    nodes, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        nodes.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# handlers.api's http, inputs and tenancy import each other lazily (Request methods call into the parsers
# that raise http's errors): left to that package's owners, so the check covers the other packages.
ACYCLIC = ("handlers.fhr", "handlers.runtime", "handlers.storage", "handlers.metrics", "handlers.web")


def test_no_import_cycle_in_the_lambda_bundle() -> None:
    graph = import_graph()
    assert "handlers.fhr.dsp" in graph and graph["handlers.fhr.fftwisdom"] >= {"handlers.fhr.fftplan"}
    found = [cycle for cycle in cycles(graph) if any(module.startswith(ACYCLIC) for module in cycle)]
    assert found == []


def test_the_cycle_finder_sees_a_lazy_cycle(tmp_path: Path) -> None:
    package = tmp_path / "handlers" / "pkg"
    package.mkdir(parents=True)
    (tmp_path / "handlers" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from handlers.pkg import b\n")
    (package / "b.py").write_text("def f():\n    from . import a\n")
    assert cycles(import_graph(tmp_path / "handlers")) == [["handlers.pkg.a", "handlers.pkg.b"]]
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n")
    assert cycles(import_graph(tmp_path / "handlers")) == []  # annotations only: never imported at run time
