"""Budget alerts in the management API (``gateway.features.alerts``): ``GET /api/alerts`` the
settings (the webhook masked, the email recipients) and the latest alerts with their
delivery state, ``PATCH /api/alerts`` the settings, ``POST /api/alerts/test`` a test
message now on each channel set,
``POST /api/alerts/{id}/retry`` a failed alert sent again. Owners and admins read;
owners change (``roles.API``). Per key, team and user thresholds are
``alert_thresholds`` on ``/api/keys``, ``/api/teams`` and ``/api/user-limits``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema, Status

from gateway.features.alerts import config, delivery, email
from gateway.models.alerts import BudgetAlert
from gateway.web import saving
from gateway.web.api.writes import ValidationErrors, check_fields

PATH = "/alerts"
router = Router(tags=["alerts"])


class AlertOut(Schema):
    id: int
    scope: str  # key | team | user
    subject_id: int
    subject_name: str
    period: str  # d2026-01-02, m2026-01 or total
    threshold: int  # percent of the budget
    spend_usd: Decimal
    budget_usd: Decimal
    created_at: datetime
    status: str  # pending | sent | failed | unsent (no webhook or email) | superseded
    attempts: int
    last_error: str
    next_attempt_at: datetime | None
    sent_at: datetime | None
    posted_at: datetime | None  # the webhook had it
    emailed_at: datetime | None  # the email recipients had it


class SettingsOut(Schema):
    enabled: bool
    webhook: str  # where it goes, never the whole URL ("" when none)
    webhook_set: bool
    default_thresholds: list[int]
    email_recipients: list[str]
    email_configured: bool  # whether the operator set up SMTP (SWITCHYARD_EMAIL_HOST)


class AlertsOut(SettingsOut):
    items: list[AlertOut]


class SettingsPatch(Schema):
    enabled: bool | None = None
    webhook_url: str | None = None  # "" or null removes it
    default_thresholds: list[int] | str | None = None  # null: back to 50, 80, 100
    email_recipients: list[str] | str | None = None  # null or [] stops the emails


class AlertFilters(Schema):
    scope: str | None = None
    status: str | None = None
    limit: int = 100


class TestOut(Schema):
    delivered: bool
    error: str


def _settings() -> dict[str, Any]:
    found = config.load()
    return {
        "enabled": found.enabled,
        "webhook": found.webhook_shown,
        "webhook_set": bool(found.webhook_url),
        "default_thresholds": found.default_thresholds,
        "email_recipients": list(found.email_recipients),
        "email_configured": email.configured(),
    }


@router.get("/", response=AlertsOut)
def get_alerts(request: HttpRequest, filters: Query[AlertFilters]) -> dict[str, Any]:
    """The settings and the latest alerts, newest first."""
    rows = BudgetAlert.objects.all()
    if filters.scope:
        rows = rows.filter(scope=filters.scope)
    if filters.status:
        rows = rows.filter(status=filters.status)
    return {**_settings(), "items": list(rows[: max(1, min(filters.limit, 1000))])}


@router.patch("/", response={200: SettingsOut, 422: ValidationErrors})
def update_settings(request: HttpRequest, payload: SettingsPatch) -> Status[Any]:
    given = payload.dict(exclude_unset=True)
    check_fields(request, "alerts", given)
    changes: dict[str, Any] = {}
    if "enabled" in given and given["enabled"] is not None:
        changes["enabled"] = given["enabled"]
    if "webhook_url" in given:
        changes["webhook_url"] = given["webhook_url"]
    if "default_thresholds" in given:
        changes["thresholds"] = given["default_thresholds"]
    if "email_recipients" in given:
        changes["email_recipients"] = given["email_recipients"]
    try:
        config.save(**changes)
    except ValidationError as exc:
        return Status(422, {"errors": saving.errors_by_field(exc)})
    return Status(200, _settings())


@router.post("/test", response=TestOut)
def send_test(request: HttpRequest) -> dict[str, Any]:
    """A test message to the webhook and the email recipients now; whether each
    arrived and, if not, why."""
    error = delivery.test_now()
    return {"delivered": not error, "error": error}


@router.post("/{rowid:alert_id}/retry", response=AlertOut)
def retry_alert(request: HttpRequest, alert_id: int) -> BudgetAlert:
    """Send a failed (or unsent) alert again at the next round."""
    if not delivery.retry(alert_id):
        raise Http404(f"no failed or unsent alert {alert_id}")
    alert: BudgetAlert = BudgetAlert.objects.get(pk=alert_id)
    return alert
