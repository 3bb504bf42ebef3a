"""Imports of our own modules inside functions (#62: "deferred imports ≤100, each with a
reason"). A deferred import hides a dependency from a reader, so each module that keeps
one is listed here with why; the import walk (``tests/gateway/import_walk.py``) still
sees them for the layer and cycle tests. A module with a deferred import that is not
listed, or listed without one, fails; so does a total above ``MOST``.

The reasons:

- ``ROOT``: a composition root (an ``AppConfig``'s ``ready``/``register``, signal
  receivers, the admin), which Django calls once the app registry is full.
- ``REGISTRY``: imported while Django fills the app registry (by an app config at load),
  when ``gateway.models`` cannot be imported yet.
- ``FIRST_USE``: keeps a feature's modules or a library out of a process until a request
  uses them (held by ``test_worker_imports``, ``test_dormant_runners`` and the
  supervisor's tests, which list what a worker, a resting worker and the Django-free
  supervisor load).
- ``START``: a process's start-up (``gateway/server/``), where what is imported when is
  the order the process starts in (uvicorn's configuration before the application).
- ``SAME_NAME``: the module already has that name for another object.
- ``OPTIONAL``: guarded by ``try`` (a module that may be absent)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parents[2]
ROOT, REGISTRY, FIRST_USE, START, SAME_NAME, OPTIONAL = (
    "root", "registry", "first use", "start", "same name", "optional",
)  # fmt: skip
# #62's goal was 100 (153 → 92: the units register through the modules ``Unit.register``
# imports by name, the wiring is one module ``ready`` imports, the modules loaded only
# after the app registry is full import the tables at the top, a background task or hook
# answered on first use is declared ``lazy_import.function("module:name")``)
MOST = 92

DEFERRED: dict[str, str] = {
    "gateway/access/login_throttle.py": FIRST_USE,
    "gateway/apps.py": ROOT,
    "gateway/core/jobs.py": FIRST_USE,
    "gateway/core/tool_runner.py": FIRST_USE,
    "gateway/edge/batch_endpoints.py": FIRST_USE,
    "gateway/edge/endpoints.py": FIRST_USE,
    "gateway/edge/health.py": FIRST_USE,
    "gateway/features/batches/upstreams/bedrock.py": FIRST_USE,
    "gateway/features/batches/views.py": FIRST_USE,
    "gateway/features/guardrails/apps.py": ROOT,
    "gateway/features/mcp/__init__.py": FIRST_USE,
    "gateway/features/mcp/api.py": FIRST_USE,
    "gateway/features/mcp/oauth/shared.py": FIRST_USE,
    "gateway/features/mcp/oauth/views.py": FIRST_USE,
    "gateway/features/mcp/oauth_server/consent.py": FIRST_USE,
    "gateway/features/mcp/oauth_server/views.py": FIRST_USE,
    "gateway/features/mcp/save.py": FIRST_USE,
    "gateway/features/mcp/views.py": FIRST_USE,
    "gateway/features/media/plugin.py": FIRST_USE,
    "gateway/features/passthrough/plugin.py": FIRST_USE,
    "gateway/features/people/views/sso.py": FIRST_USE,
    "gateway/features/prompts/__init__.py": REGISTRY,
    "gateway/features/semantic_cache/checks.py": REGISTRY,
    "gateway/features/semantic_cache/embed.py": FIRST_USE,
    "gateway/features/server_tools/checks.py": FIRST_USE,
    "gateway/features/server_tools/loop.py": OPTIONAL,
    "gateway/ops/admin_ops.py": FIRST_USE,  # and the same name for another object (server_tools.route_problems)
    "gateway/server/supervisor.py": START,
    "gateway/server/uvicorn_server.py": START,
    "gateway/server/warm_up.py": START,
    "gateway/server/worker.py": START,
    "gateway/telemetry/logquery.py": FIRST_USE,
    "gateway/server/wiring.py": FIRST_USE,  # the budget ledger, with a region only
    "console/apps.py": ROOT,
    "console/evals/models.py": FIRST_USE,
    "console/evals/plugin.py": FIRST_USE,
    "console/tail.py": FIRST_USE,
}


def deferred_imports(path: Path) -> int:
    """``from gateway…``/``from console…`` (or relative) imports inside a function of
    ``path``, outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text())
    count = 0

    def visit(node: ast.AST, in_function: bool, in_typing_block: bool) -> None:
        nonlocal count
        for child in ast.iter_child_nodes(node):
            function = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            typing_block = in_typing_block or (
                isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            )
            if isinstance(child, ast.ImportFrom) and in_function and not in_typing_block:
                module = child.module or ""
                if child.level or module.split(".")[0] in ("gateway", "console"):
                    count += 1
            visit(child, function, typing_block)

    visit(tree, False, False)
    return count


def counts() -> dict[str, int]:
    found = {}
    for package in ("gateway", "console"):
        for path in sorted((ROOT_DIR / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            number = deferred_imports(path)
            if number:
                found[str(path.relative_to(ROOT_DIR))] = number
    return found


def test_every_deferred_import_has_its_reason() -> None:
    found = counts()
    assert sorted(set(found) - set(DEFERRED)) == [], "deferred imports without a reason"
    assert sorted(set(DEFERRED) - set(found)) == [], "listed, but import nothing deferred"


def test_deferred_imports_stay_few() -> None:
    assert sum(counts().values()) <= MOST


def test_the_count_sees_functions_and_skips_type_checking(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from gateway import base\n"
        "if TYPE_CHECKING:\n"
        "    from gateway import models\n"
        "def later():\n"
        "    from gateway import journal\n"
        "    import json\n"
        "    if True:\n"
        "        from . import sibling\n"
        "class Config:\n"
        "    def ready(self):\n"
        "        from console import views\n"
    )
    assert deferred_imports(source) == 3
