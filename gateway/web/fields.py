"""Form fields the console's forms and the units' share: a decimal shown as typed, a
comma-separated list, a stored secret, and the pick of guardrails the key, route and team
forms offer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from gateway.models import Guardrail


class PlainDecimalField(forms.DecimalField):
    """A decimal shown as typed: 0.5, not the stored 0.5000 (budgets and prices are
    kept with four to eight places, and the edit forms showed every one of them)."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"{value.normalize():f}" if value else "0"
        return super().prepare_value(value)


class SecretField(forms.CharField):
    """A secret typed into a form (an API key, a token, a webhook URL): never rendered
    with a value, so the stored one does not go back to the browser, nor filled in by
    its password manager; not required, empty keeping the stored one (the form's
    ``clear_…`` box removes it)."""

    def __init__(self, *, autocomplete: str = "new-password", **kwargs: Any) -> None:
        attrs = {"autocomplete": autocomplete}
        super().__init__(
            required=False, widget=forms.PasswordInput(render_value=False, attrs=attrs), **kwargs
        )


class CommaList(forms.CharField):
    """ "a, b, c" <-> ["a", "b", "c"]."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value: str | None) -> list[str]:
        return [v.strip() for v in (value or "").split(",") if v.strip()]


def guardrail_field(help_text: str) -> forms.MultipleChoiceField:
    """A pick of existing guardrails by name (its choices are read when the form is made:
    ``with_guardrail_choices``)."""
    return forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Guardrails",
        help_text=help_text,
    )


def with_guardrail_choices(form: forms.Form) -> None:
    field: Any = form.fields.get("guardrails")
    if field is not None:
        names = Guardrail.objects.order_by("name").values_list("name", "kind", "default_on")
        field.choices = [
            (name, f"{name} ({kind}{', on by default' if default_on else ''})")
            for name, kind, default_on in names
        ]
