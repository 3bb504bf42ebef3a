"""The providers' bills beside the journal in the management API (``gateway.features.billing``):
``GET /api/bill-drift`` the stored rows (per source, provider, route and UTC day: the
journal's cost, the provider's, their drift), newest day first, with the sources set;
``POST /api/bill-drift/run`` a reconciliation now over the last ``days`` whole days.
Owners and admins read; owners run it (``roles.API``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from gateway.features.billing import runner, sources
from gateway.models import BillDrift
from gateway.telemetry import audit

router = Router(tags=["bills"])


class DriftOut(Schema):
    source: str  # openai | anthropic
    provider: str  # the gateway's provider ("" for billed cost no route explains)
    route: str
    day: date
    journal_usd: Decimal
    provider_usd: Decimal
    drift_usd: Decimal  # provider - journal: positive when the bill is higher
    drift_percent: Decimal | None  # of the journal's cost (None when it counted nothing)
    models: list[dict[str, Any]]  # per upstream model: journal, billed, billed model name
    alerted: bool


class SourceOut(Schema):
    name: str
    configured: bool  # its admin key is set (SWITCHYARD_<NAME>_ADMIN_KEY)
    key_setting: str


class DriftsOut(Schema):
    sources: list[SourceOut]
    items: list[DriftOut]


class DriftFilters(Schema):
    source: str | None = None
    route: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive
    limit: int = 500


class RunIn(Schema):
    days: int = 3


class RunOut(Schema):
    rows: dict[str, int]
    alerted: dict[str, list[str]]
    errors: dict[str, str]


class RunRefused(Schema):
    detail: str


def _source_list() -> list[dict[str, Any]]:
    return [
        {"name": s.name, "configured": s.configured(), "key_setting": s.key_setting}
        for s in sources.SOURCES.values()
    ]


ITEM_FIELDS = (
    "source", "provider", "route", "day", "journal_usd", "provider_usd", "drift_usd",
    "drift_percent",
)  # fmt: skip


def as_item(row: BillDrift) -> dict[str, Any]:
    return {
        **{name: getattr(row, name) for name in ITEM_FIELDS},
        "models": row.models_seen if isinstance(row.models_seen, list) else [],
        "alerted": row.alerted_at is not None,
    }


@router.get("/", response=DriftsOut)
def get_drift(request: HttpRequest, filters: Query[DriftFilters]) -> dict[str, Any]:
    """The journal's cost beside each provider's bill, newest day first."""
    rows = BillDrift.objects.all()
    if filters.source:
        rows = rows.filter(source=filters.source)
    if filters.route is not None:
        rows = rows.filter(route=filters.route)
    if filters.since:
        rows = rows.filter(day__gte=filters.since)
    if filters.until:
        rows = rows.filter(day__lte=filters.until)
    rows = rows.order_by("-day", "source", "provider", "route")[: max(1, min(filters.limit, 5000))]
    return {"sources": _source_list(), "items": [as_item(r) for r in rows]}


@router.post("/run", response={200: RunOut, 409: RunRefused, 422: RunRefused})
def run_now(request: HttpRequest, payload: RunIn) -> Status[Any]:
    """Reconcile the last ``days`` whole UTC days now (1 to 31)."""
    if not 1 <= payload.days <= 31:
        return Status(422, {"detail": "days must be between 1 and 31"})
    if not sources.configured():
        names = ", ".join(s.key_setting for s in sources.SOURCES.values())
        return Status(409, {"detail": f"no provider's admin key is set ({names})"})
    outcome = async_to_sync(runner.run)(*runner.window(payload.days))
    audit.record(
        "bill_reconcile",
        object_type="bill_drift",
        detail=f"{payload.days} days: {sum(outcome.rows.values())} rows"
        + (f"; errors: {'; '.join(outcome.errors.values())}" if outcome.errors else ""),
    )
    return Status(200, {"rows": outcome.rows, "alerted": outcome.alerted, "errors": outcome.errors})
