"""Guardrails on a Gemini Live session (``gateway.features.guardrails.live``): the
client's texts in either spelling (google-genai's ``client_content``, protobuf's
``clientContent``), the setup's system instruction, tool responses; media refused; the
server's text held until the turn ends, checked whole and masked in place; audio
output refused."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.access import registry
from gateway.base.entries import MASTER, GuardrailEntry
from gateway.base.errors import GuardrailBlocked
from gateway.features.guardrails.live import LiveGuard, Sessions
from tests.gateway.endpoint_samples import SAMPLES, install

WORD = "forbidden"
BLOCKING = {"blocked_words": [{"keyword": WORD, "action": "BLOCK"}]}
MASKING = {"patterns": [{"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"}]}


def guard(name: str, modes: tuple[str, ...], params: dict[str, Any]) -> GuardrailEntry:
    return GuardrailEntry(
        id=abs(hash(name)) % 100000,
        name=name,
        kind="litellm_content_filter",
        modes=frozenset(modes),
        params=params,
        default_on=True,
    )


def begin(*guards: GuardrailEntry) -> LiveGuard:
    install(SAMPLES["chat"], *guards)
    route = registry.current().route("m")
    assert route is not None
    run = Sessions().begin(MASTER, route, "r1", protocol="gemini_live")
    assert isinstance(run, LiveGuard)
    return run


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def turn(text: str, name: str = "client_content") -> str:
    return dumps(
        {name: {"turns": [{"role": "user", "parts": [{"text": text}]}], "turnComplete": True}}
    )


def model(text: str) -> str:
    return dumps({"serverContent": {"modelTurn": {"role": "model", "parts": [{"text": text}]}}})


END = dumps({"serverContent": {"turnComplete": True}, "usageMetadata": {"promptTokenCount": 3}})


@pytest.mark.parametrize("name", ["client_content", "clientContent"])
async def test_a_blocked_word_in_a_turn_is_refused_in_either_spelling(
    snapshot_reset: None, name: str
) -> None:
    run = begin(guard("words", ("pre_call",), BLOCKING))
    harmless = turn("hello", name)
    assert await run.client(harmless) is harmless
    with pytest.raises(GuardrailBlocked) as refused:
        await run.client(turn(f"say {WORD}", name))
    assert refused.value.guardrail == "words"


async def test_the_setup_and_tool_responses_are_read_and_masked(snapshot_reset: None) -> None:
    run = begin(guard("mail", ("pre_call",), MASKING))
    setup = {
        "setup": {"model": "models/m", "systemInstruction": {"parts": [{"text": "mail a@b.co"}]}}
    }
    masked = orjson.loads(await run.client(dumps(setup)))
    assert "a@b.co" not in masked["setup"]["systemInstruction"]["parts"][0]["text"]
    answer = {"tool_response": {"functionResponses": [{"id": "1", "name": "f",
              "response": {"result": {"owner": "a@b.co"}}}]}}  # fmt: skip
    masked = orjson.loads(await run.client(dumps(answer)))
    owner = masked["tool_response"]["functionResponses"][0]["response"]["result"]["owner"]
    assert owner != "a@b.co"


async def test_media_input_cannot_be_read_and_is_refused(snapshot_reset: None) -> None:
    run = begin(guard("words", ("pre_call",), BLOCKING))
    audio = dumps({"realtime_input": {"audio": {"data": "AAAA", "mimeType": "audio/pcm"}}})
    with pytest.raises(GuardrailBlocked) as refused:
        await run.client(audio)
    assert refused.value.code == "guardrail_not_applicable"


async def test_the_models_text_is_held_until_the_turn_ends_then_masked(
    snapshot_reset: None,
) -> None:
    run = begin(guard("mail", ("post_call",), MASKING))
    assert await run.server(model("write to a@")) == []
    assert await run.server(model("b.co now")) == []
    released = [orjson.loads(m) for m in await run.server(END)]
    assert len(released) == 3
    texts = [
        m["serverContent"].get("modelTurn", {}).get("parts", [{}])[0].get("text") for m in released
    ]
    assert "a@b.co" not in (texts[0] or "") and texts[0] and texts[1] == ""
    assert released[2]["usageMetadata"] == {"promptTokenCount": 3}
    other = dumps({"setupComplete": {}})
    assert await run.server(other) == [other]  # no text: passed on at once


async def test_a_blocked_word_in_the_answer_is_refused_and_audio_cannot_be_read(
    snapshot_reset: None,
) -> None:
    run = begin(guard("words", ("post_call",), BLOCKING))
    await run.server(model(f"the {WORD} word"))
    with pytest.raises(GuardrailBlocked):
        await run.server(END)
    audio = {"inlineData": {"mimeType": "audio/pcm", "data": "AAAA"}}
    with pytest.raises(GuardrailBlocked) as refused:
        await run.server(dumps({"serverContent": {"modelTurn": {"parts": [audio]}}}))
    assert refused.value.code == "guardrail_not_applicable"
