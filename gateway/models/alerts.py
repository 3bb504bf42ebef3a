"""Budget alerts' tables (gateway/features/alerts): the one ``AlertSettings`` row (webhook and
default thresholds) and ``BudgetAlert``, one row per alert raised: unique per (scope,
subject, budget period, threshold, budget), which is what makes "once per period per
threshold of this budget" hold across evaluator runs, restarts and instances, and what
re-arms the thresholds when the budget changes (issue #65)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone

from gateway.models import SettingsRow

DEFAULT_THRESHOLDS = [50, 80, 100]


def default_thresholds() -> list[int]:
    return list(DEFAULT_THRESHOLDS)


class AlertSettings(SettingsRow):
    """The webhook and the email addresses budget alerts go to and the thresholds of
    every key, team and user without their own. One row (pk 1); ``webhook_ciphertext`` is the URL encrypted at
    rest (a Slack webhook's path is its secret), never shown in full."""

    enabled = models.BooleanField(default=True)
    webhook_ciphertext = models.TextField(blank=True, default="")
    # addresses every alert is emailed to (gateway/features/alerts/email.py; the operator's SMTP)
    email_recipients = models.JSONField(default=list, blank=True)
    default_thresholds = models.JSONField(default=default_thresholds, blank=True)

    class Meta:
        app_label = "gateway"
        verbose_name_plural = "alert settings"


class BudgetAlert(models.Model):
    """A threshold of one budget crossed by a key's, team's or user's spend in one budget
    period, and the state of its delivery to the webhook and the email recipients
    (retried with backoff until sent or given up; ``unsent`` when neither was set)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        UNSENT = "unsent", "No webhook or email"
        SUPERSEDED = "superseded", "Superseded"  # a higher threshold crossed at once

    scope = models.CharField(max_length=10, help_text="key | team | user")
    subject_id = models.BigIntegerField()
    subject_name = models.CharField(max_length=200, blank=True)
    period = models.CharField(
        max_length=20, help_text="budget period id: d2026-01-02, m2026-01, total"
    )
    threshold = models.PositiveSmallIntegerField(help_text="percent of the budget")
    spend_usd = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal("0"))
    budget_usd = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)  # every channel set has it
    # each channel's own delivery (None: not yet), so a retry never sends one twice
    posted_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "gateway"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "subject_id", "period", "threshold", "budget_usd"],
                name="budget_alert_once_per_budget",
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="budget_alert_due"),
            models.Index(fields=["-created_at", "-id"], name="budget_alert_time"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.subject_name} {self.threshold}% of {self.period}"
