"""Sending raised alerts: each due alert is posted to the webhook; a failure is kept on
the row (attempts, last error, next attempt) and retried after ``BACKOFF_SECONDS``
doubled per attempt (at most ``BACKOFF_MAX_SECONDS``), until ``MAX_ATTEMPTS``, after
which the alert is ``failed`` (the console shows it and can send it again)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from gateway.alerts import config, evaluate, webhook
from gateway.base import db_work
from gateway.models.alerts import BudgetAlert
from gateway.telemetry import audit

log = logging.getLogger("gateway.alerts")

MAX_ATTEMPTS = 8
BACKOFF_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 3600.0
BATCH = 20  # alerts posted per round (the rest the next round)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def _due() -> tuple[str, list[BudgetAlert]]:
    url = config.load().webhook_url
    now = timezone.now()
    due = BudgetAlert.objects.filter(status="pending").filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    found = list(due.order_by("created_at", "id")[:BATCH])
    if not url and found:  # the webhook was removed meanwhile
        BudgetAlert.objects.filter(pk__in=[a.pk for a in found]).update(
            status="unsent", next_attempt_at=None
        )
        return url, []
    return url, found


def _sent(pk: int) -> None:
    BudgetAlert.objects.filter(pk=pk).update(
        status="sent", sent_at=timezone.now(), next_attempt_at=None, last_error=""
    )


def _failed(pk: int, attempts: int, error: str) -> None:
    gave_up = attempts >= MAX_ATTEMPTS
    BudgetAlert.objects.filter(pk=pk).update(
        attempts=attempts,
        last_error=error[:500],
        status="failed" if gave_up else "pending",
        next_attempt_at=None if gave_up else timezone.now() + backoff(attempts),
    )


async def deliver_due() -> int:
    """Post every due alert once; how many were sent."""
    url, due = await db_work.arun(_due)
    sent = 0
    for alert in due:
        attempts = alert.attempts + 1
        try:
            await webhook.post(url, webhook.payload(evaluate.as_fields(alert)))
        except webhook.Refused as exc:
            log.warning("budget alert %s not delivered (attempt %d): %s", alert.pk, attempts, exc)
            await db_work.arun(_failed, alert.pk, attempts, str(exc))
            continue
        await db_work.arun(_sent, alert.pk)
        sent += 1
    return sent


def retry(pk: int) -> bool:
    """Send a failed or unsent alert again at the next round (the console's button)."""
    resendable = BudgetAlert.objects.filter(pk=pk, status__in=("failed", "unsent"))
    if not resendable.exists():  # nothing to write (and nothing to audit)
        return False
    changed = resendable.update(status="pending", attempts=0, next_attempt_at=None)
    if changed:
        audit.record("alert_retry", object_type="budget_alert", object_id=pk)
    return bool(changed)


async def send_test(url: str) -> str:
    """Post a test message to ``url`` now; "" when it arrived, else why not."""
    if not url:
        return "no webhook is set"
    try:
        await webhook.post(url, webhook.payload({"test": True}))
    except webhook.Refused as exc:
        return str(exc)
    return ""
