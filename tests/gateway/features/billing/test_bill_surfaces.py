"""The drift in ``/api/bill-drift`` and on the console's Bills page (a section of Spend):
admins read it, owners run a reconciliation now; a member reads neither."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import BillDrift
from tests.gateway.features.billing.test_reconcile import OPENAI_KEY, gateway_journal  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

RECENT = datetime.now(UTC).date() - timedelta(days=2)


def client_of(role: str) -> Client:
    user, _ = User.objects.get_or_create(username=role)
    roles.set_role(user, role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def drift(db) -> None:
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


def test_the_bills_page_shows_each_day_and_its_routes(drift):
    html = client_of("admin").get("/spend/bills/").content.decode()
    assert RECENT.isoformat() in html and "openai-main" in html and "gpt-4o-2024-08-06" in html
    assert "past the threshold" in html and "$1.30" in html
    assert "Reconcile the last" not in html  # admins read; owners run
    assert "Reconcile the last" in client_of("owner").get("/spend/bills/").content.decode()
    assert client_of("member").get("/spend/bills/").status_code == 403
    assert "/spend/bills/" in client_of("owner").get("/spend/").content.decode()
