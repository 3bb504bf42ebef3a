"""The bill reconciliation's loop (``gateway.features.billing.runner``): the daily run
happens once a day, under its lease."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from gateway.features.billing import runner
from gateway.models import Provider, RequestLog, SingletonLease
from tests.gateway.features.billing.bill_server import bill_server

pytestmark = pytest.mark.django_db(transaction=True)

DAY, NEXT = date(2025, 11, 20), date(2025, 11, 21)
OPENAI_KEY = "sk-admin-openai-0123456789abcdef"


def journal(provider: str, route: str, model: str, usd: str, day: date = DAY, n: int = 4) -> None:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    for i in range(n):  # the cost spread over n requests
        RequestLog.objects.create(
            request_id=f"{route}-{day}-{i}",
            created_at=at,
            dialect="openai",
            endpoint="chat",
            route=route,
            provider=provider,
            upstream_model=model,
            input_tokens=100,
            output_tokens=50,
            cost_usd=Decimal(usd) / n,
        )


@pytest.fixture
def gateway_journal(db):
    Provider.objects.create(name="openai-main", kind="openai")
    Provider.objects.create(name="claude", kind="anthropic")
    journal("openai-main", "gpt", "gpt-4o", "10.00")
    journal("openai-main", "mini", "gpt-4o-mini", "2.00")
    journal("openai-main", "mini", "gpt-4o-mini", "0.50", NEXT)
    journal("claude", "sonnet", "claude-sonnet-4-5", "5.00")
    journal("elsewhere", "other", "gpt-4o", "99.00")  # not a provider of a billed kind


@pytest.fixture
def openai_bill(monkeypatch):
    with bill_server(
        "openai", OPENAI_KEY, "openai_costs.json", "openai_usage_completions.json"
    ) as server:
        monkeypatch.setenv("SWITCHYARD_OPENAI_ADMIN_KEY", OPENAI_KEY)
        monkeypatch.setenv("SWITCHYARD_OPENAI_ADMIN_BASE_URL", server.url)
        yield server


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
