"""The console's shared form fields (``gateway.web.fields``): a decimal shown as typed, a
comma list both ways, a secret never rendered back, and the guardrails offered by name
with their kind."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django import forms

from gateway.models import Guardrail
from gateway.web.fields import (
    CommaList,
    PlainDecimalField,
    SecretField,
    guardrail_field,
    with_guardrail_choices,
)


def test_a_decimal_is_shown_as_typed() -> None:
    field = PlainDecimalField()
    assert field.prepare_value(Decimal("0.5000")) == "0.5"
    assert field.prepare_value(Decimal("100.0000")) == "100"
    assert field.prepare_value(Decimal("0E-8")) == "0"
    assert field.prepare_value("1.50") == "1.50"


def test_a_comma_list_reads_and_shows_both_ways() -> None:
    field = CommaList(required=False)
    assert field.clean(" a, b ,, c ") == ["a", "b", "c"]
    assert field.to_python(None) == []
    assert field.prepare_value(["a", "b"]) == "a, b"
    assert field.prepare_value("as typed") == "as typed"


def test_a_secret_is_optional_and_never_rendered_back() -> None:
    class Form(forms.Form):
        token = SecretField()
        hook = SecretField(autocomplete="off")

    form = Form(initial={"token": "sk-stored"})
    html = str(form["token"])
    assert "sk-stored" not in html and 'autocomplete="new-password"' in html
    assert 'autocomplete="off"' in str(form["hook"])
    assert Form({}).is_valid()


@pytest.mark.django_db
def test_the_guardrails_are_offered_by_name_with_their_kind() -> None:
    Guardrail.objects.create(name="pii", kind="presidio", default_on=True)
    Guardrail.objects.create(name="b-words", kind="words")

    class Form(forms.Form):
        guardrails = guardrail_field("which run")

    form = Form()
    with_guardrail_choices(form)
    assert form.fields["guardrails"].choices == [
        ("b-words", "b-words (words)"),
        ("pii", "pii (presidio, on by default)"),
    ]
    assert not form.fields["guardrails"].required
    bare = forms.Form()
    with_guardrail_choices(bare)  # a form without the field is left alone
    assert bare.fields == {}
