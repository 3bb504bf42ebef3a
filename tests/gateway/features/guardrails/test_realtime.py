"""Guardrails on a Realtime session (``gateway.features.guardrails.realtime``), event by
event without a socket: what applies; the client's texts (an item's parts, a function
call's output, a session's instructions, tools, transcription prompt and prompt
variables) checked before they are relayed, masked in place or refused; audio refused
as unreadable; the server's text held until its ``.done`` event, checked whole, then let
out (rewritten, with its later echoes); transcription and translation sessions. The
relay with a mock upstream is in ``tests/gateway/edge/test_realtime_socket.py``."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.access import registry
from gateway.base.entries import Snapshot
from gateway.base.errors import GuardrailBlocked
from gateway.features.guardrails import realtime
from tests.gateway.entries import route
from tests.gateway.features.guardrails.scripted import guardrail, key

ROUTE = route("rt", "gpt-realtime")


def _guard(*modes: str, kind: Any = None, **params: Any) -> realtime.SessionGuard:
    entry = guardrail("words", modes, params=params or {"mask": "secret", "block": "bomb"})
    registry.install(Snapshot(guardrails={"words": entry}, default_guardrails=("words",)))
    guard = realtime.begin(key(), ROUTE, "req-rt", kind)
    assert guard is not None
    return guard


def _client(guard: realtime.SessionGuard, event: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(asyncio.run(guard.client(json.dumps(event)))))


def _server(guard: realtime.SessionGuard, event: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(m) for m in asyncio.run(guard.server(json.dumps(event)))]


def test_what_applies(snapshot_reset: None, scripted) -> None:  # type: ignore[no-untyped-def]
    registry.install(Snapshot())
    assert realtime.begin(key(), ROUTE, "r") is None
    tools_only = guardrail("tools", ("pre_mcp_call",))
    registry.install(Snapshot(guardrails={"tools": tools_only}, default_guardrails=("tools",)))
    assert realtime.begin(key(), ROUTE, "r") is None
    guard = _guard("pre_call", "post_call", kind=realtime.TranscriptionGuard)
    assert isinstance(guard, realtime.TranscriptionGuard)
    assert len(guard.pre) == 1 and len(guard.post) == 1


def test_the_clients_texts_are_masked_in_place(snapshot_reset: None, scripted) -> None:  # type: ignore[no-untyped-def]
    guard = _guard("pre_call")
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "my secret"}],
    }
    sent = _client(guard, {"type": "conversation.item.create", "item": item})
    assert sent["item"]["content"][0]["text"] == "my [MASKED]"
    output = {"type": "function_call_output", "output": "the secret"}
    assert (
        _client(guard, {"type": "conversation.item.create", "item": output})["item"]["output"]
        == "the [MASKED]"
    )
    session = {
        "instructions": "keep the secret",
        "tools": [{"name": "lookup", "description": "finds a secret"}],
        "audio": {"input": {"transcription": {"prompt": "secret words"}}},
        "prompt": {
            "id": "p1",
            "variables": {"a": "secret", "b": {"type": "input_text", "text": "secret"}},
        },
    }
    updated = _client(guard, {"type": "session.update", "session": session})["session"]
    assert updated["instructions"] == "keep the [MASKED]"
    assert updated["tools"][0]["description"] == "finds a [MASKED]"
    assert updated["audio"]["input"]["transcription"]["prompt"] == "[MASKED] words"
    assert updated["prompt"]["variables"] == {
        "a": "[MASKED]",
        "b": {"type": "input_text", "text": "[MASKED]"},
    }
    asked = {"type": "response.create", "response": {"input": [item]}}
    assert _client(guard, asked)["response"]["input"][0]["content"][0]["text"] == "my [MASKED]"
    assert {s[2].mode for s in scripted} == {"pre_call"}


def test_a_clients_event_unchanged_goes_as_it_came(snapshot_reset: None, scripted) -> None:  # type: ignore[no-untyped-def]
    guard = _guard("pre_call")
    plain = json.dumps(
        {
            "type": "conversation.item.create",
            "item": {"content": [{"type": "input_text", "text": "hello"}]},
        }
    )
    assert asyncio.run(guard.client(plain)) is plain
    other = json.dumps({"type": "input_audio_buffer.commit"})
    assert asyncio.run(guard.client(other)) is other
    assert len(scripted) == 1  # the commit was not checked


def test_a_blocked_text_and_audio_input_are_refused(snapshot_reset: None, scripted) -> None:  # type: ignore[no-untyped-def]
    guard = _guard("pre_call")
    with pytest.raises(GuardrailBlocked, match="guardrail 'words' blocked the request"):
        _client(guard, {"type": "session.update", "session": {"instructions": "a bomb"}})
    with pytest.raises(GuardrailBlocked) as refused:
        asyncio.run(
            guard.client(json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}))
        )
    assert refused.value.code == "guardrail_not_applicable"
    assert "cannot read audio input" in refused.value.message
    audio_part = {
        "type": "conversation.item.create",
        "item": {"content": [{"type": "input_audio", "audio": "AA"}]},
    }
    with pytest.raises(GuardrailBlocked, match="cannot read audio input"):
        _client(guard, audio_part)


def test_the_servers_text_is_held_until_it_is_whole(snapshot_reset: None, scripted) -> None:  # type: ignore[no-untyped-def]
    guard = _guard("post_call")
    part = {"response_id": "r1", "item_id": "i1", "output_index": 0, "content_index": 0}
    assert _server(guard, {"type": "response.output_text.delta", "delta": "the sec", **part}) == []
    assert _server(guard, {"type": "response.output_text.delta", "delta": "ret", **part}) == []
    out = _server(guard, {"type": "response.output_text.done", "text": "the secret", **part})
    assert [e["type"] for e in out] == ["response.output_text.delta", "response.output_text.done"]
    assert out[0]["delta"] == "the [MASKED]" and out[1]["text"] == "the [MASKED]"
    # later events carrying the text carry the rewrite
    echo = {
        "type": "response.done",
        "response": {"output": [{"content": [{"text": "the secret"}]}]},
    }
    assert _server(guard, echo)[0]["response"]["output"][0]["content"][0]["text"] == "the [MASKED]"
    record = SimpleNamespace(guardrails=None)
    guard.finished(record)
    assert record.guardrails[0]["verdict"] == "intervened"


def test_the_servers_text_blocked_and_audio_out_refused(snapshot_reset: None, scripted) -> None:  # type: ignore[no-untyped-def]
    guard = _guard("post_call")
    _server(guard, {"type": "response.text.delta", "delta": "a bo", "item_id": "i"})
    _server(guard, {"type": "response.text.delta", "delta": "mb", "item_id": "i"})
    with pytest.raises(GuardrailBlocked, match="blocked the answer"):
        _server(guard, {"type": "response.text.done", "item_id": "i"})  # the deltas joined
    with pytest.raises(GuardrailBlocked, match="cannot read audio output"):
        _server(guard, {"type": "response.output_audio.delta", "delta": "AAAA"})
    passed = json.dumps({"type": "session.created"})
    assert asyncio.run(guard.server(passed)) == [passed]


def test_a_transcript_is_checked_whole(snapshot_reset: None, scripted) -> None:  # type: ignore[no-untyped-def]
    guard = _guard("post_call", kind=realtime.TranscriptionGuard)
    part = {"item_id": "i1", "content_index": 0}
    assert _server(guard, {"type": realtime.TRANSCRIPT_DELTA, "delta": "my secret", **part}) == []
    out = _server(guard, {"type": realtime.TRANSCRIPT_DONE, "transcript": "my secret", **part})
    assert [e.get("delta", e.get("transcript")) for e in out] == ["my [MASKED]", "my [MASKED]"]


def test_a_translation_session_cannot_be_read(snapshot_reset: None, scripted) -> None:  # type: ignore[no-untyped-def]
    guard = _guard("pre_call", "post_call", kind=realtime.TranslationGuard)
    with pytest.raises(GuardrailBlocked, match="a translation session's audio input"):
        asyncio.run(guard.client(json.dumps({"type": realtime.TRANSLATION_AUDIO, "audio": "AA"})))
    with pytest.raises(GuardrailBlocked, match="a translation session's output"):
        asyncio.run(
            guard.server(json.dumps({"type": "session.output_transcript.delta", "delta": "x"}))
        )


def test_a_session_without_checks_of_a_side_relays_it(snapshot_reset: None, scripted) -> None:  # type: ignore[no-untyped-def]
    guard = _guard("post_call")
    audio = json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"})
    assert asyncio.run(guard.client(audio)) is audio  # no pre_call: nothing to read
    pre_only = _guard("pre_call")
    out = json.dumps({"type": "response.output_audio.delta", "delta": "AA"})
    assert asyncio.run(pre_only.server(out)) == [out]
