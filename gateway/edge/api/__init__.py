"""The management API (django-ninja) under /api, with OpenAPI docs at /api/docs.

Authenticated by the master key (``Authorization: Bearer`` or ``x-api-key``), a virtual
key with the "management" scope of an owner or admin, or a signed-in console user
(session + CSRF); the docs and the OpenAPI schema too. What each caller may do is the
role policy's (gateway/access/roles.py): 403 in JSON otherwise. Every error has one
body (``errors.ApiError``) and the document declares it for each status an operation
answers (``openapi.py``). Each resource lives in its own module and registers its router here;
an installed unit's (``gateway.web.units``) is its ``api`` module's ``router``, mounted at
its ``PATH`` (or its ``ROUTERS``, (path, router) pairs) with no line here. Each is
imported when a request first reaches the paths it serves (a unit's: those its config
names, ``Unit.api_paths``), not with this module (``gateway.web.api.mounts``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from gateway.web import units
from gateway.web.api import errors
from gateway.web.api.auth import MasterKeyAuth, StaffSessionAuth, staff_or_master_key
from gateway.web.api.docs import VendoredSwagger
from gateway.web.api.mounts import Routers, router_at, segment
from gateway.web.api.openapi import ManagementApi
from gateway.web.api.parsing import ObjectBodyParser

api = ManagementApi(
    title="Switchyard management API",
    version="1",
    urls_namespace="api",
    auth=[MasterKeyAuth(), StaffSessionAuth()],
    docs=VendoredSwagger(),
    docs_url="/docs",
    docs_decorator=staff_or_master_key,
    parser=ObjectBodyParser(),
)
errors.install(api)  # every error in one shape (gateway.web.api.errors.ApiError)


def resource(prefix: str, module: str) -> None:
    """``module``'s ``router`` at ``prefix`` (``"/keys"``), for the paths under it."""
    api.mount((segment(prefix),), router_at(prefix, f"{module}:router"))


def unit_routers(package: str) -> Callable[[], Routers]:
    """A unit's ``api`` module's routers: its ``ROUTERS``, else ``router`` at ``PATH``."""

    def load() -> Routers:
        module = importlib.import_module(f"{package}.api")
        return list(vars(module).get("ROUTERS") or ((module.PATH, module.router),))

    return load


# Routers (one module per resource) register below, each imported when a request first
# reaches its paths (gateway.web.api.mounts; the governed bench's set-up, guardrails,
# teams, MCP servers and keys, imports those four).

resource("/providers", "gateway.edge.api.providers")
resource("/routes", "gateway.edge.api.routes")
resource("/keys", "gateway.edge.api.keys")
resource("/logs", "gateway.edge.api.logs")
resource("/logs", "gateway.edge.api.scores")  # /api/logs/{id}/scores
resource("/score-configs", "gateway.edge.api.score_configs")
resource("/audit", "gateway.edge.api.audit")
resource("/spend", "gateway.edge.api.spend")
resource("/tags", "gateway.edge.api.tags")  # tag budgets
for unit in units.installed():  # the units' (INSTALLED_APPS): people, MCP servers...
    if units.has_module(unit, "api"):  # under the paths its config names (Unit.api_paths)
        api.mount(unit.api_paths or None, unit_routers(unit.name))
resource("/bill-drift", "gateway.edge.api.bills")  # the providers' bills


def resources_for(path: str) -> Callable[[], None] | None:
    """What imports the resources ``path`` (``/api/...``) may reach and are not imported
    yet, for the server to run off its event loop (Django resolves a path in the loop);
    None when they are."""
    return api.prepare(path.removeprefix("/api/"))
