"""Spend by A2A agent run (issue #63): the A2A call that started a run and every model and
MCP call its agent made with the token it was carried share the run's id in the request
log (``RequestLog.agent_run``, gateway/access/delegation.py). ``/api/spend?group_by=
agent_run`` and an agent's console page read these totals from the request log itself
(a run is a handful of rows on an index of its own; the hourly rollups do not keep it).

Each run's row names its agent (the A2A call's route), its task and context (the A2A
call's task id and session), the key it was charged to, and sums its requests, errors,
tokens and cost."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Min, Q, Sum

from gateway.models import RequestLog

FILTERS = ("agent", "key", "agent_run")


class BadRunQuery(ValueError):
    """A grouping or filter by agent run that cannot be answered; ``str()`` says why."""


def query(
    since: datetime | None = None,
    until: datetime | None = None,
    filters: dict[str, str] | None = None,
    limit: int = 1000,
    key_ids: Collection[int] | None = None,
) -> list[dict[str, Any]]:
    """One row per agent run (newest first): its agent, task, context, key and totals
    (the rows ``spend.query`` returns, with ``agent_run``, ``agent``, ``task``,
    ``session``); ``filters`` by ``agent``, ``key`` (its name) or ``agent_run``."""
    unknown = [name for name in filters or {} if name not in FILTERS]
    if unknown:
        raise BadRunQuery(f"by agent run, spend filters only by {', '.join(FILTERS)}")
    rows = RequestLog.objects.filter(agent_run__isnull=False)
    if key_ids is not None:
        rows = rows.filter(key_id__in=list(key_ids))
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    wanted = dict(filters or {})
    if "agent_run" in wanted:
        rows = rows.filter(agent_run=wanted["agent_run"])
    if "key" in wanted:
        rows = rows.filter(key_name=wanted["key"])
    if "agent" in wanted:
        runs = RequestLog.objects.filter(dialect="a2a", route=wanted["agent"])
        rows = rows.filter(agent_run__in=runs.filter(agent_run__isnull=False).values("agent_run"))
    totals = (
        rows.values("agent_run")
        .annotate(
            requests=Count("id"),
            errors=Count("id", filter=Q(status__gte=400)),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cache_read_tokens=Sum("cache_read_tokens"),
            cache_write_tokens=Sum("cache_write_tokens"),
            cost_usd=Sum("cost_usd"),
            started=Min("created_at"),
            last=Max("created_at"),
        )
        .order_by("-started")[: max(1, min(limit, 10000))]
    )
    found = {row["agent_run"]: row for row in totals}
    calls = RequestLog.objects.filter(request_id__in=list(found), dialect="a2a").values(
        "request_id", "route", "upstream_model", "session", "key_name"
    )
    started = {c["request_id"]: c for c in calls}
    out = []
    for run, row in found.items():
        call = started.get(run, {})
        tokens = (row["input_tokens"] or 0) + (row["output_tokens"] or 0)
        out.append(
            {
                "agent_run": run,
                "agent": call.get("route") or None,
                "task": call.get("upstream_model") or None,
                "session": call.get("session") or None,
                "key": call.get("key_name") or None,
                "requests": row["requests"],
                "errors": row["errors"],
                "input_tokens": row["input_tokens"] or 0,
                "output_tokens": row["output_tokens"] or 0,
                "cache_read_tokens": row["cache_read_tokens"] or 0,
                "cache_write_tokens": row["cache_write_tokens"] or 0,
                "tokens": tokens,
                "cost_usd": row["cost_usd"] or Decimal(0),
                "bucket": None,
                "started": row["started"],
            }
        )
    return out
