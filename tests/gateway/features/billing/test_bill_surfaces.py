"""The drift in ``/api/bill-drift`` and on the console's Bills page (a section of Spend):
admins read it, owners run a reconciliation now; a member reads neither."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import AuditEvent, BillDrift
from tests.gateway.features.billing.bill_server import bill_server
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


def test_the_api_lists_the_drift_and_the_sources(drift, monkeypatch):
    monkeypatch.setenv("SWITCHYARD_OPENAI_ADMIN_KEY", OPENAI_KEY)
    answer = client_of("admin").get("/api/bill-drift/?source=openai")
    assert answer.status_code == 200
    body = answer.json()
    (item,) = body["items"]
    assert item["route"] == "gpt" and Decimal(item["drift_usd"]) == Decimal("1.3")
    assert Decimal(item["drift_percent"]) == Decimal("13.0")
    assert item["models"][0]["billed_model"] == "gpt-4o-2024-08-06"
    assert {s["name"]: s["configured"] for s in body["sources"]} == {
        "openai": True,
        "anthropic": False,
    }
    assert OPENAI_KEY not in answer.content.decode()
    assert client_of("member").get("/api/bill-drift/").status_code == 403


def test_owners_run_it_now_through_the_api(gateway_journal, monkeypatch):  # noqa: F811
    admin = client_of("admin")
    assert admin.post("/api/bill-drift/run", {"days": 3}, "application/json").status_code == 403
    owner = client_of("owner")
    refused = owner.post("/api/bill-drift/run", {"days": 3}, "application/json")
    assert refused.status_code == 409 and "SWITCHYARD_OPENAI_ADMIN_KEY" in refused.json()["detail"]
    assert owner.post("/api/bill-drift/run", {"days": 90}, "application/json").status_code == 422
    with bill_server("openai", OPENAI_KEY, "openai_costs.json") as server:
        monkeypatch.setenv("SWITCHYARD_OPENAI_ADMIN_KEY", OPENAI_KEY)
        monkeypatch.setenv("SWITCHYARD_OPENAI_ADMIN_BASE_URL", server.url)
        answer = owner.post("/api/bill-drift/run", {"days": 3}, "application/json")
    assert answer.status_code == 200
    # the usage path is not served here: the source's error names it, never the key
    assert "usage/completions answered 404" in answer.json()["errors"]["openai"]
    assert AuditEvent.objects.filter(action="bill_reconcile").exists()


def test_the_bills_page_shows_each_day_and_its_routes(drift):
    html = client_of("admin").get("/spend/bills/").content.decode()
    assert RECENT.isoformat() in html and "openai-main" in html and "gpt-4o-2024-08-06" in html
    assert "past the threshold" in html and "$1.30" in html
    assert "Reconcile the last" not in html  # admins read; owners run
    assert "Reconcile the last" in client_of("owner").get("/spend/bills/").content.decode()
    assert client_of("member").get("/spend/bills/").status_code == 403
    assert "/spend/bills/" in client_of("owner").get("/spend/").content.decode()
