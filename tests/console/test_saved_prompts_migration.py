"""Migration console 0004: today's saved playground prompts become prompts of the
registry with version 1 (system first, then the conversation's text), names made unique
across owners; files and tool turns are left out and said so; reversing is a no-op."""

from __future__ import annotations

import pytest

from gateway.models import Prompt
from tests.migrate import at, latest

BEFORE = [("console", "0003_saved_prompt"), ("gateway", "0052_prompts_scores")]
AFTER = [("console", "0004_saved_prompts_into_the_registry")]


@pytest.mark.django_db(transaction=True)
def test_saved_prompts_become_version_one_of_registry_prompts() -> None:
    apps = at(BEFORE)
    User = apps.get_model("auth", "User")
    Saved = apps.get_model("console", "SavedPrompt")
    ann, bob = User.objects.create(username="ann"), User.objects.create(username="bob")
    Saved.objects.create(
        owner=ann, name="Arithmetic check", system="You are terse for {{team}}.",
        messages=[{"role": "user", "content": "What is {{a}}+2?"},
                  {"role": "user", "content": "see", "attachments": [{"name": "x.png"}]}],
        params={"temperature": 0.3, "reasoning_effort": "high"},
        tools=[{"name": "calc", "description": "", "parameters": {"type": "object"}}],
    )  # fmt: skip
    Saved.objects.create(
        owner=bob, name="Arithmetic check", messages=[{"role": "user", "content": "hi"}]
    )
    at(AFTER)
    at(BEFORE)  # the reverse changes nothing and fails on nothing
    latest()  # (the prompts read with today's models)
    first = Prompt.objects.get(name="Arithmetic-check")
    version = first.versions.get()
    assert version.number == 1 and first.created_by.username == "ann"
    assert version.messages == [
        {"role": "system", "content": "You are terse for {{team}}."},
        {"role": "user", "content": "What is {{a}}+2?"},
    ]
    assert version.variables == ["team", "a"]
    assert version.params == {"temperature": 0.3, "reasoning_effort": "high"}
    assert version.tools[0]["name"] == "calc"
    assert "1 message(s) with files or tool turns left out" in version.note
    second = Prompt.objects.get(name="Arithmetic-check-bob")
    assert second.versions.get().messages == [{"role": "user", "content": "hi"}]
