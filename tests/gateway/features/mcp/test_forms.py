"""The MCP server form (``forms``): what a person typed, parsed into what ``save`` takes
(secrets apart: kept, removed or new; empty JSON and price as their defaults); stdio
offered only to who may register it, and everything disabled when read only."""

from __future__ import annotations

from decimal import Decimal

from gateway.features.mcp.forms import McpServerForm

TYPED = {
    "name": "docs",
    "transport": "streamable_http",
    "url": "https://docs.example/mcp",
    "connect_timeout": "5",
    "call_timeout": "30",
    "enabled": "on",
}


def form(**typed: str) -> McpServerForm:
    filled = McpServerForm({**TYPED, **typed})
    assert filled.is_valid(), filled.errors
    return filled


def test_the_values_save_takes_with_defaults_for_what_was_left_empty() -> None:
    values = form().values()
    assert values["name"] == "docs" and values["enabled"] is True
    assert values["headers"] == {} and values["env"] == {} and values["args"] == []
    assert values["price_usd"] == Decimal(0) and values["oauth"] == ""
    assert values["oauth_client_secret"] is None  # kept as stored
    assert "bearer" not in values and "clear_bearer" not in values
    assert "clear_oauth_client_secret" not in values
    typed = form(
        headers='{"X-Team": "blue"}', args='["-y", "pkg"]', price_usd="0.25", oauth="per_user"
    )
    values = typed.values()
    assert values["headers"] == {"X-Team": "blue"} and values["args"] == ["-y", "pkg"]
    assert values["price_usd"] == Decimal("0.25") and values["oauth"] == "per_user"


def test_the_client_secret_kept_replaced_or_removed() -> None:
    assert form(oauth_client_secret="new-secret").values()["oauth_client_secret"] == "new-secret"
    removed = form(oauth_client_secret="ignored", clear_oauth_client_secret="on")
    assert removed.values()["oauth_client_secret"] == ""


def test_the_bearer_kept_replaced_or_removed() -> None:
    assert form().bearer_change() is None
    assert form(bearer="sk-new-token").bearer_change() == "sk-new-token"
    assert form(bearer="sk-new-token", clear_bearer="on").bearer_change() == ""


def test_stdio_is_offered_only_to_who_may_register_it() -> None:
    offered = [c[0] for c in McpServerForm(stdio=True).fields["transport"].choices]
    assert "stdio" in offered and McpServerForm(stdio=True).stdio_fields
    hidden = McpServerForm(stdio=False)
    assert "stdio" not in [c[0] for c in hidden.fields["transport"].choices]
    assert not hidden.stdio_fields
    refused = McpServerForm({**TYPED, "transport": "stdio", "command": "python"}, stdio=False)
    assert not refused.is_valid() and "transport" in refused.errors


def test_a_read_only_form_shows_stdio_and_changes_nothing() -> None:
    shown = McpServerForm(stdio=False, read_only=True)
    assert shown.stdio_fields
    assert all(field.disabled for field in shown.fields.values())
    assert "stdio" in [c[0] for c in shown.fields["transport"].choices]


def test_bad_input_is_put_next_to_its_field() -> None:
    bad = McpServerForm({**TYPED, "headers": "{not json", "connect_timeout": "0"})
    assert not bad.is_valid()
    assert set(bad.errors) == {"headers", "connect_timeout"}
