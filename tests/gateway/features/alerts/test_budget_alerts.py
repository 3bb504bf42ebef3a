"""Budget alerts: raised once per budget period and threshold however often the
evaluator runs (and after a restart: the state is the database's), for keys, teams and
users, from the spend rollups; a request never waits on any of it. The webhook's
retries are in ``test_delivery.py``, its settings in ``test_config.py``, the loop's lease
in ``test_runner.py``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from gateway.access import keys, registry
from gateway.base import leases
from gateway.core import service
from gateway.features.alerts import config, evaluate, runner
from gateway.models import (
    ApiKey,
    AuditEvent,
    Deployment,
    Provider,
    Route,
)
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


def alerts() -> list[tuple[str, str, str, int, str]]:
    rows = BudgetAlert.objects.order_by("scope", "subject_id", "threshold")
    return [(a.scope, a.subject_name, a.period, a.threshold, a.status) for a in rows]


def test_each_threshold_fires_once_per_period_across_runs_and_restarts(budgeted, monkeypatch):
    key, other, team, owner = budgeted
    spend(key, "5.5")  # 55% of the key's $10
    spend(key, "9", NOW - timedelta(days=40))  # last month's: not this period's
    assert evaluate.raise_alerts(AT)  # the key's 50%
    assert alerts() == [("key", "ci", "m2026-03", 50, "unsent")]  # no webhook yet

    assert evaluate.raise_alerts(AT) == []  # a second round: nothing new
    spend(key, "3")  # 85%
    spend(other, "30")  # the team: 38.5 of 100; the user (both keys are hers): 38.5 of 40
    raised = evaluate.raise_alerts(AT)
    assert len(raised) == 2  # the key's 80%, the user's 90%+ (one to send)
    # "a restart": another process, nothing in memory; the rows say what was raised
    monkeypatch.setattr(leases, "PROCESS_ID", "another-host:1:restart")
    assert evaluate.raise_alerts(AT) == [] and evaluate.raise_alerts(AT + 60) == []
    assert alerts() == [
        ("key", "ci", "m2026-03", 50, "unsent"),
        ("key", "ci", "m2026-03", 80, "unsent"),
        ("user", "ana", "m2026-03", 50, "superseded"),  # crossed at once: the highest is sent
        ("user", "ana", "m2026-03", 80, "unsent"),
    ]
    spend(other, "20")  # the team passes 50%
    evaluate.raise_alerts(AT)
    assert ("team", "research", "m2026-03", 50, "unsent") in alerts()

    # the next period starts afresh
    next_month = datetime(2026, 4, 1, 0, 10, tzinfo=UTC)
    spend(key, "6", next_month)
    evaluate.raise_alerts(next_month.timestamp())
    assert ("key", "ci", "m2026-04", 50, "unsent") in alerts()
    assert BudgetAlert.objects.filter(period="m2026-03", scope="key").count() == 2

    # each alert raised is audited
    events = AuditEvent.objects.filter(action="alert")
    assert events.count() == BudgetAlert.objects.count()
    assert events.filter(object_type="key", object_name="ci").exists()


def test_own_thresholds_override_the_default_and_none_turns_alerts_off(budgeted):
    key, other, team, owner = budgeted
    keys.update_key(key, alert_thresholds="90")
    keys.update_key(other, budget_usd="10", alert_thresholds="none")
    config.save(thresholds=[15])  # the team and the user now: 15%
    spend(key, "8")
    spend(other, "9")
    evaluate.raise_alerts(AT)
    # the team: 17 of 100, the user: 17 of 40; the key ci 80% (< its 90), batch: none
    assert [(a[0], a[3]) for a in alerts()] == [("team", 15), ("user", 15)]
    spend(key, "1.5")
    evaluate.raise_alerts(AT)
    assert ("key", "ci", "m2026-03", 90, "unsent") in alerts()
    config.save(enabled=False)
    spend(key, "100")
    assert evaluate.raise_alerts(AT) == []


def test_two_evaluators_racing_raise_an_alert_once(budgeted):
    key = budgeted[0]
    subject = evaluate.Subject("key", key.pk, key.name, Decimal(10), "month", (50,))
    first = evaluate._insert(subject, "m2026-03", 50, Decimal(6), "pending")
    second = evaluate._insert(subject, "m2026-03", 50, Decimal(6), "pending")
    assert first is not None and second is None
    assert BudgetAlert.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_request_never_waits_on_a_webhook_that_is_down(snapshot_reset, settings):
    """The webhook's port is closed; the request is answered as ever, and the alert
    round that follows records the failure for the console."""
    settings.SWITCHYARD_ALERT_WEBHOOK_PRIVATE = True
    provider = Provider.objects.create(name="echo", kind=Provider.Kind.ECHO)
    route = Route.objects.create(name="echo")
    Deployment.objects.create(
        route=route,
        provider=provider,
        model="m",
        input_price=Decimal("1"),
        output_price=Decimal("1"),
    )
    created = keys.create_key(name="budgeted", budget_usd="1")
    config.save(webhook_url="http://127.0.0.1:9/hook")  # nothing listens on port 9
    registry.rebuild()
    entry = registry.current().keys[ApiKey.hash_key(created.raw)]
    body = orjson.dumps(
        {"model": "echo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    )
    reply = asyncio.run(service.handle("chat", "openai", body, {}, service.Caller(key=entry)))
    assert reply.status == 200
    spend(created.key, "0.9", datetime.now(UTC))
    raised, sent = asyncio.run(runner.round_once())
    assert raised and sent == 0
    alert = BudgetAlert.objects.get(pk=raised[-1])
    assert alert.status == "pending" and alert.attempts == 1 and "127.0.0.1" in alert.last_error
