"""Health probes for load balancers and orchestrators (no authentication), and
``GET /health``: every deployment checked now, for the master key (JSON)."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import HttpRequest, JsonResponse

from gateway.edge.api.auth import _matches_master
from gateway.ops import deployment_health

log = logging.getLogger(__name__)


async def liveliness(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "alive"})


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row == (1,)


async def readiness(request: HttpRequest) -> JsonResponse:
    from gateway.base import lifecycle

    if lifecycle.draining():  # load balancers stop sending new requests here
        return JsonResponse({"status": "shutting down"}, status=503)
    try:
        ok = await sync_to_async(_database_ok)()
    except Exception:  # the detail (host names, users) is for the log, not a public probe
        log.exception("readiness: the database is unavailable")
        return JsonResponse({"status": "unavailable", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ready", "database": "ok" if ok else "unexpected"})


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
    if not _matches_master(_bearer_or_api_key(request)):
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
