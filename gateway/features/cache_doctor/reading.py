"""What the doctor reads: the journal's answered requests in a window (newest
``doctor.MAX_ROWS``), the deployments' prices and cache facts from the registry
snapshot in force (the prices requests were charged at, catalog figures filled in), and
the stored bodies of the costliest misses, to name what changed in their prefix."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from gateway.access import registry
from gateway.base.entries import DeploymentEntry
from gateway.features.cache_doctor import doctor
from gateway.features.cache_doctor.doctor import Pricing, Report, Turn
from gateway.models import RequestBody, RequestLog
from gateway.providers import kinds
from gateway.providers.base import Provider

# upstream dialects that cache only up to breakpoints a request marks (core/prompt_cache)
BREAKPOINT_DIALECTS = frozenset({"anthropic", "bedrock"})
FIELDS = (
    "id", "request_id", "created_at", "route", "key_id", "key_name", "session",
    "deployment_id", "input_tokens", "cache_read_tokens", "cache_write_tokens",
    "prompt_cache_breakpoints",
)  # fmt: skip


def diagnose(
    since: datetime,
    until: datetime | None = None,
    *,
    route: str = "",
    key_id: int | None = None,
    session: str = "",
) -> Report:
    """The doctor's report over answered requests since ``since`` (optionally one
    route's, key's or session's)."""
    rows = RequestLog.objects.filter(
        created_at__gte=since, status__gte=200, status__lt=400, cache_hit=False
    ).filter(shadow_of__isnull=True)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    if route:
        rows = rows.filter(route=route)
    if key_id is not None:
        rows = rows.filter(key_id=key_id)
    if session:
        rows = rows.filter(session=session)
    found = list(rows.order_by("-created_at", "-id").values_list(*FIELDS)[: doctor.MAX_ROWS + 1])
    capped = len(found) > doctor.MAX_ROWS
    turns = [_turn(row) for row in found[: doctor.MAX_ROWS]]
    report = doctor.analyse(turns, pricing())
    report.capped = capped
    doctor.explain(report, bodies(report))
    return report


def _turn(row: tuple[Any, ...]) -> Turn:
    (log_id, request_id, at, route, key_id, key_name, session, deployment_id) = row[:8]
    input_tokens, read, write, breakpoints = row[8:]
    return Turn(
        log_id, request_id, at, route, key_id, key_name, session, deployment_id,
        input_tokens, read, write, breakpoints or "",
    )  # fmt: skip


def pricing() -> dict[int, Pricing]:
    """Every deployment in the snapshot in force, by id."""
    out: dict[int, Pricing] = {}
    for route in registry.current().routes.values():
        for deployment in route.deployments:
            out[deployment.id] = _pricing(deployment)
    return out


def _pricing(deployment: DeploymentEntry) -> Pricing:
    adapter: type[Provider] = kinds.adapter_class(deployment.provider.kind) or Provider
    # the class's codec: ``Provider.dialect`` is an instance property (on the class it is
    # the property object, never a dialect's name)
    dialect = adapter.speaks.name if adapter.speaks is not None else ""
    return Pricing(
        input=deployment.input_price or Decimal(0),
        read=deployment.cache_read_price or Decimal(0),
        write=deployment.cache_write_price or Decimal(0),
        warm_seconds=adapter.prompt_cache_seconds,
        needs_breakpoints=dialect in BREAKPOINT_DIALECTS,
    )


def bodies(report: Report) -> dict[int, dict[str, Any]]:
    """The upstream request bodies (the inbound one where none was stored apart) of
    the costliest misses and the turns before them, parsed, by log id."""
    wanted: set[int] = set()
    for miss in report.misses[: doctor.MAX_EXPLAINED]:
        wanted.update((miss.turn.log_id, miss.previous.log_id))
    if not wanted:
        return {}
    out: dict[int, dict[str, Any]] = {}
    for body in RequestBody.objects.filter(log_id__in=wanted).defer(
        "upstream_response", "outbound_response"
    ):
        text = body.upstream_request or body.inbound_request
        try:
            parsed = orjson.loads(text) if text else None
        except orjson.JSONDecodeError:
            continue  # a cut or form body: nothing to compare
        if isinstance(parsed, dict):
            out[body.log_id] = parsed
    return out
