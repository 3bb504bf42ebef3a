"""Emailing an alert beside the webhook, through Django's email backend: the operator's
SMTP server (``SWITCHYARD_EMAIL_HOST``, port, user, password, STARTTLS or SSL, from
address: ``gateway/server/settings.py``), or a backend of the operator's
(``SWITCHYARD_EMAIL_BACKEND``). Without either, alerts are not emailed and recipients
cannot be saved (refused when saved, naming the setting).

The recipients are the alert settings' (owners set them: at most ``MAX_RECIPIENTS``
addresses, each checked by Django's ``validate_email``, so no header can be smuggled in).
Sending blocks (SMTP), so it runs in a thread of the alerts' background loop, never on
a request. Errors name the SMTP host only."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from gateway.base import mail
from gateway.base.mail import Refused, configured, send_text

__all__ = ["Refused", "configured", "message", "parse_recipients", "send", "send_text"]

MAX_RECIPIENTS = 20


def parse_recipients(value: object) -> list[str]:
    """A list or a comma/space/newline separated string of addresses, each once, in
    order; a ``ValueError`` naming the first bad one."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items: list[Any] = re.split(r"[\s,;]+", value)
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValueError("a list of email addresses")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError("a list of email addresses")
        address = item.strip()
        if not address or address in out:
            continue
        try:
            validate_email(address)
        except ValidationError:
            raise ValueError(f"{address[:100]!r} is not an email address") from None
        out.append(address)
    if len(out) > MAX_RECIPIENTS:
        raise ValueError(f"at most {MAX_RECIPIENTS} addresses")
    if out and not configured():
        raise ValueError(
            "the operator has not set up email: SWITCHYARD_EMAIL_HOST (and its port, "
            "user and password) must be set for alerts to be emailed"
        )
    return out


def message(alert: dict[str, Any]) -> tuple[str, str]:
    """(subject, plain text body) for ``alert`` (a ``BudgetAlert``'s fields, or a test's)."""
    if alert.get("test"):
        return (
            "Switchyard budget alerts: a test",
            "Switchyard budget alerts reach this address (a test).\n",
        )
    name = " ".join(str(alert["subject_name"]).split())[:120]  # one line: no header folding
    subject = f"Switchyard: {alert['scope']} {name} past {alert['threshold']}% of its budget"
    body = (
        f"The {alert['scope']} {name} has spent ${alert['spend_usd']:.2f} of its "
        f"${alert['budget_usd']:.2f} budget ({alert['percent']:.0f}%, past the "
        f"{alert['threshold']}% alert) in {alert['period_label']}.\n\n"
        f"Raised at {alert.get('raised_at', '')} by Switchyard's budget alerts.\n"
    )
    return subject, body


async def send(recipients: list[str], alert: dict[str, Any]) -> None:
    """Email ``alert`` to ``recipients`` (in a thread: SMTP blocks); ``Refused`` on failure."""
    subject, body = message(alert)
    await asyncio.to_thread(mail.send_now, recipients, subject, body)
