"""The request journal in the management API: a filtered, keyset-paginated list and
one request's detail with its four bodies.

The filters, the search and the cursor are ``gateway.telemetry.logquery``'s, which the console's
log table uses too: ``next_cursor`` names the last row of a page, and passed back as
``cursor`` it continues after that row, on either surface."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema
from ninja.errors import HttpError

from gateway.access import roles
from gateway.models import RequestBody, RequestLog
from gateway.telemetry import logquery
from gateway.web.api.ids import row_id

router = Router(tags=["logs"])


class LogFilters(Schema):
    since: str | None = None  # ISO 8601, epoch seconds, or an age such as 15m, 12h, 7d
    until: str | None = None
    route: str | None = None
    key: str | None = None  # key id, or key name ("master" for the master key)
    status: str | None = None  # 404, a class (4xx, 5xx), ok, error, budget or rate_limit
    dialect: str | None = None
    end_user: str | None = None  # spend attribution: exactly this end user / session
    session: str | None = None
    agent_run: str | None = None  # the A2A agent run's calls (gateway/access/delegation.py)
    tag: str | None = None  # request tags: requests carrying this tag
    score: str | None = None  # a score: thumbs, thumbs=down, quality<0.5
    q: str | None = (
        None  # text in request id, route, error type or text, model, key name, status; bodies where logged
    )
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
    error_kind: str  # the error's kind, or budget_exceeded for a budget refusal
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
    cache_saved_usd: Decimal | None  # what the prompt cache saved (NULL on older rows)
    user_agent: str
    from_playground: bool
    client_disconnected: bool
    cache_hit: bool  # answered from the response cache (no upstream call, no cost)
    # a hit's similarity to the request it answered (the semantic cache; None: an exact
    # hit or none) and the USD its answer cost when it was made (None: no hit, older rows)
    cache_similarity: float | None = None
    cache_hit_saved_usd: Decimal | None = None
    prompt_cache_breakpoints: str  # sent upstream: "auto: tools, system, messages[4]"
    end_user: str | None = None  # spend attribution (x-switchyard-user, the dialect's user)
    session: str | None = None
    agent_run: str | None = None  # the A2A agent run it was made in, if any
    tags: list[str] = []  # request tags (the key's, x-switchyard-tags, metadata.tags)

    @staticmethod
    def resolve_tags(obj: Any) -> list[str]:
        value = obj["tags"] if isinstance(obj, dict) else obj.tags
        return [str(t) for t in value] if isinstance(value, list) else []

    @staticmethod
    def resolve_prompt_cache_breakpoints(obj: Any) -> str:
        value = (
            obj["prompt_cache_breakpoints"]
            if isinstance(obj, dict)
            else obj.prompt_cache_breakpoints
        )
        return value or ""  # NULL on rows logged before the column existed

    shadow_of: str | None = None  # the request this one mirrors (shadow traffic)
    prompt_name: str | None = None  # the registry prompt it named (gateway.features.prompts)
    prompt_version: int | None = None  # and the version that ran
    # the route the caller named when a fallback (``route``) answered; else null
    requested_route: str | None = None


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
    """The console's log page in JSON: the attempt chain, the bodies and the notes the
    journal keeps beside them (each null when there was nothing to note)."""

    attempts: list[dict[str, Any]]
    bodies: BodiesOut | None
    # request fields dropped or rewritten on the way upstream (gateway.core.lossiness)
    translation: list[dict[str, str]] | None = None
    guardrails: list[dict[str, Any]] | None = None  # what ran and its verdict, never the text
    mcp_calls: list[dict[str, Any]] | None = None  # hosted MCP tool calls made for it


# --- views ------------------------------------------------------------------------------


@router.get("/", response=LogPage)
def list_logs(request: HttpRequest, filters: Query[LogFilters]) -> dict[str, Any]:
    """Requests, newest first. Pass ``next_cursor`` back as ``cursor`` for the next page;
    the list ends when ``next_cursor`` is null. With ``q``, a page searches at most
    5,000 requests (1,000 where bodies are logged and searched too), so it may hold fewer items than ``limit`` (even none) and still
    have a ``next_cursor`` to search on from."""
    params = filters.dict()
    try:
        wanted = {name: params[name] for name in logquery.FILTERS}
        page = logquery.search_page(
            wanted,
            filters.cursor,
            filters.limit,
            scope=lambda rows: roles.visible_logs(request.actor, rows),
        )
    except logquery.InvalidFilter as exc:
        raise HttpError(422, str(exc)) from None
    return {"items": page.rows, "next_cursor": page.next_cursor}


@router.get("/{request_id}", response=LogDetail)
def get_log(request: HttpRequest, request_id: str) -> RequestLog:
    """One request with its attempt chain and bodies (the newest, if a client reused
    its request id). A numeric id that names no request id is taken as the row id."""
    rows = roles.visible_logs(request.actor, RequestLog.objects.all())
    row: RequestLog | None = (
        rows.filter(request_id=request_id).order_by("-created_at", "-id").first()
    )
    if row is None and (pk := row_id(request_id)) is not None:
        row = rows.filter(pk=pk).first()
    if row is None:
        raise Http404(f"no request {request_id!r} in the journal")
    body = RequestBody.objects.filter(log_id=row.pk).first()
    row.bodies = body
    return row
