"""Budget alerts in the management API (``gateway.features.alerts.api``): ``/api/alerts``
reads the settings (the webhook masked) and the latest alerts, filtered; ``PATCH`` changes
the settings (a bad value a 422 naming the field, nothing saved); a failed alert is sent
again once; a test message reports why it did not arrive. Who may call them is in the
role matrix (``test_views.py``'s ``ROLE_EXPECTATIONS``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.test import Client

from gateway.features.alerts import config
from gateway.models import AuditEvent
from gateway.models.alerts import BudgetAlert

SLACK = "https://hooks.slack.com/services/T1/B2/TopSecretTokenAbcd"


def test_the_api_reads_and_changes_the_settings(owner, failed):
    assert (
        owner.patch(
            "/api/alerts",
            {"webhook_url": SLACK, "default_thresholds": [75, 100]},
            content_type="application/json",
        ).status_code
        == 200
    )
    data = owner.get("/api/alerts/").json()
    assert data["webhook"] == "https://hooks.slack.com/…Abcd" and data["webhook_set"]
    assert data["default_thresholds"] == [75, 100]
    assert data["items"][0]["status"] == "failed" and data["items"][0]["last_error"]
    bad = owner.patch("/api/alerts", {"default_thresholds": [0]}, content_type="application/json")
    assert bad.status_code == 422 and "default_thresholds" in bad.json()["errors"]
    assert owner.post(f"/api/alerts/{failed.pk}/retry").json()["status"] == "pending"
    assert owner.post(f"/api/alerts/{failed.pk}/retry").status_code == 404  # not failed now


def test_the_alerts_are_filtered_newest_first(owner: Client, failed: BudgetAlert) -> None:
    sent = BudgetAlert.objects.create(
        scope="team",
        subject_id=2,
        subject_name="research",
        period="total",
        threshold=50,
        spend_usd=Decimal("5"),
        budget_usd=Decimal("10"),
        status="sent",
    )
    everything = owner.get("/api/alerts/").json()["items"]
    assert [a["id"] for a in everything] == [sent.pk, failed.pk]
    assert [a["id"] for a in owner.get("/api/alerts/?scope=key").json()["items"]] == [failed.pk]
    assert [a["id"] for a in owner.get("/api/alerts/?status=sent").json()["items"]] == [sent.pk]
    assert len(owner.get("/api/alerts/?limit=0").json()["items"]) == 1  # at least one


def test_settings_patched_field_by_field(owner: Client, settings: Any) -> None:
    settings.SWITCHYARD_ALERT_EMAIL = True  # the operator set SWITCHYARD_EMAIL_HOST
    settings.EMAIL_HOST = "smtp.example.test"

    def patch(body: dict[str, object]) -> dict[str, object]:
        answer = owner.patch("/api/alerts", body, content_type="application/json")
        assert answer.status_code == 200, answer.content
        return dict(answer.json())

    assert patch({"enabled": False})["enabled"] is False
    assert patch({"enabled": None})["enabled"] is False  # null: unchanged
    shown = patch({"webhook_url": SLACK, "email_recipients": ["ops@example.com"]})
    assert shown["webhook_set"] and "TopSecret" not in str(shown)
    assert shown["email_recipients"] == ["ops@example.com"]
    assert patch({"default_thresholds": None})["default_thresholds"] == [50, 80, 100]
    cleared = patch({"webhook_url": ""})
    assert cleared["webhook_set"] is False and cleared["webhook"] == ""
    assert list(config.load().email_recipients) == ["ops@example.com"]
    assert patch({"email_recipients": None})["email_recipients"] == []


def test_a_test_message_with_nowhere_to_go_says_so(owner: Client) -> None:
    answer = owner.post("/api/alerts/test").json()
    assert answer["delivered"] is False and answer["error"]
    assert AuditEvent.objects.filter(action="alert_test").count() == 1


def test_retrying_an_alert_that_is_not_there(owner: Client) -> None:
    assert owner.post("/api/alerts/424242/retry").status_code == 404
