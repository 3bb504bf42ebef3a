"""Sending raised alerts: each due alert is posted to the webhook and emailed to the
recipients (``gateway.features.alerts.email``), whichever are set. Each channel that got it is
stamped on the row (``posted_at``, ``emailed_at``) so a retry sends only what failed; the
alert is ``sent`` once every channel set has it. A failure is kept on the row (attempts,
last error, next attempt) and retried after ``BACKOFF_SECONDS`` doubled per attempt (at
most ``BACKOFF_MAX_SECONDS``), until ``MAX_ATTEMPTS``, after which the alert is
``failed`` (the console shows it and can send it again)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.db.models import Q
from django.utils import timezone

from gateway.base import db_work
from gateway.features.alerts import config, email, evaluate, webhook
from gateway.models.alerts import BudgetAlert
from gateway.telemetry import audit

log = logging.getLogger("gateway.features.alerts")

MAX_ATTEMPTS = 8
BACKOFF_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 3600.0
BATCH = 20  # alerts posted per round (the rest the next round)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def _due() -> tuple[config.Settings, list[BudgetAlert]]:
    settings = config.load()
    now = timezone.now()
    due = BudgetAlert.objects.filter(status="pending").filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    found = list(due.order_by("created_at", "id")[:BATCH])
    if not settings.delivers and found:  # the webhook and the emails were removed meanwhile
        BudgetAlert.objects.filter(pk__in=[a.pk for a in found]).update(
            status="unsent", next_attempt_at=None
        )
        return settings, []
    return settings, found


def _stamp(pk: int, field: str) -> None:
    BudgetAlert.objects.filter(pk=pk).update(**{field: timezone.now()})


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


async def _deliver(settings: config.Settings, alert: BudgetAlert) -> list[str]:
    """Each channel set that has not had ``alert`` yet; what failed (empty: all sent)."""
    fields = evaluate.as_fields(alert)
    errors: list[str] = []
    if settings.webhook_url and alert.posted_at is None:
        try:
            await webhook.post(settings.webhook_url, webhook.payload(fields))
        except webhook.Refused as exc:
            errors.append(f"webhook: {exc}" if settings.email_recipients else str(exc))
        else:
            await db_work.arun(_stamp, alert.pk, "posted_at")
    if settings.email_recipients and alert.emailed_at is None:
        try:
            await email.send(list(settings.email_recipients), fields)
        except email.Refused as exc:
            errors.append(f"email: {exc}")
        else:
            await db_work.arun(_stamp, alert.pk, "emailed_at")
    return errors


async def deliver_due() -> int:
    """Send every due alert once on each channel set; how many were sent."""
    settings, due = await db_work.arun(_due)
    sent = 0
    for alert in due:
        attempts = alert.attempts + 1
        errors = await _deliver(settings, alert)
        if errors:
            error = "; ".join(errors)
            log.warning("budget alert %s not delivered (attempt %d): %s", alert.pk, attempts, error)
            await db_work.arun(_failed, alert.pk, attempts, error)
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


async def send_tests(settings: config.Settings) -> str:
    """A test message on each channel set, now; "" when each arrived, else why not."""
    if not settings.delivers:
        return "no webhook or email recipients are set"
    errors: list[str] = []
    if settings.webhook_url:
        error = await send_test(settings.webhook_url)
        if error:
            errors.append(f"webhook: {error}" if settings.email_recipients else error)
    if settings.email_recipients:
        try:
            await email.send(list(settings.email_recipients), {"test": True})
        except email.Refused as exc:
            errors.append(f"email: {exc}")
    return "; ".join(errors)


def test_now() -> str:
    """``send_tests`` with the saved settings (the page's and the API's button), audited."""
    error = async_to_sync(send_tests)(config.load())
    detail = f"test message failed: {error}" if error else "test message delivered"
    audit.record("alert_test", object_type="alert_settings", detail=detail)
    return error


def notice_text(notice: dict[str, Any]) -> tuple[str, str]:
    """(title, text) of a notice another feature raised (``hooks.notices``): a bill that
    drifted from the journal (gateway.features.billing), or a notice with its own
    ``title`` and ``text``."""
    if notice.get("kind") == "bill_drift":
        source = webhook.plain(notice["source"])
        title = f"Switchyard: the {source} bill of {notice['day']} differs from the journal"
        routes = "; ".join(
            f"{webhook.plain(r['provider'] or '(no provider)')} {webhook.plain(r['route'])}: "
            f"${r['drift_usd']:+.2f}"
            for r in notice.get("routes", [])
        )
        text = (
            f"{source} billed ${notice['provider_usd']:.2f} on {notice['day']} where the "
            f"journal counted ${notice['journal_usd']:.2f} (drift ${notice['drift_usd']:+.2f})."
            + (f" Largest: {routes}." if routes else "")
        )
        return title, text
    # any other kind says what it is itself (the cache doctor's cache_loss)
    title = webhook.plain(notice.get("title", "")) or "a notice"
    return f"Switchyard: {title}", webhook.plain(notice.get("text", ""))


async def deliver_notice(notice: dict[str, Any]) -> list[str]:
    """Send ``notice`` now to the webhook and the email recipients set: the channels
    that took it (none when none is set or all refused; the caller retries later)."""
    settings = await db_work.arun(config.load)
    if not settings.enabled:
        return []
    title, text = notice_text(notice)
    taken: list[str] = []
    if settings.webhook_url:
        try:
            await webhook.post(
                settings.webhook_url, {"text": f":warning: {text}", "notice": notice}
            )
        except webhook.Refused as exc:
            log.warning("notice not posted to the webhook: %s", exc)
        else:
            taken.append("webhook")
    if settings.email_recipients:
        try:
            await email.send_text(list(settings.email_recipients), title, text + "\n")
        except email.Refused as exc:
            log.warning("notice not emailed: %s", exc)
        else:
            taken.append("email")
    return taken
