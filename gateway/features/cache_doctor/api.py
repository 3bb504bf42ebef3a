"""The cache doctor in the management API: ``GET /api/cache-doctor`` the figures and
findings per route, key and session over the last ``hours`` (one route's, key's or
session's with ``route``, ``key_id``, ``session``), and the costliest misses explained.
Owners and admins read it (``roles.API``: ``spend.view``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema

from gateway.features.cache_doctor import reading
from gateway.features.cache_doctor.doctor import Group, Miss

PATH = "/cache-doctor"  # mounted at /api/cache-doctor (gateway.edge.api)
router = Router(tags=["cache doctor"])


class FindingOut(Schema):
    problem: str
    fix: str


class GroupOut(Schema):
    kind: str  # route | key | session
    name: str
    requests: int
    prompt_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    hit_rate: float | None  # cache reads over prompt tokens
    saved_usd: Decimal  # reads at the input price less the cache-read price
    write_premium_usd: Decimal  # writes at the cache-write price less the input price
    net_usd: Decimal  # saved - write premium (negative: caching cost more)
    lost_usd: Decimal  # warm reuses the upstream did not read from its cache
    warm_reuses: int
    misses: int
    late_reuses: int  # after the 5-minute lifetime, within an hour
    write_without_read: bool
    ttl: str  # "5m" | "1h" | "" (no reuse seen)
    causes: dict[str, int]
    findings: list[FindingOut]


class MissOut(Schema):
    request_id: str
    previous_request_id: str
    route: str
    session: str | None
    lost_usd: Decimal
    cause: str  # volatile prefix | another deployment | no breakpoint | kept nothing
    detail: str


class ReportOut(Schema):
    hours: int
    requests: int
    capped: bool  # more requests in the window than the doctor reads: the newest were
    lost_usd: Decimal
    routes: list[GroupOut]
    keys: list[GroupOut]
    sessions: list[GroupOut]
    misses: list[MissOut]


class ReportFilters(Schema):
    hours: int = 24
    route: str = ""
    key_id: int | None = None
    session: str = ""


def group_out(group: Group) -> GroupOut:
    return GroupOut(
        kind=group.kind, name=group.name, requests=group.requests,
        prompt_tokens=group.prompt_tokens, cache_read_tokens=group.read_tokens,
        cache_write_tokens=group.write_tokens, hit_rate=group.hit_rate,
        saved_usd=group.saved_usd, write_premium_usd=group.write_premium_usd,
        net_usd=group.net_usd, lost_usd=group.lost_usd, warm_reuses=group.warm_reuses,
        misses=group.misses, late_reuses=group.late_reuses,
        write_without_read=group.write_without_read, ttl=group.ttl, causes=dict(group.causes),
        findings=[FindingOut(problem=p, fix=f) for p, f in group.findings()],
    )  # fmt: skip


def miss_out(miss: Miss) -> MissOut:
    return MissOut(
        request_id=miss.turn.request_id, previous_request_id=miss.previous.request_id,
        route=miss.turn.route, session=miss.turn.session, lost_usd=miss.lost_usd,
        cause=miss.cause, detail=miss.detail,
    )  # fmt: skip


@router.get("", response=ReportOut)
def cache_report(request: HttpRequest, filters: Query[ReportFilters]) -> ReportOut:
    hours = min(max(filters.hours, 1), 24 * 31)
    report = reading.diagnose(
        timezone.now() - timedelta(hours=hours),
        route=filters.route, key_id=filters.key_id, session=filters.session,
    )  # fmt: skip
    return ReportOut(
        hours=hours, requests=report.rows, capped=report.capped, lost_usd=report.lost_usd,
        routes=[group_out(g) for g in report.routes], keys=[group_out(g) for g in report.keys],
        sessions=[group_out(g) for g in report.sessions],
        misses=[miss_out(m) for m in report.misses[:50]],
    )  # fmt: skip
