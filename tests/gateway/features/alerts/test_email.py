"""Budget alerts emailed beside the webhook (issue #65), through Django's email backend
(the operator's SMTP server; here Django's locmem backend, ``mail.outbox``): each
channel set gets the alert once, a channel that failed is retried alone, and recipients
are refused when saved when the operator set up no email or an address is not one."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client

from gateway.access import roles
from gateway.features.alerts import config, delivery, evaluate
from gateway.models.alerts import BudgetAlert
from tests.gateway.features.alerts.test_budget_alerts import AT, spend

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


class Broken(BaseEmailBackend):
    """An SMTP server that refuses everything."""

    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        raise ConnectionRefusedError("smtp.example.test refused")


@pytest.fixture
def smtp(settings):
    settings.SWITCHYARD_ALERT_EMAIL = True  # the operator set SWITCHYARD_EMAIL_HOST
    settings.EMAIL_HOST = "smtp.example.test"
    settings.EMAIL_BACKEND = LOCMEM
    mail.outbox = []
    return settings


@pytest.mark.django_db(transaction=True)
def test_an_alert_is_emailed_beside_the_webhook_each_once(budgeted, receiver, smtp) -> None:
    key = budgeted[0]
    config.save(webhook_url=receiver.url, email_recipients="lead@example.com, ops@example.com")
    spend(key, "6")  # 60 % of the key's $10
    (raised,) = evaluate.raise_alerts(AT)
    assert asyncio.run(delivery.deliver_due()) == 1
    assert len(receiver.received) == 1  # control: the webhook path is live as before
    (sent,) = mail.outbox
    assert sent.to == ["lead@example.com", "ops@example.com"]
    assert sent.subject == "Switchyard: key ci past 50% of its budget"
    assert "$6.00 of its $10.00 budget" in sent.body and "the month 2026-03" in sent.body
    alert = BudgetAlert.objects.get(pk=raised)
    assert alert.status == "sent" and alert.posted_at and alert.emailed_at
    assert asyncio.run(delivery.deliver_due()) == 0 and len(mail.outbox) == 1  # once


@pytest.mark.django_db(transaction=True)
def test_a_failed_email_is_retried_alone(budgeted, receiver, smtp) -> None:
    config.save(webhook_url=receiver.url, email_recipients=["lead@example.com"])
    smtp.EMAIL_BACKEND = f"{__name__}.Broken"
    spend(budgeted[0], "6")
    (raised,) = evaluate.raise_alerts(AT)
    assert asyncio.run(delivery.deliver_due()) == 0
    alert = BudgetAlert.objects.get(pk=raised)
    assert alert.status == "pending" and alert.attempts == 1
    assert alert.last_error == "email: smtp.example.test: ConnectionRefusedError"
    assert alert.posted_at is not None and alert.emailed_at is None
    smtp.EMAIL_BACKEND = LOCMEM
    BudgetAlert.objects.filter(pk=raised).update(next_attempt_at=None)
    assert asyncio.run(delivery.deliver_due()) == 1
    assert len(receiver.received) == 1 and len(mail.outbox) == 1  # the webhook not again


@pytest.mark.django_db(transaction=True)
def test_email_alone_delivers_and_a_test_message_goes_out(budgeted, smtp) -> None:
    config.save(email_recipients=["lead@example.com"])
    spend(budgeted[0], "6")
    (raised,) = evaluate.raise_alerts(AT)
    assert BudgetAlert.objects.get(pk=raised).status == "pending"  # not "unsent"
    assert asyncio.run(delivery.deliver_due()) == 1
    assert asyncio.run(delivery.send_tests(config.load())) == ""
    assert [m.subject for m in mail.outbox][-1] == "Switchyard budget alerts: a test"


def test_recipients_are_refused_when_saved(db, settings) -> None:
    settings.SWITCHYARD_ALERT_EMAIL = False  # no SMTP set up by the operator
    with pytest.raises(ValidationError) as refused:
        config.save(email_recipients=["lead@example.com"])
    assert "SWITCHYARD_EMAIL_HOST" in refused.value.message_dict["email_recipients"][0]
    settings.SWITCHYARD_ALERT_EMAIL = True
    for bad in ("not-an-address", "a@example.com\nBcc: x@evil.test", [1]):
        with pytest.raises(ValidationError) as refused:
            config.save(email_recipients=bad)
        assert "email_recipients" in refused.value.message_dict
    assert config.load().email_recipients == ()
    assert config.save(email_recipients="a@example.com").email_recipients == ("a@example.com",)


def test_api_sets_recipients_and_refuses_bad_ones_with_422(db, settings) -> None:
    settings.SWITCHYARD_ALERT_EMAIL = True
    owner = User.objects.create_user("boss", password="pw-123456789")
    roles.set_role(owner, "owner")
    client = Client()
    client.force_login(owner)

    def patch(body: dict):
        return client.patch("/api/alerts/", json.dumps(body), content_type="application/json")

    bad = patch({"email_recipients": ["nope"]})
    assert bad.status_code == 422 and "email_recipients" in bad.json()["errors"]
    good = patch({"email_recipients": ["lead@example.com"]})
    assert good.status_code == 200, good.content
    assert good.json()["email_recipients"] == ["lead@example.com"]
    assert good.json()["email_configured"] is True
