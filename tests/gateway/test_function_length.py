"""No function in ``gateway`` or ``console`` runs over 80 lines, and no policy module
(access, limits, routing) over 600 (issue #62).

A function is counted from its ``def`` line (decorators excluded) to its last line, with
the functions nested in it counted inside it: a closure is part of the function a reader
has to hold in their head. Migrations are generated and left out. ``KNOWN`` lists the
functions still over the limit; the test fails on a new one and on a listed one that has
been split, so the list only shrinks."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "console")
POLICY = ("gateway/access", "gateway/limits", "gateway/routing")
MAX_FUNCTION = 80
MAX_POLICY_MODULE = 600

# "path:qualified.name" -> why it is still long (each to be split, none to be added).
KNOWN: dict[str, str] = {}
# Policy modules still over the limit, the same way.
KNOWN_MODULES: dict[str, str] = {}


def sources() -> list[Path]:
    """Every Python file of the packages, migrations left out."""
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.relative_to(ROOT).parts
    )


def long_functions(source: str, label: str) -> dict[str, int]:
    """``label:qualified.name`` -> lines, for each function of ``source`` over the limit."""
    tree = ast.parse(source, label)
    found: dict[str, int] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                lines = (child.end_lineno or child.lineno) - child.lineno + 1
                if lines > MAX_FUNCTION:
                    found[f"{label}:{name}"] = lines
                walk(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}{child.name}.")
            else:
                walk(child, prefix)

    walk(tree, "")
    return found


def test_no_function_over_the_limit() -> None:
    found: dict[str, int] = {}
    for path in sources():
        found.update(long_functions(path.read_text(), str(path.relative_to(ROOT))))
    new = {name: lines for name, lines in found.items() if name not in KNOWN}
    assert new == {}, f"functions over {MAX_FUNCTION} lines: split them"
    assert sorted(set(KNOWN) - set(found)) == [], "listed in KNOWN but short now: remove"


def test_no_policy_module_over_the_limit() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for folder in POLICY
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_POLICY_MODULE
    }
    new = {name: lines for name, lines in long.items() if name not in KNOWN_MODULES}
    assert new == {}, f"policy modules over {MAX_POLICY_MODULE} lines: split them"
    assert sorted(set(KNOWN_MODULES) - set(long)) == [], "listed but short now: remove"


def probe(inner_lines: int) -> str:
    """A method of 73 + ``inner_lines`` lines, holding a function of ``inner_lines`` + 1."""
    body = "".join(f"    x{i} = {i}\n" for i in range(70))
    inner = "".join(f"      y{i} = {i}\n" for i in range(inner_lines))
    return f"class C:\n  def outer(self):\n{body}    def inner():\n{inner}    return x0\n"


def test_the_counter_counts_nested_functions_inside_their_parent() -> None:
    assert long_functions(probe(12), "probe.py") == {"probe.py:C.outer": 85}
    assert long_functions(probe(7), "probe.py") == {}  # 80: at the limit
