"""Who may write each field of a guardrail (the field rules, ``gateway.access.field_rules``):
owners and admins, every field (any role reads them: ability ``guardrails.view``). Imported
by the unit's ``register`` (``apps.py``)."""

from __future__ import annotations

from gateway.access import field_rules

field_rules.declare(
    "guardrails",
    field_rules.same(
        field_rules.ADMIN,
        *("name", "kind", "modes", "default_on", "monitor", "unreachable_fallback"),
        *("timeout", "params", "enabled", "description"),
    ),
)
