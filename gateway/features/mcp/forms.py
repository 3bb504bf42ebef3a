"""The MCP server form: what a person typed, parsed; validation that matters and saving
are ``gateway.features.mcp.save``'s, whose errors are put back next to the fields."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from gateway.models import McpServer
from gateway.web.fields import SecretField

JSON_ATTRS = {"rows": 2, "class": "mono", "spellcheck": "false"}


class McpServerForm(forms.Form):
    name = forms.CharField(
        max_length=63, help_text="letters, digits, - and _ (tools appear as name__tool)"
    )
    description = forms.CharField(required=False, max_length=300)
    transport = forms.ChoiceField(choices=McpServer.Transport.choices)
    url = forms.CharField(
        required=False,
        max_length=500,
        help_text="HTTP and SSE: the endpoint URL, or os.environ/NAME",
    )
    bearer = SecretField(
        label="Bearer token",
        help_text="Sent as Authorization: Bearer; stored encrypted, or os.environ/NAME.",
    )
    clear_bearer = forms.BooleanField(required=False, label="Remove the stored token")
    headers = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs=JSON_ATTRS),
        help_text="JSON object; values stored encrypted (or os.environ/NAME), shown masked.",
    )
    command = forms.CharField(required=False, max_length=500, help_text="stdio: the program")
    args = forms.JSONField(
        required=False,
        initial=list,
        widget=forms.Textarea(attrs=JSON_ATTRS),
        help_text='stdio: JSON list of arguments, e.g. ["-y", "@scope/server"]',
    )
    env = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs=JSON_ATTRS),
        help_text="stdio: JSON object of environment variables (stored like headers).",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    connect_timeout = forms.FloatField(min_value=0.1, initial=10.0, help_text="seconds")
    call_timeout = forms.FloatField(min_value=0.1, initial=60.0, help_text="seconds per call")
    price_usd = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=6,
        initial=0,
        label="Price per call (USD)",
        help_text="charged to the caller's budget for each tool call the server answers",
    )
    sampling_route = forms.CharField(
        required=False,
        max_length=200,
        help_text="A route that answers the server's sampling requests when the client "
        "cannot (under the caller's key, which must be allowed it); blank: they fail.",
    )
    oauth = forms.ChoiceField(
        choices=McpServer.OAuth.choices,
        required=False,
        label="OAuth",
        help_text="per user: each person connects once (MCP connections page); service: "
        "one client-credentials token for every caller",
    )
    oauth_client_id = forms.CharField(
        required=False,
        max_length=200,
        label="OAuth client id",
        help_text="a pre-registered client; empty: dynamic client registration",
    )
    oauth_client_secret = SecretField(
        label="OAuth client secret",
        help_text="stored encrypted; empty keeps the stored one",
    )
    clear_oauth_client_secret = forms.BooleanField(
        required=False, label="Remove the stored client secret"
    )
    oauth_scopes = forms.CharField(
        required=False,
        max_length=300,
        label="OAuth scopes",
        help_text="space-separated; empty: what the server's metadata names",
    )

    def __init__(
        self, *args: Any, stdio: bool = True, read_only: bool = False, **kwargs: Any
    ) -> None:
        """``stdio``: the actor may register stdio servers (the operator's setting);
        ``read_only``: a stdio server shown to someone who may not change it."""
        super().__init__(*args, **kwargs)
        stdio_choice = McpServer.Transport.STDIO
        # the stdio fields (command, args, env) only where stdio can be chosen or is shown
        self.stdio_fields = stdio or read_only
        if not stdio and not read_only:
            self.fields["transport"].choices = [
                choice for choice in McpServer.Transport.choices if choice[0] != stdio_choice
            ]
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("bearer", None)
        data.pop("clear_bearer", None)
        secret = data.pop("oauth_client_secret", "") or None
        data["oauth_client_secret"] = "" if data.pop("clear_oauth_client_secret", False) else secret
        data["oauth"] = data.get("oauth") or ""
        if data.get("price_usd") is None:  # left empty: free
            data["price_usd"] = Decimal(0)
        for name, empty in (("headers", {}), ("env", {}), ("args", [])):
            if data.get(name) in (None, ""):
                data[name] = empty
        return data

    def bearer_change(self) -> str | None:
        """None: keep the stored token; "": remove it; else the new one."""
        if self.cleaned_data.get("clear_bearer"):
            return ""
        return self.cleaned_data.get("bearer") or None
