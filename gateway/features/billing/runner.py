"""Reconciliation runs: ``run`` reads each configured source's bill for a window of days
and writes the drift rows (``reconcile``); ``run_forever`` runs it once a UTC day on one
process of all the instances (the ``bill-reconciliation`` lease, held for the day by the
process that ran it), ``manage.py reconcile_bills`` now. Never on the request path: a
provider's API that is down or refuses is logged (its status, never the key) and
retried the next day; a database that is away is retried the next round."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import httpx
from django.conf import settings

from gateway.base import db_work, hooks, leases, lifecycle
from gateway.features.billing import reconcile, sources
from gateway.models import SingletonLease

log = logging.getLogger("gateway.features.billing")

LEASE_NAME = "bill-reconciliation"
CHECK_EVERY_SECONDS = 600.0  # how often a process looks whether today's run is due
LEASE_SECONDS = 23 * 3600.0  # the day's run holds it this long: once a day
_due = partial(leases.take_free, SingletonLease, LEASE_NAME, LEASE_SECONDS)  # today's round
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass
class Outcome:
    """What one run did, per source: rows written, days alerted, and errors."""

    rows: dict[str, int] = field(default_factory=dict)
    alerted: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def window(days: int, today: date | None = None) -> tuple[date, date]:
    """The ``days`` whole UTC days before today: [first, last)."""
    last = today or datetime.now(UTC).date()
    return last - timedelta(days=max(1, days)), last


async def run(
    first: date, last: date, transport: httpx.AsyncBaseTransport | None = None
) -> Outcome:
    """Reconcile every configured source for the days in [first, last)."""
    outcome = Outcome()
    for source in sources.configured():
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, transport=transport) as client:
                reader = source(client)
                costs = await reader.costs(first, last)
                usage = await reader.usage(first, last)
        except sources.BillError as exc:
            log.warning("bill reconciliation: %s", exc)
            outcome.errors[source.name] = str(exc)
            continue
        providers = await db_work.arun(reconcile.providers_of, source.name)
        journal = await db_work.arun(reconcile.journal_lines, providers, first, last)
        written = 0
        for day in sources.days(first, last):
            drift = reconcile.match_day(
                day,
                journal.get(day, []),
                [c for c in costs if c.day == day],
                [u for u in usage if u.day == day],
            )
            written += len(await db_work.arun(reconcile.store, source.name, drift))
            if not reconcile.past_threshold(drift.journal, drift.billed):
                continue
            if await db_work.arun(reconcile.unalerted, source.name, day) and await _notify(
                reconcile.notice(source.name, drift)
            ):
                await db_work.arun(reconcile.mark_alerted, source.name, day)
                outcome.alerted.setdefault(source.name, []).append(day.isoformat())
        outcome.rows[source.name] = written
    return outcome


async def _notify(notice: dict[str, Any]) -> list[str]:
    """The channels that took ``notice`` (the alerts feature's, through the hook)."""
    taken: list[str] = []
    for deliver in hooks.notices:
        try:
            taken += await deliver(notice)
        except Exception as exc:  # a channel's failure is the next run's to retry
            log.warning("bill reconciliation: a notice was not delivered (%s)", exc)
    return taken


def days_back() -> int:
    return int(getattr(settings, "SWITCHYARD_BILL_RECONCILE_DAYS", 3))


async def round_once() -> Outcome | None:
    """Today's run if it is due and this process took it."""
    if not sources.configured() or not await db_work.arun(_due):
        return None
    return await run(*window(days_back()))


async def run_forever() -> None:
    outage = db_work.Outage("bill reconciliation", log)
    await lifecycle.every_round(outage, round_once, lambda: CHECK_EVERY_SECONDS)
