"""The A2A agent form (``gateway.features.a2a.forms``): what a person typed, parsed into
the values ``save.save_agent`` takes, and the bearer token kept, replaced or cleared."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.features.a2a import forms, save

TYPED = {
    "name": "echo",
    "url": "https://agents.example/echo",
    "auth": "bearer",
    "price_usd": "0.25",
    "timeout": "30",
    "enabled": "on",
}


def _form(**changes: Any) -> forms.AgentForm:
    form = forms.AgentForm({**TYPED, **changes})
    assert form.is_valid(), form.errors
    return form


def test_the_values_are_what_saving_takes() -> None:
    values = _form(run_budget_usd="1.5").values()
    assert set(values) == set(save.FIELDS)
    assert values["price_usd"] == Decimal("0.25") and values["timeout"] == 30.0
    assert values["run_budget_usd"] == Decimal("1.5")
    assert values["session_budget_usd"] is None  # empty: no budget
    assert values["enabled"] is True and values["act_as_caller"] is False


def test_the_bearer_is_kept_replaced_or_cleared() -> None:
    assert _form().bearer_change() is None
    assert _form(bearer="s3cret").bearer_change() == "s3cret"
    assert _form(bearer="os.environ/AGENT_TOKEN").bearer_change() == "os.environ/AGENT_TOKEN"
    assert _form(bearer="s3cret", clear_bearer="on").bearer_change() == ""


def test_out_of_range_numbers_are_refused_on_their_fields() -> None:
    form = forms.AgentForm({**TYPED, "timeout": "0", "price_usd": "-1", "auth": "mtls"})
    assert not form.is_valid()
    assert {"timeout", "price_usd", "auth"} <= set(form.errors)
