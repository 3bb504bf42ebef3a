"""The audit log in the management API: ``GET /api/audit`` (filtered, newest first,
keyset pages by id) and ``GET /api/audit/export?format=csv|json`` (every matching
event). Read-only: the trail is append-only (``gateway.telemetry.audit``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from ninja.errors import HttpError

from gateway.telemetry import audit_query as audit
from gateway.telemetry import logquery
from gateway.telemetry.audit import exported

router = Router(tags=["audit"])


class AuditFilters(Schema):
    actor: str | None = None  # user name, key name or "master key"
    object_type: str | None = None  # provider, route, deployment, key, user, config
    object_id: str | None = None
    action: str | None = None  # create, update, delete, import, login, login_failed
    source: str | None = None  # console, api, admin, import, command, login
    since: str | None = None  # ISO 8601, epoch seconds, or an age such as 7d
    until: str | None = None
    q: str | None = None  # text in the object's name, the actor or the detail
    before: int | None = None  # the last id of the previous page
    limit: int = 100


class AuditOut(Schema):
    id: int
    created_at: datetime
    actor_kind: str
    actor: str
    actor_id: str
    source: str
    ip: str | None
    user_agent: str
    action: str
    object_type: str
    object_id: str
    object_name: str
    changes: dict[str, Any]
    detail: str


class AuditPage(Schema):
    items: list[AuditOut]
    next_before: int | None


def _events(filters: AuditFilters) -> Any:
    try:
        return audit.events(filters.dict())
    except logquery.InvalidFilter as exc:
        raise HttpError(422, str(exc)) from None


@router.get("/", response=AuditPage)
def list_events(request: HttpRequest, filters: Query[AuditFilters]) -> dict[str, Any]:
    """Audit events, newest first; pass ``next_before`` back as ``before`` for more."""
    rows = _events(filters)
    if filters.before is not None:
        rows = rows.filter(id__lt=filters.before)
    size = max(1, min(filters.limit, 1000))
    items = list(rows.order_by("-id")[: size + 1])
    more = len(items) > size
    items = items[:size]
    return {"items": items, "next_before": items[-1].id if more else None}


@router.get("/export", response=None)
def export_events(
    request: HttpRequest, filters: Query[AuditFilters], format: str = "csv"
) -> HttpResponse:
    """Every matching event as CSV or JSON (an attachment)."""
    rows = _events(filters)
    if format in ("csv", "json"):
        exported("audit", f"audit log as {format} through /api")
    if format == "json":
        import orjson

        body = orjson.dumps([audit.as_dict(e) for e in rows.iterator(chunk_size=2000)])
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="switchyard-audit.json"'
        return response
    if format != "csv":
        raise HttpError(422, "format is csv or json")
    response = HttpResponse("".join(audit.csv_lines(rows)), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="switchyard-audit.csv"'
    return response
