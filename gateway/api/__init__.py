"""The management API (django-ninja) under /api, with OpenAPI docs at /api/docs.

Authenticated by the master key (``Authorization: Bearer`` or ``x-api-key``) or by a
signed-in staff user of the console (session + CSRF). Each resource lives in its own
module and registers its router here."""

from __future__ import annotations

from ninja import NinjaAPI

from .auth import MasterKeyAuth, StaffSessionAuth

api = NinjaAPI(
    title="Switchyard management API",
    version="1",
    urls_namespace="api",
    auth=[MasterKeyAuth(), StaffSessionAuth()],
    docs_url="/docs",
)

# Routers (one module per resource) register below.

api.add_router("/providers", "gateway.api.providers.router")
api.add_router("/routes", "gateway.api.routes.router")
api.add_router("/keys", "gateway.api.keys.router")
api.add_router("/logs", "gateway.api.logs.router")
