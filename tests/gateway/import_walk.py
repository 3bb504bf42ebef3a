"""Reads a module's imports without importing it (an AST walk), for the tests that
hold the layering (codecs, providers) and keep the import graph free of cycles."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# a string naming a module of ours, or an attribute of one: ``include("gateway.server.urls")``,
# a router mounted by name, ``import_module("...")``, ``"module:Class"``
DOTTED = re.compile(r"(?:gateway|console)(?:\.\w+)+(?::\w+)?")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _nodes(tree: ast.AST, lazy: bool) -> Iterator[ast.AST]:
    """Every node, or (``lazy`` False) those run when the module is imported: not the
    bodies of functions nor ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if not lazy:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                continue
        stack.extend(ast.iter_child_nodes(node))


def imports_of(path: Path, *, lazy: bool = True, strings: bool = False) -> set[str]:
    """Absolute names of every module ``path`` imports (``from m import n`` gives both
    ``m`` and ``m.n``): at any depth of the file, or (``lazy`` False) on import only;
    with ``strings``, a dotted name in a string is an import too (every prefix of it:
    the caller keeps those that are modules)."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in _nodes(ast.parse(path.read_text()), lazy):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                root = ".".join(base + ([node.module] if node.module else []))
            else:
                root = node.module or ""
            found.add(root)
            found.update(f"{root}.{alias.name}" for alias in node.names)
        elif strings and isinstance(node, ast.Constant) and DOTTED.fullmatch(str(node.value)):
            parts = str(node.value).split(":", 1)[0].split(".")
            found.update(".".join(parts[:n]) for n in range(2, len(parts) + 1))
    return found


def import_graph(
    packages: tuple[str, ...], *, lazy: bool, strings: bool = False
) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports (itself excluded). A package's
    ``__init__`` importing its own submodules is no cycle (Python has the package in
    ``sys.modules`` before it runs), so the implicit submodule -> package edge and a
    submodule's ``from . import sibling`` (which names its own package) are left out;
    any other import of a package is an edge like any other."""
    paths = {
        module_name(path): path
        for package in packages
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        edges = {
            imported
            for imported in imports_of(path, lazy=lazy, strings=strings)
            if imported in paths
        }
        own = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = {e for e in edges if e == name or not own.startswith(e)}
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(frozenset(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
