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
