"""A save's ``ValidationError`` for the one who sent it (``gateway.web.saving``): by field
for ``/api`` (errors not tied to a field under ``__all__``), next to its fields on a
console form; ``saved`` saves, says so and goes on, or puts the errors on the form."""

from __future__ import annotations

from django import forms
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.test import RequestFactory

from gateway.web.saving import errors_by_field, saved, show_errors


class NameForm(forms.Form):
    name = forms.CharField(required=False)


def test_errors_are_grouped_by_field_or_under_all() -> None:
    by_field = ValidationError({"name": ["taken", "too long"], "url": "bad"})
    assert errors_by_field(by_field) == {"name": ["taken", "too long"], "url": ["bad"]}
    loose = ValidationError(["one", "two"])
    assert errors_by_field(loose) == {NON_FIELD_ERRORS: ["one", "two"]}
    assert errors_by_field(ValidationError("%(n)s gone", params={"n": "x"})) == {
        NON_FIELD_ERRORS: ["x gone"]
    }


def test_a_forms_errors_go_next_to_its_fields_and_the_rest_on_top() -> None:
    form = NameForm({"name": "x"})
    assert form.is_valid()
    show_errors(
        form, ValidationError({"name": "taken", "colour": "unknown", NON_FIELD_ERRORS: "no"})
    )
    assert form.errors["name"] == ["taken"]
    assert form.non_field_errors() == ["colour: unknown", "no"]


def request(htmx: bool = False):  # type: ignore[no-untyped-def]
    made = RequestFactory().post("/x")
    made.htmx = htmx
    made.session = {}
    made._messages = FallbackStorage(made)
    return made


def test_a_save_says_what_it_did_and_goes_on() -> None:
    sent = request()
    form = NameForm({"name": "x"})
    form.is_valid()
    answer = saved(sent, form, lambda: 7, lambda n: f"saved {n}", "/next/")
    assert answer is not None and (answer.status_code, answer["Location"]) == (302, "/next/")
    assert [str(m) for m in get_messages(sent)] == ["saved 7"]
    htmx = saved(request(htmx=True), form, lambda: None, "done", "/next/")
    assert htmx is not None and htmx["HX-Redirect"] == "/next/"


def test_a_refused_save_puts_its_errors_on_the_form_and_says_nothing() -> None:
    sent = request()
    form = NameForm({"name": "x"})
    form.is_valid()

    def refuse() -> None:
        raise ValidationError({"name": "taken"})

    assert saved(sent, form, refuse, "saved", "/next/") is None
    assert form.errors["name"] == ["taken"]
    assert list(get_messages(sent)) == []
