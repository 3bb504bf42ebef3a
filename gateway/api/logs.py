"""The request journal in the management API: a filtered, keyset-paginated list and
one request's detail with its four bodies.

The list is ordered newest first by (created_at, id); ``next_cursor`` names the last
row of a page, and the next page starts strictly after it. Every filter combination
reads one index range that ends in (created_at, id) (see ``RequestLog.Meta``), so a
deep page costs what the first one does."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from ninja import Query, Router, Schema
from ninja.errors import HttpError

from ..journal import parse_age
from ..models import ApiKey, RequestBody, RequestLog

router = Router(tags=["logs"])

STATUS_CLASS = re.compile(r"^([1-5])xx$", re.IGNORECASE)
LIST_FIELDS = (
    "id", "request_id", "created_at", "key_id", "key_name", "key_prefix", "dialect",
    "endpoint", "route", "deployment_id", "provider", "upstream_model", "stream", "status",
    "finish_reason", "error_kind", "error_message", "latency_ms", "ttft_ms", "upstream_ms",
    "overhead_ms", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cost_usd", "user_agent", "from_playground", "client_disconnected",
    "cache_hit",
)  # fmt: skip


class LogFilters(Schema):
    since: str | None = None  # ISO 8601, epoch seconds, or an age such as 15m, 12h, 7d
    until: str | None = None
    route: str | None = None
    key: str | None = None  # key id, or key name ("master" for the master key)
    status: str | None = None  # 404, or a class: 4xx, 5xx
    dialect: str | None = None
    q: str | None = None  # text in request id, route or error message
    cursor: str | None = None
    limit: int = 50


class LogOut(Schema):
    id: int
    request_id: str
    created_at: datetime
    key_id: int | None
    key_name: str
    key_prefix: str
    dialect: str
    endpoint: str
    route: str
    deployment_id: int | None
    provider: str
    upstream_model: str
    stream: bool
    status: int
    finish_reason: str
    error_kind: str
    error_message: str
    latency_ms: float
    ttft_ms: float | None
    upstream_ms: float | None
    overhead_ms: float | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: Decimal
    user_agent: str
    from_playground: bool
    client_disconnected: bool
    cache_hit: bool  # answered from the response cache (no upstream call, no cost)


class LogPage(Schema):
    items: list[LogOut]
    next_cursor: str | None


class BodiesOut(Schema):
    inbound_request: str
    upstream_request: str
    upstream_response: str
    outbound_response: str
    truncated: bool


class LogDetail(LogOut):
    attempts: list[dict[str, Any]]
    bodies: BodiesOut | None


# --- filters ----------------------------------------------------------------------------


def parse_moment(value: str, name: str) -> datetime:
    """An ISO 8601 time, epoch seconds, or an age before now (``15m``, ``12h``, ``7d``)."""
    value = value.strip()
    try:
        return timezone.now() - parse_age(value)
    except ValueError:
        pass
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (ValueError, OverflowError):
        pass
    moment = parse_datetime(value)
    if moment is None:
        raise HttpError(422, f"{name}: expected an ISO 8601 time, epoch seconds or an age like 12h")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def encode_cursor(row: RequestLog) -> str:
    micros = int(row.created_at.timestamp() * 1_000_000)
    return f"{micros}_{row.id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        micros, row_id = cursor.split("_")
        return datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC), int(row_id)
    except (ValueError, OverflowError):
        raise HttpError(422, "cursor: not a cursor returned by this API") from None


def _status_filter(value: str) -> Q:
    value = value.strip()
    match = STATUS_CLASS.match(value)
    if match:
        base = int(match.group(1)) * 100
        return Q(status__gte=base, status__lte=base + 99)
    if value.isdigit():
        return Q(status=int(value))
    raise HttpError(422, "status: expected a status code (404) or a class (4xx, 5xx)")


def _key_filter(value: str) -> Q:
    value = value.strip()
    if value.isdigit():
        return Q(key_id=int(value))
    if value == "master":
        return Q(key_id__isnull=True, key_name="master")
    ids = list(ApiKey.objects.filter(name=value).values_list("id", flat=True))
    return Q(key_id__in=ids) if ids else Q(key_name=value)


def filtered(filters: LogFilters) -> QuerySet[RequestLog]:
    """The list's query for ``filters`` (without the page limit)."""
    rows = RequestLog.objects.order_by("-created_at", "-id")
    if filters.since:
        rows = rows.filter(created_at__gte=parse_moment(filters.since, "since"))
    if filters.until:
        rows = rows.filter(created_at__lt=parse_moment(filters.until, "until"))
    if filters.route:
        rows = rows.filter(route=filters.route)
    if filters.key:
        rows = rows.filter(_key_filter(filters.key))
    if filters.status:
        rows = rows.filter(_status_filter(filters.status))
    if filters.dialect:
        rows = rows.filter(dialect=filters.dialect)
    if filters.q:
        text = filters.q.strip()
        rows = rows.filter(
            Q(request_id__icontains=text)
            | Q(route__icontains=text)
            | Q(error_message__icontains=text)
        )
    if filters.cursor:
        moment, row_id = decode_cursor(filters.cursor)
        # "after the cursor" in (created_at, id) order; the first bound lets the
        # database seek the index, the second settles rows sharing the same instant.
        rows = rows.filter(created_at__lte=moment).filter(
            Q(created_at__lt=moment) | Q(id__lt=row_id)
        )
    return rows


# --- views ------------------------------------------------------------------------------


@router.get("/", response=LogPage)
def list_logs(request, filters: Query[LogFilters]):  # type: ignore[no-untyped-def]
    """Requests, newest first. Pass ``next_cursor`` back as ``cursor`` for the next page."""
    limit = max(1, min(filters.limit, 500))
    page = list(filtered(filters).only(*LIST_FIELDS)[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return {"items": page, "next_cursor": encode_cursor(page[-1]) if more else None}


@router.get("/{request_id}", response=LogDetail)
def get_log(request, request_id: str):  # type: ignore[no-untyped-def]
    """One request with its attempt chain and bodies (the newest, if a client reused
    its request id). A numeric id that names no request id is taken as the row id."""
    row = RequestLog.objects.filter(request_id=request_id).order_by("-created_at", "-id").first()
    if row is None and request_id.isdigit():
        row = RequestLog.objects.filter(pk=int(request_id)).first()
    if row is None:
        raise Http404(f"no request {request_id!r} in the journal")
    body = RequestBody.objects.filter(log_id=row.pk).first()
    row.bodies = body  # type: ignore[attr-defined]
    return row
