"""What the bill drift's tests share: the admin keys, the journal's rows on two days of
November 2025 that the golden bills (tests/fixtures/billing/) answer for
(``journal_rows``), a day of drift on a recent day (``drift_row``) and a signed-in client
of a role. Their fixtures (``gateway_journal``, ``openai_bill`` in
tests/gateway/conftest.py, ``anthropic_bill`` in this folder's, ``bill_drift`` in
tests/conftest.py) serve the reconciliation's tests here, ``/api/bill-drift``'s
(``tests/gateway/edge/api/test_bills.py``), the command's and the Bills page's
(``tests/console/views/test_bills.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import BillDrift, Provider, RequestLog
from tests.gateway.features.billing.bill_server import BillServer, bill_server

RECENT = datetime.now(UTC).date() - timedelta(days=2)
DAY, NEXT = date(2025, 11, 20), date(2025, 11, 21)
OPENAI_KEY = "sk-admin-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-admin01-0123456789abcdef"
# a source's admin key and the golden pages its API answers
BILLS = {
    "openai": (OPENAI_KEY, "openai_costs.json", "openai_usage_completions.json"),
    "anthropic": (ANTHROPIC_KEY, "anthropic_cost_report.json", "anthropic_usage_messages.json"),
}


@contextmanager
def admin_api(kind: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[BillServer]:
    """The source's usage and cost API on 127.0.0.1 answering the golden pages, its admin
    key and address set in the environment (the ``openai_bill`` and ``anthropic_bill``
    fixtures)."""
    key, *pages = BILLS[kind]
    with bill_server(kind, key, *pages) as server:
        monkeypatch.setenv(f"SWITCHYARD_{kind.upper()}_ADMIN_KEY", key)
        monkeypatch.setenv(f"SWITCHYARD_{kind.upper()}_ADMIN_BASE_URL", server.url)
        yield server


def client_of(role: str) -> Client:
    user, _ = User.objects.get_or_create(username=role)
    roles.set_role(user, role)
    client = Client()
    client.force_login(user)
    return client


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


def journal_rows() -> None:
    """Two billed providers and what the journal says they cost on ``DAY`` and ``NEXT``."""
    Provider.objects.create(name="openai-main", kind="openai")
    Provider.objects.create(name="claude", kind="anthropic")
    journal("openai-main", "gpt", "gpt-4o", "10.00")
    journal("openai-main", "mini", "gpt-4o-mini", "2.00")
    journal("openai-main", "mini", "gpt-4o-mini", "0.50", NEXT)
    journal("claude", "sonnet", "claude-sonnet-4-5", "5.00")
    journal("elsewhere", "other", "gpt-4o", "99.00")  # not a provider of a billed kind


def drift_row() -> None:
    BillDrift.objects.create(
        source="openai",
        provider="openai-main",
        route="gpt",
        day=RECENT,
        journal_usd=Decimal("10"),
        provider_usd=Decimal("11.3"),
        drift_usd=Decimal("1.3"),
        models_seen=[{"model": "gpt-4o", "billed_model": "gpt-4o-2024-08-06"}],
    )
