"""The direction of imports between ``gateway``'s layers (docs/architecture.md).

Each layer may import the layers below it; a few imports that go the other way are
listed in ``KNOWN`` with their reason, and the test fails both on a new one and on a
listed one that is gone (so the list stays true and only shrinks). Imports inside
functions count too: a deferred import hides a dependency from Python, not from a
reader."""

from __future__ import annotations

from tests.gateway.import_walk import import_graph

SPINE = {"gateway.types", "gateway.errors", "gateway.streaming", "gateway.documents"}
# server modules that run the process: only the Django wiring and ``serve`` start them
PROCESS = {
    f"gateway.server.{name}"
    for name in (
        "supervisor",
        "worker",
        "uvicorn_server",
        "http_protocol",
        "send_coalescing",
    )
}

# The layers bottom to top: each may import the layers listed before it (besides itself
# and the spine), changed by its line: "+x" may import x although x comes later (the
# providers, policy and telemetry use each other), "-x" may not import x. Besides,
# everything above the codecs may import "infra", the server package's shared machinery
# (pooled HTTP client, database work, background tasks, runtime singletons, counter
# service), and everything above the providers the "wiring" (Django models, settings).
LAYERS = (
    ("codecs", ""),
    ("catalog", "-codecs"),
    ("providers", "+policy +telemetry"),
    ("policy", "+telemetry"),
    ("telemetry", "+journal"),
    ("journal", "-providers"),
    ("core", ""),
    ("infra", ""),
    ("process", "-codecs -providers"),
    ("ops", "-process"),
    ("mcp", "-process"),
    ("edge", "-process"),
    ("console", "-providers -process -edge"),
    ("management", "-console"),
    ("wiring", ""),
)


def may_import() -> dict[str, set[str]]:
    """What each layer may import, besides itself and the spine (from LAYERS)."""
    names = [name for name, _ in LAYERS]
    table: dict[str, set[str]] = {"spine": set()}
    for i, (name, changes) in enumerate(LAYERS):
        allowed = set(names[:i])
        if i > names.index("codecs"):
            allowed.add("infra")
        if i > names.index("providers"):
            allowed.add("wiring")
        for change in changes.split():
            (allowed.add if change[0] == "+" else allowed.discard)(change[1:])
        allowed.discard(name)
        table[name] = allowed
    return table


MAY_IMPORT = may_import()

# Imports against the direction, each with why it is there today.
KNOWN = {
    # the one HTTP path applies what the upstream lacks (stop/max-token emulation, media
    # fetched by URL) around the provider's call
    ("gateway.providers.codec_provider", "gateway.core.emulation"),
    ("gateway.providers.codec_provider", "gateway.core.media_inline"),
    # a request's state finds its client codec in the endpoint table
    ("gateway.core.call", "gateway.edge.dialects"),
    # routing skips deployments whose context window the prompt exceeds
    ("gateway.policy.routing", "gateway.core.context_windows"),
    # the health check of a deployment is the admin action the console runs too
    ("gateway.policy.deployment_health", "gateway.ops.admin_ops"),
    # the per-process runtime warms every client codec's endpoint table at start
    ("gateway.server.runtime", "gateway.edge.dialects"),
    # the chat job runs the hosted MCP loop for requests that carry MCP tools (to move:
    # a hook the mcp package registers); the key's grant is decided by the policy's rule
    ("gateway.core.jobs", "gateway.mcp.hosted"),
    # saving a team (members, limits) is written once, beside /api/teams (to move: ops)
    ("console.views.teams", "gateway.edge.api.teams"),
    # pruning the journal deletes expired stored Responses with it
    ("gateway.journal.pruning", "gateway.core.responses_state"),
    # the provider form lists provider kinds and their fields
    ("console.forms", "gateway.providers.kinds"),
    ("console.forms", "gateway.edge.dialects"),
    ("console.playground.replay", "gateway.edge.dialects"),
    ("console.playground.spec", "gateway.edge.dialects"),
}


def layer(module: str) -> str:
    if module in SPINE:
        return "spine"
    if module in PROCESS:
        return "process"
    parts = module.split(".")
    if parts[0] == "console":
        return "console"
    if len(parts) == 1:
        return "wiring"
    name = parts[1]
    if name == "server":
        return "infra"
    if name in MAY_IMPORT or name in ("mcp",):
        return name
    return "wiring"  # settings, urls, asgi, apps, models, admin, signals, env, migrations


def against_direction() -> set[tuple[str, str]]:
    found = set()
    for module, imported in import_graph(("gateway", "console"), lazy=True).items():
        own = layer(module)
        for target in imported:
            theirs = layer(target)
            if theirs in (own, "spine") or theirs in MAY_IMPORT[own]:
                continue
            found.add((module, target))
    # ``from a import b`` gives both ``a`` and ``a.b``: report the module, not its package
    return {
        (m, t) for m, t in found if not any(o[0] == m and o[1].startswith(t + ".") for o in found)
    }


def test_imports_follow_the_layers():
    found = against_direction()
    assert sorted(found - KNOWN) == [], "new imports against the layers"
    assert sorted(KNOWN - found) == [], "listed in KNOWN but gone: remove them from the list"


def test_the_spine_and_the_codecs_import_nothing_above_them():
    graph = import_graph(("gateway",), lazy=True)
    for module, imported in graph.items():
        if layer(module) == "spine":
            assert {layer(t) for t in imported} <= {"spine"}, module
        if layer(module) == "codecs":
            assert {layer(t) for t in imported} <= {"spine", "codecs"}, module


def test_every_module_of_gateway_is_in_a_layer_package_or_the_wiring():
    top = {
        module.split(".")[1]
        for module in import_graph(("gateway",), lazy=False)
        if module.count(".") == 1
    }
    assert top <= {
        "types",
        "errors",
        "streaming",
        "documents",  # the spine
        "settings",
        "urls",
        "asgi",
        "apps",
        "models",
        "admin",
        "signals",
        "env",  # wiring
        "edge",
        "core",
        "policy",
        "telemetry",
        "server",
        "ops",
        "mcp",
        "journal",
        "codecs",
        "providers",
        "catalog",
        "management",
        "migrations",
    }, top
