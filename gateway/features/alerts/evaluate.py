"""Raising alerts: the current budget period's spend of every key, team and user with a
budget, from the hourly spend rollups (a budget period starts on an hour, so the rollups
of the period are exactly its spend), against each one's thresholds.

One ``BudgetAlert`` row per crossed threshold, inserted only when no row of the same
(scope, subject, period, threshold, budget) exists: the unique constraint makes that
exact even when two evaluators race (the loser's insert fails and is skipped). The
budget is part of it: an alert is for a threshold of *this* budget, so a budget raised
after its 100 % alert re-arms every threshold (issue #65: a team at $0.10 raised to $5
is told again at 50 % of the $5). Several thresholds
crossed at once (a first round, a large batch) raise one alert to send, the highest; the
lower ones are recorded as superseded so they never fire later in the period. Each new
row is audited."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from gateway.base.entries import same_named
from gateway.features.alerts import config
from gateway.models import ApiKey, Profile, Team
from gateway.models.alerts import BudgetAlert
from gateway.telemetry import audit, budget_spend

ACTOR = audit.Actor("system", "budget alerts", "", "system")


@dataclass(frozen=True, slots=True)
class Subject:
    scope: str  # key | team | user
    id: int
    name: str
    budget: Decimal
    period: str  # day | month | total
    thresholds: tuple[int, ...]


def subjects(defaults: list[int]) -> list[Subject]:
    """Everything with a budget and at least one threshold (its own, else ``defaults``)."""
    keys = ApiKey.objects.filter(budget_usd__gt=0, revoked_at__isnull=True)
    keys = keys.only("id", "name", "budget_usd", "budget_period", "alert_thresholds")
    users = Profile.objects.filter(budget_usd__gt=0).select_related("user")
    named: list[tuple[str, int, str, Any]] = [
        *(("key", key.pk, key.name, key) for key in keys),
        *(("team", team.pk, team.name, team) for team in Team.objects.filter(budget_usd__gt=0)),
        *(("user", p.user_id, p.user.get_username(), p) for p in users),
    ]
    found = []
    for scope, pk, name, row in named:
        own = defaults if row.alert_thresholds is None else row.alert_thresholds
        found.append(Subject(scope, pk, name, row.budget_usd, row.budget_period, tuple(own)))
    return [s for s in found if s.thresholds]


def period_label(period_id: str) -> str:
    if period_id.startswith("d"):
        return f"the day {period_id[1:]} (UTC)"
    if period_id.startswith("m"):
        return f"the month {period_id[1:]} (UTC)"
    return "total"


def raise_alerts(at: float | None = None) -> list[int]:
    """One round: the ids of the alerts raised now (new rows, superseded ones left out)."""
    settings = config.load()
    if not settings.enabled:
        return []
    found = subjects(settings.default_thresholds)
    if not found:
        return []
    ledger = budget_spend.Ledger(at)
    raised: list[int] = []
    for subject in found:
        period_id = ledger.period_id(subject.period)
        total = ledger.spent(subject.scope, subject.id, subject.period)
        percent = total / subject.budget * 100
        crossed = [t for t in subject.thresholds if percent >= t]
        if not crossed:
            continue
        known = set(
            BudgetAlert.objects.filter(
                scope=subject.scope,
                subject_id=subject.id,
                period=period_id,
                budget_usd=subject.budget,
            ).values_list("threshold", flat=True)
        )
        new = [t for t in crossed if t not in known]
        for threshold in new:
            status = _status(settings, superseded=threshold != max(new))
            alert = _insert(subject, period_id, threshold, total, status)
            if alert is not None and status != "superseded":
                raised.append(alert.pk)
    return raised


def _status(settings: config.Settings, superseded: bool) -> str:
    if superseded:
        return "superseded"
    return "pending" if settings.delivers else "unsent"


def _insert(
    subject: Subject, period_id: str, threshold: int, total: Decimal, status: str
) -> BudgetAlert | None:
    """The new row and its audit event, or None when another evaluator raised it first."""
    try:
        with transaction.atomic():
            alert = BudgetAlert.objects.create(
                scope=subject.scope,
                subject_id=subject.id,
                subject_name=subject.name[:200],
                period=period_id,
                threshold=threshold,
                spend_usd=total,
                budget_usd=subject.budget,
                status=status,
            )
            audit.record(
                "alert",
                object_type=subject.scope,
                object_id=subject.id,
                object_name=subject.name,
                detail=(
                    f"spent ${total:.2f} of ${subject.budget:.2f} in {period_label(period_id)}: "
                    f"past {threshold}% ({status})"
                ),
                actor=ACTOR,
            )
    except IntegrityError:
        return None
    created: BudgetAlert = alert
    return created


def as_fields(alert: BudgetAlert) -> dict[str, Any]:
    """What the webhook's structured part says of ``alert``."""
    budget = alert.budget_usd or Decimal(0)
    return {
        **same_named(alert, "scope subject_id subject_name period"),
        "period_label": period_label(alert.period),
        "threshold": alert.threshold,
        "spend_usd": alert.spend_usd,
        "budget_usd": budget,
        "percent": (alert.spend_usd / budget * 100) if budget else Decimal(0),
        "raised_at": alert.created_at.isoformat(),
    }
