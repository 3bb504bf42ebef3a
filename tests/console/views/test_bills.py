"""The providers' bills beside the journal, a section of Spend (``console.views.bills``):
each day's journal cost, the provider's and their drift with the days past the
threshold marked, filtered by window and source; admins read it, owners run a
reconciliation now (said when no admin key is set, audited, each source's outcome a
message); a member reads neither. ``/api/bill-drift``:
``tests/gateway/edge/api/test_bills.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages

from gateway.features.billing import runner
from gateway.models import AuditEvent, BillDrift
from tests.gateway.features.billing.bill_drift_rows import RECENT, client_of

pytestmark = pytest.mark.django_db


def test_the_bills_page_shows_each_day_and_its_routes(bill_drift):
    html = client_of("admin").get("/spend/bills/").content.decode()
    assert RECENT.isoformat() in html and "openai-main" in html and "gpt-4o-2024-08-06" in html
    assert "past the threshold" in html and "$1.30" in html
    assert "Reconcile the last" not in html  # admins read; owners run
    assert "Reconcile the last" in client_of("owner").get("/spend/bills/").content.decode()
    assert client_of("member").get("/spend/bills/").status_code == 403
    assert "/spend/bills/" in client_of("owner").get("/spend/").content.decode()


def test_the_window_and_source_pick_the_days_and_sum_them(bill_drift) -> None:
    old = datetime.now(UTC).date() - timedelta(days=20)
    BillDrift.objects.create(
        source="anthropic", provider="claude", route="chat", day=RECENT,
        journal_usd=Decimal("2"), provider_usd=Decimal("2"), drift_usd=Decimal("0"),
    )  # fmt: skip
    BillDrift.objects.create(
        source="openai", provider="openai-main", route="embed", day=old,
        journal_usd=Decimal("0"), provider_usd=Decimal("0.5"), drift_usd=Decimal("0.5"),
    )  # fmt: skip
    admin = client_of("admin")
    month = admin.get("/spend/bills/").context
    assert month["window"] == "30d" and len(month["days"]) == 3
    assert (month["journal"], month["billed"], month["drift"]) == (
        Decimal("12"), Decimal("13.8"), Decimal("1.8"),
    )  # fmt: skip
    assert month["past"] == 1  # 1.30 on 10 is past; 0 on 2 and 0.50 on nothing are not
    week = admin.get("/spend/bills/", {"window": "7d", "source": "openai"}).context
    assert [(d["source"], d["day"]) for d in week["days"]] == [("openai", RECENT)]
    day = week["days"][0]
    assert day["percent"] == Decimal("13") and day["past"] and not day["alerted"]
    assert admin.get("/spend/bills/", {"window": "1y"}).context["window"] == "30d"


def test_an_owner_runs_it_now(monkeypatch) -> None:
    owner = client_of("owner")
    monkeypatch.delenv("SWITCHYARD_OPENAI_ADMIN_KEY", raising=False)
    monkeypatch.delenv("SWITCHYARD_ANTHROPIC_ADMIN_KEY", raising=False)
    nothing = owner.post("/spend/bills/")
    assert nothing.status_code == 302 and nothing["Location"] == "/spend/bills/"
    assert "No provider's admin key is set" in str(list(get_messages(nothing.wsgi_request))[0])
    assert not AuditEvent.objects.filter(action="bill_reconcile").exists()
    asked: list[tuple] = []

    async def run(first, last, transport=None):
        asked.append((first, last))
        return runner.Outcome(rows={"openai": 4}, errors={"anthropic": "anthropic: HTTP 401"})

    monkeypatch.setattr("gateway.features.billing.sources.configured", lambda: ["openai"])
    monkeypatch.setattr(runner, "run", run)
    done = owner.post("/spend/bills/")
    assert done.status_code == 302 and asked == [runner.window(runner.days_back())]
    said = [str(m) for m in get_messages(done.wsgi_request)]
    assert said[-2:] == ["anthropic: HTTP 401", "Reconciled openai (4 rows)."]  # after the first
    event = AuditEvent.objects.get(action="bill_reconcile")
    assert event.detail == f"{runner.days_back()} days: 4 rows; errors: anthropic: HTTP 401"
    assert client_of("admin").post("/spend/bills/").status_code == 403
