"""Reading the audit log, for the console's audit page and ``/api/audit``: the filters,
and CSV and JSON exports (secrets were masked when events were written)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import models

from gateway.models.telemetry import AuditEvent
from gateway.telemetry import logquery

FILTERS = ("actor", "object_type", "object_id", "action", "source", "since", "until", "q")
EXPORT_FIELDS = (
    "id",
    "created_at",
    "actor_kind",
    "actor",
    "actor_id",
    "source",
    "ip",
    "user_agent",
    "action",
    "object_type",
    "object_id",
    "object_name",
    "changes",
    "detail",
)


def events(params: dict[str, Any]) -> models.QuerySet[AuditEvent]:
    """Events matching ``params`` (FILTERS; times as ``logquery.parse_moment`` reads
    them: ISO 8601, epoch seconds or an age such as 7d), newest first. Raises
    ``logquery.InvalidFilter`` for a bad time."""
    rows = AuditEvent.objects.all()
    for name in ("actor", "object_type", "object_id", "action", "source"):
        value = (params.get(name) or "").strip()
        if value:
            rows = rows.filter(**{name: value})
    if since := params.get("since"):
        rows = rows.filter(created_at__gte=logquery.parse_moment(since, "since"))
    if until := params.get("until"):
        rows = rows.filter(created_at__lt=logquery.parse_moment(until, "until"))
    if text := (params.get("q") or "").strip():
        rows = rows.filter(
            models.Q(object_name__icontains=text)
            | models.Q(actor__icontains=text)
            | models.Q(detail__icontains=text)
        )
    return rows.order_by("-created_at", "-id")


def as_dict(event: AuditEvent) -> dict[str, Any]:
    out = {name: getattr(event, name) for name in EXPORT_FIELDS}
    out["created_at"] = event.created_at.isoformat()
    return out


def csv_lines(rows: Any) -> Iterator[str]:
    """The events as CSV lines (header first; ``changes`` as JSON), for streaming."""
    import csv
    import io
    import json

    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: list[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(list(EXPORT_FIELDS))
    for event in rows.iterator(chunk_size=2000):
        item = as_dict(event)
        item["changes"] = json.dumps(item["changes"], sort_keys=True, default=str)
        yield line([_csv_safe(item[name]) for name in EXPORT_FIELDS])


def _csv_safe(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (=, +, -, @ first)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value
