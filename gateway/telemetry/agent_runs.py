"""Spend by A2A agent run (issue #63): the A2A call that started a run and every model and
MCP call its agent made with the token it was carried share the run's id in the request
log (``RequestLog.agent_run``, gateway/access/delegation.py). ``/api/spend?group_by=
agent_run`` and an agent's console page read these totals from the request log itself
(a run is a handful of rows on an index of its own; the hourly rollups do not keep it).

Each run's row names its agent (the A2A call's route), its task and context (the A2A
call's task id and session), the key it was charged to, and sums its requests, errors,
tokens and cost. ``sessions`` answers the same by A2A session (``/api/spend?group_by=
agent_session``): a context id of agent runs, per key, every row of that key in it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Unpack

from django.db.models import Count, Max, Min, Q, Sum

from gateway.models import RequestLog
from gateway.telemetry.rollups import TOKEN_FIELDS
from gateway.telemetry.spend import LIMIT, Asked

FILTERS = ("agent", "key", "agent_run")


class BadRunQuery(ValueError):
    """A grouping or filter by agent run that cannot be answered; ``str()`` says why."""


def _sums() -> dict[str, Any]:
    """The requests, errors, tokens and cost a group of request log rows adds up to."""
    return {
        "requests": Count("id"),
        "errors": Count("id", filter=Q(status__gte=400)),
        **{name: Sum(name) for name in (*TOKEN_FIELDS, "cost_usd")},
    }


def _totals(row: dict[str, Any]) -> dict[str, Any]:
    """What ``_sums`` added up for a group, as the rows ``spend.query`` return it."""
    return {
        "requests": row["requests"],
        "errors": row["errors"],
        "input_tokens": row["input_tokens"] or 0,
        "output_tokens": row["output_tokens"] or 0,
        "cache_read_tokens": row["cache_read_tokens"] or 0,
        "cache_write_tokens": row["cache_write_tokens"] or 0,
        "tokens": (row["input_tokens"] or 0) + (row["output_tokens"] or 0),
        "cost_usd": row["cost_usd"] or Decimal(0),
        "bucket": None,
    }


def query(**asked: Unpack[Asked]) -> list[dict[str, Any]]:
    """One row per agent run (newest first): its agent, task, context, key and totals
    (the rows ``spend.query`` returns, with ``agent_run``, ``agent``, ``task``,
    ``session``); ``filters`` by ``agent``, ``key`` (its name) or ``agent_run``."""
    wanted = dict(asked.get("filters") or {})
    unknown = [name for name in wanted if name not in FILTERS]
    if unknown:
        raise BadRunQuery(f"by agent run, spend filters only by {', '.join(FILTERS)}")
    rows = RequestLog.objects.filter(agent_run__isnull=False)
    if (key_ids := asked.get("key_ids")) is not None:
        rows = rows.filter(key_id__in=list(key_ids))
    if (since := asked.get("since")) is not None:
        rows = rows.filter(created_at__gte=since)
    if (until := asked.get("until")) is not None:
        rows = rows.filter(created_at__lt=until)
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
            **_sums(),
            started=Min("created_at"),
            last=Max("created_at"),
        )
        .order_by("-started")[: max(1, min(asked.get("limit", LIMIT), 10000))]
    )
    found = {row["agent_run"]: row for row in totals}
    calls = RequestLog.objects.filter(request_id__in=list(found), dialect="a2a").values(
        "request_id", "route", "upstream_model", "session", "key_name"
    )
    started = {c["request_id"]: c for c in calls}
    out = []
    for run, row in found.items():
        call = started.get(run, {})
        out.append(
            {
                "agent_run": run,
                "agent": call.get("route") or None,
                "task": call.get("upstream_model") or None,
                "session": call.get("session") or None,
                "key": call.get("key_name") or None,
                **_totals(row),
                "started": row["started"],
            }
        )
    return out


SESSION_FILTERS = ("agent", "key", "session")


def sessions(
    since: datetime | None = None,
    until: datetime | None = None,
    filters: dict[str, str] | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """One row per A2A session (a context id of agent runs, per key; newest first): the
    agent its first run called, its key, how many runs it holds and the totals of every
    row of the key in it (the A2A calls, the model and MCP calls their agents made, and
    the calls down each chain): what the agent's budget per session counts.
    ``filters`` by ``agent`` (sessions with a run of it), ``key`` (its name) or
    ``session``."""
    unknown = [name for name in filters or {} if name not in SESSION_FILTERS]
    if unknown:
        raise BadRunQuery(f"by agent session, spend filters only by {', '.join(SESSION_FILTERS)}")
    wanted = dict(filters or {})
    calls = RequestLog.objects.filter(dialect="a2a", agent_run__isnull=False, session__gt="")
    if "agent" in wanted:
        calls = calls.filter(route=wanted["agent"])
    if "key" in wanted:
        calls = calls.filter(key_name=wanted["key"])
    if "session" in wanted:
        calls = calls.filter(session=wanted["session"])
    if since is not None:
        calls = calls.filter(created_at__gte=since)
    if until is not None:
        calls = calls.filter(created_at__lt=until)
    pairs = calls.values("session", "key_id").annotate(started=Min("created_at"))
    pairs = pairs.order_by("-started")[: max(1, min(limit, 10000))]
    found = {(p["session"], p["key_id"]): p["started"] for p in pairs}
    if not found:
        return []
    rows = RequestLog.objects.filter(
        session__in={s for s, _ in found}, key_id__in={k for _, k in found}
    )
    totals = rows.values("session", "key_id").annotate(
        runs=Count("agent_run", distinct=True),
        **_sums(),
        key_name=Max("key_name"),
    )
    by_pair = {(t["session"], t["key_id"]): t for t in totals}
    first: dict[tuple[str, int], str] = {}  # the agent each session's first run called
    for call in (
        RequestLog.objects.filter(dialect="a2a", session__in={s for s, _ in found})
        .order_by("created_at", "id")
        .values("session", "key_id", "route")
    ):
        first.setdefault((call["session"], call["key_id"]), call["route"])
    out = []
    for pair, started in found.items():
        row = by_pair.get(pair)
        if row is None:
            continue
        out.append(
            {
                "session": pair[0],
                "agent_session": pair[0],  # the CSV column of this grouping
                "agent": first.get(pair) or None,
                "key": row["key_name"] or None,
                "runs": row["runs"],
                **_totals(row),
                "started": started,
            }
        )
    return out
