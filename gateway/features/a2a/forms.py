"""The A2A agent form: what a person typed, parsed; validation and saving are
``gateway.features.a2a.save``'s, whose errors are put back next to the fields."""

from __future__ import annotations

from typing import Any

from django import forms

from gateway.models import A2aAgent
from gateway.web.fields import SecretField


class AgentForm(forms.Form):
    name = forms.CharField(max_length=63, help_text="served at /a2a/<name>")
    description = forms.CharField(required=False, max_length=300)
    url = forms.CharField(
        max_length=500,
        help_text="the agent card's URL, or the agent's base URL (its card is then "
        "/.well-known/agent-card.json under it)",
    )
    auth = forms.ChoiceField(choices=A2aAgent.Auth.choices, required=False)
    bearer = SecretField(
        label="Bearer token",
        help_text="Sent to the agent as Authorization: Bearer; stored encrypted, or "
        "os.environ/NAME. Callers never see it.",
    )
    clear_bearer = forms.BooleanField(required=False, label="Remove the stored token")
    oauth_issuer = forms.URLField(
        required=False,
        assume_scheme="https",
        max_length=500,
        label="OAuth authorization server",
        help_text="for OAuth per user: its issuer URL; empty: discovered from the agent",
    )
    oauth_client_id = forms.CharField(
        required=False,
        max_length=200,
        label="OAuth client id",
        help_text="a pre-registered client; empty: the gateway registers itself",
    )
    oauth_client_secret_ref = forms.CharField(
        required=False,
        max_length=200,
        label="OAuth client secret",
        help_text="the operator's secret as os.environ/NAME (a public client: empty)",
    )
    oauth_scopes = forms.CharField(
        required=False, max_length=300, label="OAuth scopes", help_text="empty: as discovered"
    )
    price_usd = forms.DecimalField(
        min_value=0, decimal_places=6, initial=0, help_text="charged per message to the caller"
    )
    run_budget_usd = forms.DecimalField(
        required=False,
        min_value=0,
        decimal_places=6,
        label="Budget per run (USD)",
        help_text="the most one run may spend: this call's price and reported cost, and "
        "the model and MCP calls the agent makes with the caller's token; empty: none",
    )
    session_budget_usd = forms.DecimalField(
        required=False,
        min_value=0,
        decimal_places=6,
        label="Budget per session (USD)",
        help_text="the most one session (an A2A context id) may spend: every run of the "
        "caller's key in it and every call those runs make; empty: none",
    )
    act_as_caller = forms.BooleanField(
        required=False,
        label="Acts as its callers",
        help_text="each message carries a token the agent may call models and MCP tools "
        "with as the caller (their key's permissions and budgets, for this run only); "
        "only for an agent you trust with that",
    )
    timeout = forms.FloatField(min_value=0.1, initial=300.0, help_text="seconds")
    enabled = forms.BooleanField(required=False, initial=True)

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            name: data[name]
            for name in (
                "name",
                "description",
                "url",
                "auth",
                "price_usd",
                "run_budget_usd",
                "session_budget_usd",
                "act_as_caller",
            )
            + ("timeout", "enabled")
            + ("oauth_issuer", "oauth_client_id", "oauth_client_secret_ref", "oauth_scopes")
        }

    def bearer_change(self) -> str | None:
        """'' clears the token, None keeps it, anything else replaces it."""
        if self.cleaned_data.get("clear_bearer"):
            return ""
        return self.cleaned_data.get("bearer") or None
