"""Spend attribution in the management API: ``GET /api/spend`` groups spend, tokens and
requests by any of key, end user, session, route, model (and team, once keys have one)
and a time bucket, read from the hourly spend rollups (``gateway.telemetry.spend``), or
by A2A agent run (``group_by=agent_run``: the run's A2A call and its agent's model and
MCP calls, ``gateway.telemetry.agent_runs``) or by A2A session (``group_by=agent_session``:
a context id's runs and every call made in them);
``format=csv`` returns the same rows as CSV."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from ninja.errors import HttpError

from gateway.ops import tag_budgets
from gateway.telemetry import agent_runs, logquery, spend, tag_spend
from gateway.telemetry.audit import exported

router = Router(tags=["spend"])


class SpendFilters(Schema):
    # comma-separated: key, end_user, session, route, model, team; or tag (with key);
    # or agent_run alone, or agent_session alone
    group_by: str = "key"
    bucket: str | None = None  # hour or day (UTC); none: totals over the range
    # ISO 8601, epoch seconds, or an age such as 7d (floored to the hour); "from" and
    # "to" are the documented names, "since" and "until" their aliases
    since: str | None = None
    until: str | None = None
    key: str | None = None  # filters: a dimension's exact value
    end_user: str | None = None
    session: str | None = None
    route: str | None = None
    model: str | None = None
    tag: str | None = None  # only requests with this tag (groups by tag and key only)
    agent: str | None = None  # by agent run: only this agent's runs
    agent_run: str | None = None  # by agent run: only this run
    limit: int = 1000
    format: str = "json"  # json or csv


class SpendRow(Schema):
    bucket: str | None = None
    key: str | None = None
    end_user: str | None = None
    session: str | None = None
    route: str | None = None
    model: str | None = None
    team: str | None = None
    tag: str | None = None
    agent_run: str | None = None  # by agent run: its id, agent, task (and session)
    agent: str | None = None
    task: str | None = None
    runs: int | None = None  # by agent session: the runs in it
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    tokens: int
    cost_usd: Decimal
    # by tag, for a tag with a budget (``/api/tags``): the budget, its period and what
    # the tag spent in the current period ("spent $X of $Y this period")
    max_budget: Decimal | None = None
    budget_period: str | None = None
    budget_spend: Decimal | None = None


class SpendOut(Schema):
    group_by: list[str]
    bucket: str | None
    items: list[SpendRow]


def figures(request: Any, filters: SpendFilters) -> tuple[list[str], list[dict[str, Any]]]:
    """(dimensions, rows) of a spend query; HttpError 422 for a bad one."""
    params = request.GET
    since = params.get("from") or filters.since
    until = params.get("to") or filters.until
    if filters.tag is not None or "tag" in filters.group_by.split(","):
        return tag_figures(filters, since, until)
    if "agent_session" in filters.group_by.split(","):
        return session_figures(filters, since, until)
    if "agent_run" in filters.group_by.split(",") or filters.agent or filters.agent_run:
        return run_figures(filters, since, until)
    try:
        names = spend.dimensions(filters.group_by.split(","))
        given = {
            name: getattr(filters, name)
            for name in ("key", "end_user", "session", "route", "model")
        }
        rows = spend.query(
            names, bucket=filters.bucket or None, **_asked(filters, since, until, given)
        )
    except (spend.BadQuery, logquery.InvalidFilter) as exc:
        raise HttpError(422, str(exc)) from None
    return names, rows


def _asked(
    filters: SpendFilters, since: str | None, until: str | None, given: dict[str, str | None]
) -> spend.Asked:
    """What every spend query is asked besides its grouping: the moments (``from``, ``to``:
    ``InvalidFilter`` for a bad one), the filters ``given`` a value, at most 10,000 rows."""
    return spend.Asked(
        since=logquery.parse_moment(since, "from") if since else None,
        until=logquery.parse_moment(until, "to") if until else None,
        filters={name: value for name, value in given.items() if value is not None},
        limit=max(1, min(filters.limit, 10000)),
    )


def run_figures(
    filters: SpendFilters, since: str | None, until: str | None
) -> tuple[list[str], list[dict[str, Any]]]:
    """(dimensions, rows) by agent run (``gateway.telemetry.agent_runs``); 422 for a
    grouping, bucket or filter it does not have."""
    return _agent_figures(
        filters, since, until, "agent_run", "agent run", "agent_run", agent_runs.query,
        "each run names its agent and key",
    )  # fmt: skip


def session_figures(
    filters: SpendFilters, since: str | None, until: str | None
) -> tuple[list[str], list[dict[str, Any]]]:
    """(dimensions, rows) by A2A session (``agent_runs.sessions``); 422 for a grouping,
    bucket or filter it does not have."""
    return _agent_figures(
        filters, since, until, "agent_session", "agent session", "session",
        agent_runs.sessions, "each names its agent and key",
    )  # fmt: skip


def _agent_figures(
    filters: SpendFilters,
    since: str | None,
    until: str | None,
    grouping: str,
    label: str,
    own_filter: str,
    query: Callable[..., list[dict[str, Any]]],
    why_alone: str,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Runs and sessions alike: one grouping alone, no buckets, filtered by agent, key
    and their own id (``own_filter``: ``agent_run`` or ``session``)."""
    if [n.strip() for n in filters.group_by.split(",") if n.strip()] != [grouping]:
        raise HttpError(422, f"group_by={grouping} goes alone ({why_alone})")
    if filters.bucket:
        raise HttpError(422, f"by {label}, spend has no time buckets")
    others = {"end_user", "session", "route", "model", "agent_run"} - {own_filter}
    if any(getattr(filters, n) is not None for n in sorted(others)):
        raise HttpError(422, f"by {label}, spend filters only by agent, {own_filter} and key")
    given = {"agent": filters.agent, own_filter: getattr(filters, own_filter), "key": filters.key}
    try:
        rows = query(**_asked(filters, since, until, given))
    except (agent_runs.BadRunQuery, logquery.InvalidFilter) as exc:
        raise HttpError(422, str(exc)) from None
    return [grouping], rows


