"""The direction of imports between the packages of ``gateway`` and ``console``
(docs/architecture.md, "The house").

One order, bottom to top; a package imports only the packages before it (and itself and
the spine). Imports inside functions count: a deferred import hides a dependency from
Python, not from a reader; so do dotted names in strings (``include("...")``, a router
mounted by name, ``import_module("...")``, ``"module:Class"``), which hide it from both.
Besides the order, the package graph (every module collapsed
to its package) has no cycle. ``KNOWN`` lists at most two imports against the order, each
with its reason; the test fails on a new one and on a listed one that is gone."""

from __future__ import annotations

from tests.gateway.import_walk import cycles, import_graph

SPINE = {
    "gateway",
    "gateway.base.types",
    "gateway.base.errors",
    "gateway.base.streaming",
    "gateway.base.documents",
}

# Bottom to top. "store" is the Django schema (gateway/models/): every table of every
# layer, importing only what is below it (see docs/architecture.md for why it sits there).
# The features share a rank and must not import each other.
ORDER = (
    "spine",
    "base",
    "codecs",
    "catalog",
    "providers",
    "store",
    "access",
    "limits",
    "routing",
    "telemetry",
    "journal",
    "core",
    "web",
    "features",
    "ops",
    "edge",
    "console",
    "server",
    "wiring",
)
FEATURES = (
    "mcp", "media", "batches", "guardrails", "alerts", "prompts", "billing", "passthrough",
    "responses", "interactions", "cache_doctor", "a2a", "semantic_cache", "gemini_live",
    "server_tools", "people", "dashboards",
)  # fmt: skip
WIRING = {"apps", "management", "migrations"}

# Imports against the order, each with why it is there (at most two).
KNOWN: dict[tuple[str, str], str] = {
    ("gateway.ops.cli", "gateway.server.settings"): "the command line names the settings module "
    "Django starts with (DJANGO_SETTINGS_MODULE), as manage.py does; it imports nothing of it",
}


def package(module: str) -> str:
    """The package ``module`` belongs to, named as in ORDER (features by their own name)."""
    if module in SPINE:
        return "spine"
    parts = module.split(".")
    if parts[0] == "console":
        return "console"
    if len(parts) == 1 or parts[1] in WIRING:
        return "wiring"
    if parts[1] == "models":
        return "store"
    if parts[1] == "features" and len(parts) > 2:
        return parts[2]
    return parts[1]


def rank(name: str) -> int:
    return ORDER.index("features" if name in FEATURES else name)


def edges() -> set[tuple[str, str]]:
    """Every import between modules of ours. ``from a import b`` gives both ``a`` and
    ``a.b``: the package ``a`` is left out when a module of it is the import."""
    found = set()
    for module, imported in import_graph(("gateway", "console"), lazy=True, strings=True).items():
        for target in imported:
            if not any(other.startswith(target + ".") for other in imported):
                found.add((module, target))
    return found


def against_the_order() -> set[tuple[str, str]]:
    found = set()
    for module, target in edges():
        own, theirs = package(module), package(target)
        if theirs == own or theirs == "spine" or rank(theirs) < rank(own):
            continue
        found.add((module, target))
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, target in edges():
        own, theirs = package(module), package(target)
        graph.setdefault(own, set())
        graph.setdefault(theirs, set())
        if theirs != own and (module, target) not in KNOWN:
            graph[own].add(theirs)
    return graph


def test_every_package_has_a_place_in_the_order():
    names = {package(module) for module in import_graph(("gateway", "console"), lazy=False)}
    assert names - set(ORDER) - set(FEATURES) == set()


def test_imports_follow_the_order():
    assert len(KNOWN) <= 2
    found = against_the_order()
    listed = set(KNOWN)
    assert sorted(found - listed) == [], "new imports against the order"
    assert sorted(listed - found) == [], "listed in KNOWN but gone: remove them"


def test_the_package_graph_has_no_cycle():
    assert cycles(package_graph()) == []


def test_the_spine_imports_nothing_of_ours():
    for module, imported in import_graph(("gateway",), lazy=True).items():
        if package(module) == "spine":
            assert {package(t) for t in imported} <= {"spine"}, module


def test_the_pipeline_asks_no_dialect():
    """``core`` is dialect-blind: it finds a codec through the package's lookups
    (``gateway.codecs``) and reads what it declares (``gateway.codecs.base``), never a
    wire format's own module. What a format's feature keeps (stored Responses,
    interactions) plugs in through the hooks."""
    allowed = {"gateway.codecs", "gateway.codecs.base"}
    found = sorted(
        (module, target)
        for module, target in edges()
        if package(module) == "core"
        and target.startswith("gateway.codecs.")
        and target not in allowed
    )
    assert found == []


def test_the_process_is_started_only_from_the_wiring():
    """``server`` (supervisor, workers, the uvicorn server and protocol) is imported only by
    apps and the management commands (and from within: its asgi, settings and urls)."""
    for module, target in edges():
        if package(module) in ("server", "wiring") or package(target) != "server":
            continue
        assert (module, target) in KNOWN, (module, target)
