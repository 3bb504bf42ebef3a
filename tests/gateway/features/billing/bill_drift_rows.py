"""What the bill drift's tests share: a day of drift on a recent day (``drift``) and a
signed-in client of a role. Used by ``/api/bill-drift``'s tests
(``tests/gateway/edge/api/test_bills.py``) and the Bills page's
(``tests/console/views/test_bills.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import BillDrift

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
