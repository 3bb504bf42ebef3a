"""Saving to the prompt registry: names, labels, messages, params and tools checked (a
``PromptError`` naming the field), versions numbered up by one, labels moved, and the
line-by-line difference between two versions."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from gateway.features.prompts import versions
from gateway.features.prompts.versions import PromptError
from gateway.models.prompts import Prompt, PromptLabel, PromptVersion


def refused(field: str, call: Any, *args: Any) -> str:
    with pytest.raises(PromptError) as caught:
        call(*args)
    assert caught.value.field == field
    return str(caught.value)


def test_names_and_labels() -> None:
    assert versions.clean_name("  support.triage_v2 ") == "support.triage_v2"
    refused("name", versions.clean_name, "has space")
    refused("name", versions.clean_name, None)
    assert versions.clean_label("staging-2") == "staging-2"
    for bad in ("Prod", "-x", "", "x" * 51):
        refused("label", versions.clean_label, bad)


def test_messages() -> None:
    assert versions.clean_messages("Hi {{name}}") == [{"role": "user", "content": "Hi {{name}}"}]
    kept = versions.clean_messages([{"role": "system", "content": "s", "extra": 1}])
    assert kept == [{"role": "system", "content": "s"}]
    assert "at least one" in refused("messages", versions.clean_messages, [])
    assert "messages[1]: role" in refused(
        "messages",
        versions.clean_messages,
        [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}],
    )
    assert "content must be text" in refused(
        "messages", versions.clean_messages, [{"role": "user", "content": 3}]
    )
    too_many = [{"role": "user", "content": "x"}] * (versions.MAX_MESSAGES + 1)
    assert "at most" in refused("messages", versions.clean_messages, too_many)


def test_params() -> None:
    given = {
        "temperature": 2,
        "top_p": 0.5,
        "max_tokens": 10,
        "reasoning_effort": "low",
        "top_k": None,
    }
    assert versions.clean_params(given) == {k: v for k, v in given.items() if v is not None}
    assert versions.clean_params(None) == {} and versions.clean_params("") == {}
    for bad, words in (
        ([1], "must be an object"),
        ({"temperature": 2.5}, "out of range"),
        ({"top_p": 1.1}, "out of range"),
        ({"temperature": True}, "must be a number"),
        ({"max_tokens": 0}, "at least 1"),
        ({"max_tokens": 1.5}, "whole number"),
        ({"reasoning_effort": "max"}, "reasoning_effort is one of"),
        ({"seed": 1}, "unknown param 'seed'"),
    ):
        assert words in refused("params", versions.clean_params, bad)


def test_tools_in_either_form() -> None:
    nested = {
        "type": "function",
        "function": {"name": "f", "parameters": {"type": "object", "x": 1}},
    }
    flat = {"name": "g", "description": "gee", "input_schema": {"type": "object"}}
    assert versions.clean_tools([nested, flat, {"name": "h"}]) == [
        {"name": "f", "description": "", "parameters": {"type": "object", "x": 1}},
        {"name": "g", "description": "gee", "parameters": {"type": "object"}},
        {"name": "h", "description": "", "parameters": {"type": "object"}},
    ]
    assert versions.clean_tools(None) == []
    assert "must be a list" in refused("tools", versions.clean_tools, {"name": "f"})
    assert "tools[0] needs a name" in refused("tools", versions.clean_tools, [{"description": "x"}])
    assert "JSON schema object" in refused(
        "tools", versions.clean_tools, [{"name": "f", "parameters": "x"}]
    )


def test_a_draft_finds_its_variables() -> None:
    made = versions.draft(
        [
            {"role": "system", "content": "For {{company}}"},
            {"role": "user", "content": "{{ ticket }}"},
        ],
        model=" m ",
        note=" n ",
    )
    assert made.variables == ["company", "ticket"] and made.model == "m" and made.note == "n"


@pytest.mark.django_db
def test_versions_count_up_and_labels_move() -> None:
    ada = User.objects.create_user("ada")
    prompt, first = versions.create("greet", versions.draft("Hi"), user=ada, labels=("production",))
    assert first.number == 1 and first.created_by == "ada" and prompt.created_by == ada
    second = versions.add_version(prompt, versions.draft("Hello"), by="bo", labels=("staging",))
    assert second.number == 2
    assert dict(PromptLabel.objects.values_list("name", "version__number")) == {
        "production": 1,
        "staging": 2,
    }
    versions.move_label(prompt, "production", "2", by="bo")
    assert PromptLabel.objects.get(name="production").version == second
    assert "greet has no version 9" in refused(
        "version", versions.move_label, prompt, "production", 9
    )
    refused("version", versions.move_label, prompt, "production", "two")
    assert versions.remove_label(prompt, "staging") and not versions.remove_label(prompt, "staging")
    PromptVersion.objects.filter(number=2).delete()
    assert versions.add_version(prompt, versions.draft("again")).number == 2  # after the top


@pytest.mark.django_db
def test_a_taken_name_or_a_bad_label_saves_nothing() -> None:
    versions.create("greet", versions.draft("Hi"))
    assert "exists already" in refused("name", versions.create, "greet", versions.draft("Hi"))
    with pytest.raises(PromptError):
        versions.create("other", versions.draft("Hi"), labels=("Bad Label",))
    assert list(Prompt.objects.values_list("name", flat=True)) == ["greet"]


@pytest.mark.django_db
def test_the_difference_between_two_versions() -> None:
    prompt, older = versions.create(
        "greet", versions.draft([{"role": "user", "content": "Hi\nthere"}])
    )
    newer = versions.add_version(
        prompt,
        versions.draft([{"role": "user", "content": "Hi\nfriend"}], model="m", params={"temperature": 1},
                       tools=[{"name": "t", "description": "d"}]),
    )  # fmt: skip
    assert versions.as_text(newer) == [
        "model: m", 'params: {"temperature": 1}', "tool: t — d", "", "[user]", "Hi", "friend",
    ]  # fmt: skip
    marked = [(line.kind, line.old, line.new, line.text) for line in versions.diff(older, newer)]
    assert ("removed", 1, None, "model: (the request’s)") in marked
    assert ("same", 4, 6, "Hi") in marked and ("added", None, 7, "friend") in marked
    assert ("removed", 5, None, "there") in marked
    text = versions.unified(older, newer)
    assert text.startswith("--- greet v1\n+++ greet v2") and "\n-there\n+friend" in text
