"""Who may write each field of the budget alerts' settings (``gateway.access.field_rules``):
owners. Imported by the unit's ``register`` (``apps.py``)."""

from __future__ import annotations

from gateway.access import field_rules

field_rules.declare(
    "alerts",
    field_rules.same(
        field_rules.OWNER,
        *("enabled", "webhook_url", "clear_webhook", "default_thresholds"),
        "email_recipients",
    ),
)
