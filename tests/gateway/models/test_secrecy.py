"""Every stored text and JSON field declares its secrecy (gateway.models.secrecy): a new
field is declared secret or plain the day it is added, never guessed from its name
(issue #61, M18)."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models

from gateway.models import secrecy

TEXT = (models.CharField, models.TextField, models.JSONField, models.BinaryField)


def undeclared(candidates: list[type[models.Model]]) -> list[str]:
    """``app.Model.field`` of each text or JSON field the table does not name."""
    return [
        f"{model._meta.label}.{field.name}"
        for model in candidates
        for field in model._meta.concrete_fields
        if isinstance(field, TEXT) and field.name not in secrecy.DECLARED.get(model._meta.label, {})
    ]


def stored_models() -> list[type[models.Model]]:
    ours = [m for m in apps.get_models() if m._meta.app_label in ("gateway", "console")]
    return [*ours, get_user_model()]


def test_every_stored_field_declares_its_secrecy() -> None:
    assert undeclared(stored_models()) == []


def test_a_field_without_a_declaration_is_caught() -> None:
    """The walk is live: a model with a field the table does not name fails it."""

    class Webhook(models.Model):
        url = models.CharField(max_length=200)
        session_cookie = models.CharField(max_length=200)  # no heuristic would say "secret"
        retries = models.IntegerField(default=0)  # holds no text: nothing to declare

        class Meta:
            app_label = "gateway"
            managed = False

    try:
        assert undeclared([Webhook]) == ["gateway.Webhook.url", "gateway.Webhook.session_cookie"]
        assert secrecy.of("gateway.Webhook", "session_cookie") is secrecy.SECRET  # safe default
    finally:
        apps.all_models["gateway"].pop("webhook", None)
        apps.clear_cache()


def test_no_stale_declaration() -> None:
    """A declared field that no longer exists is a typo or a leftover."""
    fields = {m._meta.label: {f.name for f in m._meta.concrete_fields} for m in stored_models()}
    stale = [
        f"{label}.{name}"
        for label, declared in secrecy.DECLARED.items()
        for name in declared
        if name not in fields.get(label, set())
    ]
    assert stale == []


# URL-typed fields the OAuth protocol writes (an issuer it discovered, a redirect URI a
# client registered), never a person's form or /api: looked up by value, so not sealed;
# their audit rows still mask user info and query values (the URL type).
PROTOCOL_URLS = {
    "gateway.McpUpstreamClient.issuer",
    "gateway.McpUpstreamClient.redirect_uri",
    "gateway.McpOAuthToken.issuer",
    "gateway.McpOAuthState.redirect_uri",
    "gateway.McpOAuthState.issuer",
    "gateway.McpOAuthClient.client_uri",
    "gateway.McpAuthorizationCode.redirect_uri",
}


def test_every_url_a_person_writes_is_sealed_at_rest() -> None:
    """A URL a console or /api user writes (a provider's base URL, an MCP server's or an
    A2A agent's URL)
    is stored sealed when it carries user info or a query (``SealedUrlField``), as the
    URL type says; a new URL field is sealed or named above with why."""
    from gateway.models.sealed import SealedUrlField

    urls = {
        f"{label}.{name}"
        for label, fields in secrecy.DECLARED.items()
        for name, kind in fields.items()
        if kind is secrecy.URL
    }
    sealed = {
        f"{m._meta.label}.{f.name}"
        for m in stored_models()
        for f in m._meta.concrete_fields
        if isinstance(f, SealedUrlField)
    }
    assert sealed == {
        "gateway.Provider.base_url",
        "gateway.McpServer.url",
        "gateway.A2aAgent.url",
        "gateway.A2aAgent.oauth_issuer",
        "gateway.Route.web_search_url",
    }
    assert urls - sealed == PROTOCOL_URLS
    assert sealed <= urls  # a sealed URL is declared one