def tag_figures(
    filters: SpendFilters, since: str | None, until: str | None
) -> tuple[list[str], list[dict[str, Any]]]:
    """(dimensions, rows) by tag (``gateway.telemetry.tag_spend``): a request with several
    tags counts under each; 422 for a grouping only the spend rollups have."""
    names = [n.strip() for n in filters.group_by.split(",") if n.strip()]
    given = {"key": filters.key, "tag": filters.tag}
    if filters.bucket not in (None, "", *spend.BUCKETS):
        raise HttpError(422, f"unknown bucket {filters.bucket!r} (hour or day)")
    if any(getattr(filters, n) is not None for n in ("end_user", "session", "route", "model")):
        raise HttpError(422, "by tag, spend filters only by tag and key")
    try:
        rows = tag_spend.query(
            names, bucket=filters.bucket or None, **_asked(filters, since, until, given)
        )
    except (tag_spend.BadTagQuery, spend.BadQuery, logquery.InvalidFilter) as exc:
        raise HttpError(422, str(exc)) from None
    if "tag" in names:
        tag_budgets.with_budgets(rows)
    return names, rows


@router.get("/", response={200: SpendOut})
def get_spend(request: HttpRequest, filters: Query[SpendFilters]) -> HttpResponse | dict[str, Any]:
    """Spend, tokens and requests per group (and bucket), costliest first in a bucket."""
    names, rows = figures(request, filters)
    if filters.format == "csv":
        exported("spend", f"spend CSV by {', '.join(names)} through /api")
        return HttpResponse(
            "".join(spend.csv_lines(names, rows, filters.bucket)),
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="switchyard-spend.csv"'},
        )
    return {"group_by": names, "bucket": filters.bucket, "items": rows}
