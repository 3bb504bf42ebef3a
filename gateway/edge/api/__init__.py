"""The management API (django-ninja) under /api, with OpenAPI docs at /api/docs.

Authenticated by the master key (``Authorization: Bearer`` or ``x-api-key``), a virtual
key with the "management" scope of an owner or admin, or a signed-in console user
(session + CSRF); the docs and the OpenAPI schema too. What each caller may do is the
role policy's (gateway/access/roles.py): 403 in JSON otherwise. Every error has one
body (``errors.ApiError``) and the document declares it for each status an operation
answers (``openapi.py``). Each resource lives in its own module and registers its router here;
an installed unit's (``gateway.web.units``) is its ``api`` module's ``router``, mounted at
its ``PATH`` (or its ``ROUTERS``, (path, router) pairs) with no line here."""

from __future__ import annotations

from django.urls import URLPattern, path

from gateway.web import units
from gateway.web.api import errors
from gateway.web.api.auth import MasterKeyAuth, StaffSessionAuth, staff_or_master_key
from gateway.web.api.docs import VendoredSwagger
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


# Routers (one module per resource) register below.

api.add_router("/providers", "gateway.edge.api.providers.router")
api.add_router("/routes", "gateway.edge.api.routes.router")
api.add_router("/keys", "gateway.edge.api.keys.router")
api.add_router("/logs", "gateway.edge.api.logs.router")
api.add_router("/logs", "gateway.edge.api.scores.router")  # /api/logs/{id}/scores
api.add_router("/score-configs", "gateway.edge.api.score_configs.router")
api.add_router("/audit", "gateway.edge.api.audit.router")
api.add_router("/spend", "gateway.edge.api.spend.router")
api.add_router("/tags", "gateway.edge.api.tags.router")  # tag budgets
for unit_api in units.modules("api"):  # the units' (INSTALLED_APPS): people, MCP servers...
    mounted = vars(unit_api).get("ROUTERS") or ((unit_api.PATH, unit_api.router),)
    for prefix, router in mounted:
        api.add_router(prefix, router)
api.add_router("/bill-drift", "gateway.edge.api.bills.router")  # the providers' bills


def slashless_aliases() -> list[URLPattern]:
    """``/api/keys`` as well as ``/api/keys/`` for every collection path.

    The README documents ``POST /api/keys``; without the alias Django's APPEND_SLASH
    answers a 301 that clients follow as a GET (curl -L) or not at all, so the body
    is lost and nothing is created. Mounted under ``api/`` next to ``api.urls``."""
    patterns, seen = [], set()
    for pattern in api.urls[0]:
        route = str(pattern.pattern)
        if route.endswith("/") and route != "/" and "<" not in route and route not in seen:
            seen.add(route)
            patterns.append(path(route.rstrip("/"), pattern.callback))
    return patterns
