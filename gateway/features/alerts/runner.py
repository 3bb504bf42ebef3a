"""The alerts' background loop: every ``SWITCHYARD_ALERT_EVERY_SECONDS`` the holder of
the ``budget-alerts`` lease (one process of all instances) raises and delivers alerts.
Never raises: a database that is away is retried the next round."""

from __future__ import annotations

import logging

from django.conf import settings

from gateway.base import db_work, leases, lifecycle
from gateway.features.alerts import delivery, evaluate
from gateway.models import SingletonLease

log = logging.getLogger("gateway.features.alerts")

LEASE_NAME = "budget-alerts"
FIRST_AFTER_SECONDS = 5.0


def every() -> float:
    return float(getattr(settings, "SWITCHYARD_ALERT_EVERY_SECONDS", 30.0))


def _hold() -> bool:

    return leases.hold(SingletonLease, LEASE_NAME, max(every() * 4, 60.0), leases.PROCESS_ID)


async def round_once() -> tuple[list[int], int]:
    """One round if this process holds the lease: (alerts raised, alerts sent)."""
    if not await db_work.arun(_hold):
        return [], 0
    raised = await db_work.arun(evaluate.raise_alerts)
    sent = await delivery.deliver_due()
    return raised, sent


async def run_forever() -> None:
    outage = db_work.Outage("budget alerts", log)
    await lifecycle.every_round(outage, round_once, every, FIRST_AFTER_SECONDS)
