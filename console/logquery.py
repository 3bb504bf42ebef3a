"""Request-log filtering and keyset pagination (on ``created_at, id``, newest first),
which stays fast at millions of rows: each page is an index range scan, never OFFSET."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from gateway.models import RequestLog

from .forms import WINDOWS

PAGE_SIZE = 50
# Columns the list shows; the big ones (attempts, error text) stay in the table.
LIST_FIELDS = (
    "id", "request_id", "created_at", "key_id", "key_name", "key_prefix", "dialect",
    "endpoint", "route", "provider", "upstream_model", "stream", "status", "finish_reason",
    "error_kind", "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost_usd",
    "from_playground",
)  # fmt: skip


def filtered(params: dict) -> QuerySet:
    """``params`` are a LogFilterForm's cleaned data (missing keys mean no filter)."""
    rows = RequestLog.objects.only(*LIST_FIELDS)
    window = WINDOWS.get(params.get("window") or "")
    if window and window[1] is not None:
        rows = rows.filter(created_at__gte=timezone.now() - window[1])
    if params.get("route"):
        rows = rows.filter(route=params["route"])
    if params.get("key") is not None:
        rows = rows.filter(key_id=params["key"])
    if params.get("dialect"):
        rows = rows.filter(dialect=params["dialect"])
    status = params.get("status")
    if status == "ok":
        rows = rows.filter(status__lt=400)
    elif status == "4xx":
        rows = rows.filter(status__gte=400, status__lt=500)
    elif status == "5xx":
        rows = rows.filter(status__gte=500)
    elif status == "error":
        rows = rows.filter(status__gte=400)
    text = (params.get("q") or "").strip()
    if text:
        rows = rows.filter(
            Q(request_id=text)
            | Q(upstream_model__icontains=text)
            | Q(error_message__icontains=text)
            | Q(key_name__icontains=text)
            | Q(route__icontains=text)
        )
    return rows.order_by("-created_at", "-id")


def encode_cursor(row: RequestLog) -> str:
    raw = f"{row.created_at.isoformat()}|{row.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, pk = raw.rsplit("|", 1)
        return datetime.fromisoformat(moment), int(pk)
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass(slots=True)
class Page:
    rows: list[RequestLog]
    next_cursor: str | None


def page(rows: QuerySet, cursor: str | None, size: int = PAGE_SIZE) -> Page:
    position = decode_cursor(cursor) if cursor else None
    if position is not None:
        moment, pk = position
        rows = rows.filter(Q(created_at__lt=moment) | Q(created_at=moment, id__lt=pk))
    found = list(rows[: size + 1])
    more = len(found) > size
    found = found[:size]
    return Page(found, encode_cursor(found[-1]) if more and found else None)
