"""What the prompt registry plugs in (its snapshot part, its request rewrite) and
``expand``, the rewrite itself: a chat body naming a registry prompt gets the version's
messages and the journal row its name and number; anything else is left alone."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from gateway.access import registry, roles
from gateway.base import hooks
from gateway.base.entries import MASTER
from gateway.base.errors import InvalidRequest, PermissionDenied, SnapshotMiss
from gateway.features.prompts import plugin, snapshot
from gateway.features.prompts.entries import PromptEntry, VersionEntry
from tests.gateway.entries import snapshot as bare_snapshot

V1 = VersionEntry(1, ({"role": "system", "content": "You help {{who}}."},), ("who",), model="m1")
GREET = PromptEntry("greet", {1: V1}, {"production": 1})


@pytest.fixture
def prompts(snapshot_reset: None) -> None:
    snap = bare_snapshot()
    snap.parts[snapshot.PART] = {GREET.name: GREET}
    registry.install(snap)


def call(dialect: str = "openai", endpoint: str = "chat") -> Any:
    record = SimpleNamespace(prompt_name="", prompt_version=None)
    return SimpleNamespace(dialect=dialect, endpoint=endpoint, record=record)


def test_it_is_registered() -> None:
    assert hooks.snapshot_parts[snapshot.PART] is snapshot.load
    assert plugin.expand in list(hooks.request_bodies)


def test_a_chat_reference_is_expanded_and_journaled(prompts: None) -> None:
    the_call = call()
    body = {"prompt_id": "greet", "prompt_variables": {"who": "Ada"},
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    plugin.expand(the_call, MASTER, body)
    assert body == {
        "messages": [
            {"role": "system", "content": "You help Ada."},
            {"role": "user", "content": "hi"},
        ],
        "model": "m1",
    }
    assert (the_call.record.prompt_name, the_call.record.prompt_version) == ("greet", 1)


def test_the_responses_prompt_object_is_expanded(prompts: None) -> None:
    the_call = call("responses")
    body = {"input": "hi", "prompt": {"id": "greet", "variables": {"who": "Bo"}}}
    plugin.expand(the_call, MASTER, body)
    assert body["input"] == [
        {"role": "system", "content": "You help Bo."},
        {"role": "user", "content": "hi"},
    ]
    assert "prompt" not in body and the_call.record.prompt_version == 1


def test_bodies_that_are_not_a_registry_reference_are_left_alone(prompts: None) -> None:
    untouched = [
        (call(), {"messages": []}),  # no reference
        (call("openai", "completions"), {"prompt": "Say hi"}),  # the text of a completion
        (call("gemini"), {"prompt_id": "greet"}),  # a dialect without references
        (call("openai"), {"prompt": {"id": "greet"}}),  # ``prompt`` is the Responses spelling
        (call("responses"), {"prompt": {"id": "pmpt_abc"}}),  # OpenAI's stored prompt
    ]
    for the_call, body in untouched:
        before = dict(body)
        plugin.expand(the_call, MASTER, body)
        assert body == before and the_call.record.prompt_name == ""


def test_an_unknown_prompt_asks_for_a_registry_check_before_touching_the_body(
    prompts: None,
) -> None:
    """It may have been created a moment ago in another process: the service checks
    the stored registry and calls ``expand`` again before answering the refusal."""
    for dialect, body, field in [
        ("openai", {"prompt_id": "nope", "prompt_variables": {}}, "prompt_id"),
        ("responses", {"input": "hi", "prompt": {"id": "nope"}}, "prompt.id"),
    ]:
        before = dict(body)
        with pytest.raises(SnapshotMiss) as miss:
            plugin.expand(call(dialect), MASTER, body)
        assert body == before
        refusal = miss.value.refusal
        assert isinstance(refusal, InvalidRequest) and refusal.status == 400
        assert (refusal.message, refusal.param) == ("no prompt named 'nope'", field)
        assert refusal.code == "prompt_not_found"


def test_a_malformed_reference_is_refused_without_a_check(prompts: None) -> None:
    with pytest.raises(InvalidRequest, match="prompt_id must be a prompt's name"):
        plugin.expand(call(), MASTER, {"prompt_id": 7})


def test_a_caller_that_is_no_key_may_not_use_a_prompt(prompts: None) -> None:
    body = {"prompt_id": "greet", "prompt_variables": {"who": "Ada"}}
    with pytest.raises(PermissionDenied, match="used with a key"):
        plugin.expand(call(), roles.Actor(role=roles.OWNER), body)
