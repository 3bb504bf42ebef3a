"""The one way a guardrail is saved (``gateway.features.guardrails.save``): ``prepare``
validates every field (an unknown field, a flag that is no boolean, a missing kind, the
kind's params with the bad one named) before anything is written, seals the secrets the
kind declares and keeps a stored secret a mask sends back; ``save_guardrail`` saves it;
``delete_guardrail`` refuses while a key, team or route names it. The management API
over the same save is ``test_api.py``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from gateway.features.guardrails import save
from gateway.models import Guardrail, Team

SECRET = "sk-guard-secret-value"
GENERIC = {
    "name": "guard",
    "kind": "generic_guardrail_api",
    "mode": "pre_call",
    "params": {"api_base": "https://guard.example.com", "api_key": SECRET},
}
FILTER = {
    "name": "words",
    "kind": "litellm_content_filter",
    "modes": ["pre_call", "post_call"],
    "params": {"blocked_words": [{"keyword": "nightingale", "action": "BLOCK"}]},
}


def _refused(values: dict[str, Any], guardrail: Guardrail | None = None) -> dict[str, Any]:
    with pytest.raises(ValidationError) as refused:
        save.prepare(guardrail, values)
    return dict(refused.value.message_dict)


def test_each_bad_field_is_named() -> None:
    assert set(_refused({**FILTER, "colour": "red"})) == {"colour"}
    assert set(_refused({**FILTER, "monitor": "yes", "name": 3})) == {"monitor", "name"}
    assert set(_refused({"name": "x"})) == {"kind"}
    bad_regex = {"patterns": [{"pattern_type": "regex", "pattern": "(", "action": "BLOCK"}]}
    assert list(_refused({**FILTER, "params": bad_regex})) == ["params.patterns[0].pattern"]
    assert list(_refused({**GENERIC, "params": {"api_key": "k"}})) == ["params.api_base"]
    assert set(_refused({**FILTER, "kind": "no_such_kind"})) == {"kind"}


@pytest.mark.django_db
def test_a_null_description_clears_it_and_a_number_is_refused() -> None:
    row = save.save_guardrail(None, {**FILTER, "description": "blocks the bird"})
    assert save.save_guardrail(row, {"description": None}).description == ""
    assert set(_refused({**FILTER, "description": 7})) == {"description"}


@pytest.mark.django_db
def test_a_guardrail_is_saved_with_its_secret_sealed() -> None:
    row = save.save_guardrail(None, GENERIC)
    assert row.pk is not None and row.modes == ["pre_call"]
    assert row.timeout == save.DEFAULT_TIMEOUT and row.unreachable_fallback == "fail_closed"
    assert SECRET not in json.dumps(row.params)
    assert row.stored_params()["api_key"] == SECRET
    assert row.from_config is False and row.from_operator is False
    assert Guardrail.objects.get(pk=row.pk).stored_params()["api_key"] == SECRET


@pytest.mark.django_db
def test_a_mask_sent_back_keeps_the_stored_secret() -> None:
    row = save.save_guardrail(None, GENERIC)
    masked = {**GENERIC["params"], "api_key": "•••••••• (stored encrypted)"}
    changed = save.save_guardrail(row, {"params": masked, "monitor": True, "description": "  "})
    assert changed.stored_params()["api_key"] == SECRET and changed.monitor is True
    assert changed.modes == ["pre_call"] and changed.description == ""
    # a mask for a secret never stored is refused, naming where
    other = save.prepare(None, {**FILTER})
    assert other.kind == "litellm_content_filter"
    new = {**GENERIC, "name": "fresh", "params": masked}
    assert list(_refused(new)) == ["params.api_key"]


@pytest.mark.django_db
def test_a_config_file_and_an_operator_save_are_marked() -> None:
    row = save.save_guardrail(None, FILTER, from_config=True, from_operator=True)
    assert row.from_config and row.from_operator
    compared = save.comparable(row)
    assert compared["params"] == FILTER["params"] and compared["from_config"] is True
    assert compared["modes"] == ["pre_call", "post_call"]
    assert not save.save_guardrail(row, {"monitor": True}).from_config  # a person's change


@pytest.mark.django_db
def test_a_guardrail_still_named_is_not_deleted() -> None:
    row = save.save_guardrail(None, FILTER)
    Team.objects.create(name="red", guardrails=["words"])
    with pytest.raises(ValidationError, match="still named by team.* red: remove it there first"):
        save.delete_guardrail(row)
    assert Guardrail.objects.filter(pk=row.pk).exists()
    Team.objects.all().delete()
    save.delete_guardrail(row)
    assert not Guardrail.objects.exists()
