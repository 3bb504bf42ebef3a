"""The journal beside the providers' bills: each source read page by page from an API on
127.0.0.1 answering the golden pages (tests/fixtures/billing/), matched by day and model,
stored per provider, route and day; a day past the threshold alerts the alerts'
channels once; the admin key never reaches a log or an error."""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from decimal import Decimal

import pytest

from gateway.features.alerts import config
from gateway.features.billing import reconcile, runner, sources
from gateway.models import BillDrift
from gateway.telemetry import redaction
from tests.gateway.features.billing.bill_drift_rows import ANTHROPIC_KEY, DAY, NEXT, OPENAI_KEY

pytestmark = pytest.mark.django_db(transaction=True)


def rows() -> dict[tuple[str, str, str, date], tuple[Decimal, Decimal, Decimal]]:
    return {
        (r.source, r.provider, r.route, r.day): (r.journal_usd, r.provider_usd, r.drift_usd)
        for r in BillDrift.objects.all()
    }


def test_a_run_stores_journal_bill_and_drift_per_provider_route_and_day(
    gateway_journal, openai_bill, anthropic_bill, settings
):
    outcome = asyncio.run(runner.run(DAY, date(2025, 11, 22)))
    assert outcome.errors == {}
    found = rows()
    # gpt-4o billed 11.00 (dated model name) against 10.00 counted
    assert found[("openai", "openai-main", "gpt", DAY)] == (
        Decimal("10.000000"),
        Decimal("11.000000"),
        Decimal("1.000000"),
    )
    assert found[("openai", "openai-main", "mini", DAY)][2] == 0
    assert found[("openai", "openai-main", "mini", NEXT)] == (
        Decimal("0.500000"),
        Decimal("0.500000"),
        Decimal("0"),
    )
    # a model no route of the gateway used: the bill's own row
    assert found[("openai", "", "", DAY)] == (Decimal(0), Decimal("0.300000"), Decimal("0.3"))
    assert found[("anthropic", "claude", "sonnet", DAY)][1:] == (
        Decimal("5.125000"),
        Decimal("0.125000"),
    )
    assert found[("anthropic", "", "", NEXT)][1] == Decimal("0.010000")
    assert not any(key[1] == "elsewhere" for key in found)
    gpt = BillDrift.objects.get(route="gpt")
    assert gpt.models_seen[0]["billed_model"] == "gpt-4o-2024-08-06"
    assert gpt.models_seen[0]["billed_tokens"] == 1_500_000
    # run again: the rows are replaced, not doubled
    asyncio.run(runner.run(DAY, date(2025, 11, 22)))
    assert rows() == found


def test_a_day_past_the_threshold_alerts_once(gateway_journal, openai_bill, receiver, settings):
    config.save(webhook_url=receiver.url)
    outcome = asyncio.run(runner.run(DAY, date(2025, 11, 22)))
    # openai drifted 1.30 on 12.00 (10.8 %, over $1): alerted; the next day did not
    assert outcome.alerted == {"openai": ["2025-11-20"]}
    (posted,) = receiver.received
    assert posted["notice"]["source"] == "openai" and posted["notice"]["day"] == "2025-11-20"
    assert "$13.30" in posted["text"] and "$12.00" in posted["text"]
    assert BillDrift.objects.filter(day=DAY, alerted_at__isnull=False).count() == 3
    asyncio.run(runner.run(DAY, date(2025, 11, 22)))
    assert len(receiver.received) == 1  # once per source and day
    # under the threshold: nothing
    settings.SWITCHYARD_BILL_DRIFT_USD = 5.0
    BillDrift.objects.update(alerted_at=None)
    asyncio.run(runner.run(DAY, date(2025, 11, 22)))
    assert len(receiver.received) == 1


def test_a_refusing_provider_is_an_error_naming_the_status_never_the_key(
    gateway_journal, openai_bill, caplog, monkeypatch
):
    openai_bill.status = 503
    with caplog.at_level(logging.WARNING, logger="gateway.features.billing"):
        outcome = asyncio.run(runner.run(DAY, NEXT))
    assert outcome.errors == {"openai": "openai: /v1/organization/costs answered 503"}
    assert OPENAI_KEY not in caplog.text and "503" in caplog.text
    assert BillDrift.objects.count() == 0
    monkeypatch.setenv("SWITCHYARD_OPENAI_ADMIN_KEY", "sk-admin-wrong-key-000000")
    openai_bill.status = 200
    outcome = asyncio.run(runner.run(DAY, NEXT))
    assert "answered 401" in outcome.errors["openai"]


def test_the_admin_keys_are_redacted_like_the_master_key(openai_bill, anthropic_bill):
    known = redaction.configured_secrets()
    assert OPENAI_KEY in known and ANTHROPIC_KEY in known


def test_a_billed_model_matches_the_journals_name_or_it_dated():
    assert reconcile.same_model("gpt-4o", "gpt-4o-2024-08-06")
    assert reconcile.same_model("gpt-4o", "gpt-4o")
    assert not reconcile.same_model("gpt-4", "gpt-4o")
    # both names prefix it: the longer wins, gpt-4o-mini's bill goes to the mini route only
    lines = [
        reconcile.JournalLine("p", "gpt", "gpt-4o", Decimal(1), 10),
        reconcile.JournalLine("p", "mini", "gpt-4o-mini", Decimal(1), 10),
    ]
    cost = sources.BilledCost(DAY, "gpt-4o-mini-2024-07-18", Decimal(2))
    drift = reconcile.match_day(DAY, lines, [cost], [])
    assert drift.rows[("p", "mini")]["provider_usd"] == Decimal(2)
    assert drift.rows[("p", "gpt")]["provider_usd"] == Decimal(0)
