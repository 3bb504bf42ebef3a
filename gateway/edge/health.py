"""Health probes for load balancers and orchestrators (no authentication), and
``GET /health``: every deployment checked now, for the master key (JSON).

The probes' answers (``alive``, ``ready``) are served by the edge's route table
(``gateway.edge.endpoints``) as well as by these Django views: a probe every few seconds
must not load the URL conf (the console, the admin, the management API: about 30 MB of a
process that serves only inference)."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import HttpRequest, JsonResponse

from gateway.base import lifecycle
from gateway.ops import deployment_health

log = logging.getLogger(__name__)


async def alive() -> tuple[int, dict[str, str]]:
    """The liveness probe's answer: the process answers."""
    return 200, {"status": "alive"}


async def liveliness(request: HttpRequest) -> JsonResponse:
    status, payload = await alive()
    return JsonResponse(payload, status=status)


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row == (1,)


async def ready() -> tuple[int, dict[str, str]]:
    """The readiness probe's answer: not while draining, and the database answers."""

    if lifecycle.draining():  # load balancers stop sending new requests here
        return 503, {"status": "shutting down"}
    try:
        ok = await sync_to_async(_database_ok)()
    except Exception:  # the detail (host names, users) is for the log, not a public probe
        log.exception("readiness: the database is unavailable")
        return 503, {"status": "unavailable", "database": "unavailable"}
    return 200, {"status": "ready", "database": "ok" if ok else "unexpected"}


async def readiness(request: HttpRequest) -> JsonResponse:
    status, payload = await ready()
    return JsonResponse(payload, status=status)


def _bearer_or_api_key(request: HttpRequest) -> str:
    header: str = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    api_key: str = request.headers.get("x-api-key", "")
    return api_key.strip()


async def deployments(request: HttpRequest) -> JsonResponse:
    """Check every deployment's upstream now (LiteLLM's ``/health``). It calls every
    provider, so it takes the master key; anything else gets a 401 in OpenAI's shape."""
    if request.method != "GET":
        return JsonResponse(
            {"error": {"message": "use GET", "type": "invalid_request_error"}}, status=405
        )
    from gateway.web.api.auth import matches_master_key  # the API package, on first use

    if not matches_master_key(_bearer_or_api_key(request)):
        return JsonResponse(
            {
                "error": {
                    "message": "GET /health checks every upstream: it needs the master key "
                    "(Authorization: Bearer <key> or x-api-key)",
                    "type": "invalid_api_key",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
            status=401,
        )
    report = await deployment_health.check_all()
    return JsonResponse(deployment_health.summary(report))
