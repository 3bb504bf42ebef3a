"""Budget alerts' loop (``gateway.features.alerts.runner``): one process of all holds the
alerts' lease and runs the rounds; the others' rounds do nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gateway.base import leases
from gateway.features.alerts import runner
from gateway.models import (
    ApiKey,
    SingletonLease,
)
from gateway.models.alerts import BudgetAlert
from gateway.models.telemetry import SpendRollup

NOW = datetime(2026, 3, 15, 12, 30, tzinfo=UTC)


def spend(key: ApiKey, usd: str, when: datetime = NOW) -> None:
    hour = when.replace(minute=0, second=0, microsecond=0)
    row, _ = SpendRollup.objects.get_or_create(
        hour=hour, key_id=key.pk, key_name=key.name, end_user="", session="", route="r", model="m"
    )
    row.cost_usd += Decimal(usd)
    row.requests += 1
    row.save()


@pytest.mark.django_db(transaction=True)
def test_one_process_of_all_holds_the_alerts_lease(budgeted, monkeypatch):
    assert asyncio.run(runner.round_once()) == ([], 0)  # nothing spent: this one holds it
    held = SingletonLease.objects.get(name=runner.LEASE_NAME).runner
    monkeypatch.setattr(leases, "PROCESS_ID", "another-host:2:x")
    spend(budgeted[0], "9", datetime.now(UTC))
    assert asyncio.run(runner.round_once()) == ([], 0)  # the lease is someone else's
    assert SingletonLease.objects.get(name=runner.LEASE_NAME).runner == held
    assert BudgetAlert.objects.count() == 0
    monkeypatch.setattr(leases, "PROCESS_ID", held)  # the holder's next round raises it
    raised, _ = asyncio.run(runner.round_once())
    assert len(raised) == 1
