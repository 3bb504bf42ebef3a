"""The management API (django-ninja) under /api, with OpenAPI docs at /api/docs.

Authenticated by the master key (``Authorization: Bearer`` or ``x-api-key``), a virtual
key with the "management" scope of an owner or admin, or a signed-in console user
(session + CSRF); the docs and the OpenAPI schema too. What each caller may do is the
role policy's (gateway/policy/roles.py): 403 in JSON otherwise. Each resource lives in its own module and registers its router here."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from ninja import NinjaAPI

from gateway.edge.api.auth import MasterKeyAuth, StaffSessionAuth, staff_or_master_key

api = NinjaAPI(
    title="Switchyard management API",
    version="1",
    urls_namespace="api",
    auth=[MasterKeyAuth(), StaffSessionAuth()],
    docs_url="/docs",
    docs_decorator=staff_or_master_key,
)


@api.exception_handler(RequestDataTooBig)
def body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    """JSON like every other /api answer (Django's own answer is an HTML 400)."""
    return api.create_response(request, {"detail": str(exc)}, status=413)


# Routers (one module per resource) register below.

api.add_router("/providers", "gateway.edge.api.providers.router")
api.add_router("/routes", "gateway.edge.api.routes.router")
api.add_router("/keys", "gateway.edge.api.keys.router")
api.add_router("/logs", "gateway.edge.api.logs.router")
api.add_router("/", "console.evals.api.router")  # /api/datasets, /api/experiments
api.add_router("/audit", "gateway.edge.api.audit.router")
api.add_router("/spend", "gateway.edge.api.spend.router")
api.add_router("/teams", "gateway.edge.api.teams.router")
api.add_router("/users", "gateway.edge.api.users.router")
api.add_router("/user-limits", "gateway.edge.api.users.limits_router")
api.add_router("/mcp-servers", "gateway.edge.api.mcp_servers.router")
api.add_router("/guardrails", "gateway.edge.api.guardrails.router")


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
