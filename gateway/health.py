"""Health probes for load balancers and orchestrators (no authentication)."""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import HttpRequest, JsonResponse

log = logging.getLogger(__name__)


async def liveliness(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "alive"})


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


async def readiness(request: HttpRequest) -> JsonResponse:
    from . import runtime

    if runtime.closing():  # draining: load balancers stop sending new requests here
        return JsonResponse({"status": "shutting down"}, status=503)
    try:
        ok = await sync_to_async(_database_ok)()
    except Exception:  # the detail (host names, users) is for the log, not a public probe
        log.exception("readiness: the database is unavailable")
        return JsonResponse({"status": "unavailable", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ready", "database": "ok" if ok else "unexpected"})
