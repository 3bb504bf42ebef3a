"""The bill reconciliation's loop (``gateway.features.billing.runner``): the daily run
happens once a day, under its lease."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest

from gateway.features.billing import runner
from gateway.models import SingletonLease
from tests.gateway.features.billing.bill_drift_rows import DAY

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_daily_run_happens_once_a_day_under_its_lease(
    gateway_journal, openai_bill, monkeypatch
):
    monkeypatch.setattr(runner, "window", lambda days, today=None: (DAY, date(2025, 11, 22)))
    first = asyncio.run(runner.round_once())
    assert first is not None and first.rows["openai"] > 0
    assert asyncio.run(runner.round_once()) is None  # done today (the lease is held)
    lease = SingletonLease.objects.get(pk=runner.LEASE_NAME)
    assert lease.lease_until > datetime.now(UTC)
    SingletonLease.objects.update(lease_until=datetime(2025, 1, 1, tzinfo=UTC))  # tomorrow
    assert asyncio.run(runner.round_once()) is not None
