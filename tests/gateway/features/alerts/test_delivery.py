"""Budget alerts' delivery (``gateway.features.alerts.delivery``): a failing webhook is
retried with backoff, its error kept (the host, never the path); one that keeps failing
gives up after ``MAX_ATTEMPTS`` and can be sent again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gateway.features.alerts import config, delivery, evaluate
from gateway.models import ApiKey
from gateway.models.alerts import BudgetAlert
from gateway.models.telemetry import SpendRollup

NOW = datetime(2026, 3, 15, 12, 30, tzinfo=UTC)
AT = NOW.timestamp()


def spend(key: ApiKey, usd: str, when: datetime = NOW) -> None:
    hour = when.replace(minute=0, second=0, microsecond=0)
    row, _ = SpendRollup.objects.get_or_create(
        hour=hour, key_id=key.pk, key_name=key.name, end_user="", session="", route="r", model="m"
    )
    row.cost_usd += Decimal(usd)
    row.requests += 1
    row.save()


@pytest.mark.django_db(transaction=True)
def test_a_failing_webhook_is_retried_with_backoff_and_its_error_kept(budgeted, receiver):
    key = budgeted[0]
    config.save(webhook_url=receiver.url)
    receiver.status = 503
    spend(key, "6")
    (raised,) = evaluate.raise_alerts(AT)
    assert asyncio.run(delivery.deliver_due()) == 0
    alert = BudgetAlert.objects.get(pk=raised)
    assert alert.status == "pending" and alert.attempts == 1
    assert alert.last_error == "127.0.0.1 answered 503"  # the host, never the path
    assert alert.next_attempt_at is not None and alert.next_attempt_at > datetime.now(UTC)
    assert asyncio.run(delivery.deliver_due()) == 0  # not due yet: not posted again
    assert len(receiver.received) == 1

    receiver.status = 200
    BudgetAlert.objects.filter(pk=raised).update(next_attempt_at=datetime.now(UTC))
    assert asyncio.run(delivery.deliver_due()) == 1
    alert.refresh_from_db()
    assert alert.status == "sent" and alert.sent_at is not None and alert.last_error == ""
    posted = receiver.received[-1]
    assert "ci" in posted["text"] and "50%" in posted["text"]
    assert posted["alert"]["scope"] == "key" and posted["alert"]["threshold"] == 50
    assert posted["alert"]["period"] == "m2026-03"


@pytest.mark.django_db(transaction=True)
def test_a_webhook_that_keeps_failing_gives_up_and_can_be_sent_again(budgeted, receiver):
    config.save(webhook_url=receiver.url)
    receiver.status = 500
    spend(budgeted[0], "6")
    (raised,) = evaluate.raise_alerts(AT)
    for _ in range(delivery.MAX_ATTEMPTS):
        BudgetAlert.objects.filter(pk=raised).update(next_attempt_at=None)
        asyncio.run(delivery.deliver_due())
    alert = BudgetAlert.objects.get(pk=raised)
    assert alert.status == "failed" and alert.attempts == delivery.MAX_ATTEMPTS
    assert delivery.backoff(1) < delivery.backoff(3) <= timedelta(seconds=3600)
    assert delivery.retry(raised)
    receiver.status = 200
    assert asyncio.run(delivery.deliver_due()) == 1
