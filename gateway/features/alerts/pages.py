"""The budget alerts' console page (``gateway.web.pages.Page``): admins read them;
owners set the webhook, test it, send a failed alert again."""

from __future__ import annotations

from gateway.features.alerts import views
from gateway.web.pages import Nav, Page, register

ALERTS = Nav("Observe", "Alerts", ("alert",), order=40)

register(
    Page(
        "alerts/", views.alerts_page, "alerts", read="spend.view", write="settings.edit", nav=ALERTS
    ),
    Page("alerts/test/", views.alerts_test, "alerts-test", read="settings.edit"),
    Page("alerts/<int:pk>/retry/", views.alert_retry, "alert-retry", read="settings.edit"),
)
