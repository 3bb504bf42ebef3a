"""``/api/bill-drift``: admins read the drift per provider, route and day with the
configured sources; owners run a reconciliation now (409 with no admin key set, 422 past
the window), audited; a member reads nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.models import AuditEvent
from tests.gateway.features.billing.bill_drift_rows import OPENAI_KEY, client_of
from tests.gateway.features.billing.bill_server import bill_server

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_api_lists_the_drift_and_the_sources(bill_drift, monkeypatch):
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


def test_owners_run_it_now_through_the_api(gateway_journal, monkeypatch):
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
