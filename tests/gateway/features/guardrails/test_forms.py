"""The guardrail form (``gateway.features.guardrails.forms``): the params as a JSON
object, the name not taken by another guardrail, every field's error at once (a bad
timeout and a bad param both shown, each next to its field), the shared save's errors
put back next to their fields, and the values as the save takes them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from gateway.features.guardrails import forms, kinds, save

WORDS = {"blocked_words": [{"keyword": "nightingale", "action": "BLOCK"}]}
TYPED = {
    "name": "words",
    "kind": "litellm_content_filter",
    "modes": ["pre_call"],
    "unreachable_fallback": "fail_closed",
    "timeout": "5",
    "params": json.dumps(WORDS),
    "enabled": "on",
}


def _form(guardrail: Any = None, **changes: Any) -> forms.GuardrailForm:
    return forms.GuardrailForm({**TYPED, **changes}, guardrail=guardrail)


@pytest.mark.django_db
def test_a_good_form_gives_what_the_save_takes() -> None:
    form = _form()
    assert form.is_valid(), form.errors
    values = form.values()
    assert values["params"] == WORDS and values["modes"] == ["pre_call"]
    assert values["timeout"] == 5.0 and values["enabled"] is True
    row = save.save_guardrail(None, values)
    assert row.name == "words"
    initial = forms.GuardrailForm.initial_of(row)
    assert json.loads(initial["params"]) == WORDS and initial["modes"] == ["pre_call"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "says"),
    [("{not json", "not JSON: "), ("[1]", "must be a JSON object")],
)
def test_params_must_be_a_json_object(params: str, says: str) -> None:
    form = _form(params=params)
    assert not form.is_valid() and says in form.errors["params"][0]


@pytest.mark.django_db
def test_a_name_taken_by_another_guardrail() -> None:
    row = save.save_guardrail(None, _valid_values())
    assert "exists" in _form().errors["name"][0]
    assert _form(guardrail=row).is_valid()  # its own name


def _valid_values() -> dict[str, Any]:
    form = _form()
    assert form.is_valid(), form.errors
    return form.values()


@pytest.mark.django_db
def test_every_fields_error_shows_at_once() -> None:
    bad = {"patterns": [{"pattern_type": "regex", "pattern": "(", "action": "BLOCK"}]}
    form = _form(timeout="999", params=json.dumps(bad))
    assert not form.is_valid()
    assert set(form.errors) == {"timeout", "params"}
    assert form.errors["params"][0].startswith("params.patterns[0].pattern:")


@pytest.mark.django_db
def test_a_mode_the_kind_does_not_run_in(monkeypatch: pytest.MonkeyPatch) -> None:
    only_pre = kinds.Kind("pre_only", "Pre only", "content_filter", modes=frozenset({"pre_call"}))
    monkeypatch.setitem(kinds.KINDS, "pre_only", only_pre)
    form = _form(kind="pre_only", modes=["post_call"])
    assert not form.is_valid() and "modes" in form.errors


@pytest.mark.django_db
def test_the_saves_errors_go_next_to_their_fields() -> None:
    form = _form()
    assert form.is_valid()
    form.show(ValidationError({"params.api_base": ["is required"], "mode": ["bad"], "x": ["?"]}))
    assert form.errors["params"] == ["params.api_base: is required"]
    assert form.errors["modes"] == ["mode: bad"]
    assert form.non_field_errors() == ["x: ?"]


def test_each_kind_with_its_modes_and_example() -> None:
    shown = {k["name"]: k for k in forms.kinds_for_form()}
    assert set(shown) == set(kinds.KINDS)
    assert json.loads(shown["litellm_content_filter"]["example"])["blocked_words"]
    assert shown["litellm_content_filter"]["modes"][0] == "pre_call"
    assert dict(forms.kind_choices())["presidio"] == "PII (Presidio)"
