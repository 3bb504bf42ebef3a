"""Money lost to cache misses, sent to the alert channels (``hooks.notices``: the alerts
feature's webhook and email): once a UTC day, on one process of all the instances (the
``cache-loss-alert`` lease, held for the day by the process that ran it), each route
whose warm misses lost at least ``SWITCHYARD_CACHE_LOSS_ALERT_USD`` over the day before
is told with its largest finding. Never on the request path; a database that is away
is retried the next round."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings

from gateway.base import db_work, hooks, leases, lifecycle
from gateway.features.cache_doctor import reading
from gateway.features.cache_doctor.doctor import Group
from gateway.models import SingletonLease

log = logging.getLogger("gateway.features.cache_doctor")

LEASE_NAME = "cache-loss-alert"
CHECK_EVERY_SECONDS = 900.0
LEASE_SECONDS = 23 * 3600.0
_due = partial(leases.take_free, SingletonLease, LEASE_NAME, LEASE_SECONDS)  # today's round


def threshold() -> Decimal:
    return Decimal(str(getattr(settings, "SWITCHYARD_CACHE_LOSS_ALERT_USD", 5.0)))


def notice(group: Group, day: str) -> dict[str, Any]:
    """What the channels are told of a route that lost money to misses on ``day``."""
    findings = group.findings()
    worst = f" {findings[0][0]}. Fix: {findings[0][1]}." if findings else ""
    return {
        "kind": "cache_loss",
        "route": group.name,
        "day": day,
        "lost_usd": group.lost_usd.quantize(Decimal("0.01")),
        "misses": group.misses,
        "title": f"route {group.name} lost ${group.lost_usd:.2f} to prompt-cache misses on {day}",
        "text": (
            f"Route {group.name}: {group.misses} of {group.warm_reuses} warm turns on {day} "
            f"(UTC) were not read from the prompt cache, ${group.lost_usd:.2f} more than "
            f"cache reads would have cost.{worst}"
        ),
    }


def losses(day: datetime) -> list[Group]:
    """The routes whose misses on the UTC day starting at ``day`` reach the threshold."""
    limit = threshold()
    report = reading.diagnose(day, day + timedelta(days=1))
    return [g for g in report.routes if g.lost_usd > 0 and g.lost_usd >= limit]


async def run(day: datetime) -> list[str]:
    """Tell the channels of the routes past the threshold on ``day``: the routes told."""
    told = []
    for group in await db_work.arun(losses, day):
        taken: list[str] = []
        for deliver in hooks.notices:
            try:
                taken += await deliver(notice(group, day.date().isoformat()))
            except Exception as exc:  # a channel's failure: logged, the next day tells again
                log.warning("cache doctor: a notice was not delivered (%s)", exc)
        if taken:
            told.append(group.name)
    return told


def yesterday() -> datetime:
    today = datetime.now(UTC).date()
    return datetime.combine(today - timedelta(days=1), time.min, tzinfo=UTC)


async def round_once() -> list[str] | None:
    """Yesterday's alerts if they are due and this process took them."""
    if threshold() <= 0 or not len(hooks.notices) or not await db_work.arun(_due):
        return None
    return await run(yesterday())


async def run_forever() -> None:
    outage = db_work.Outage("cache-loss alerts", log)
    await lifecycle.every_round(outage, round_once, lambda: CHECK_EVERY_SECONDS)
