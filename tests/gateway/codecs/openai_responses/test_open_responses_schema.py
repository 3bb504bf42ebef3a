"""Every body the Responses codec renders validates against the Open Responses
specification's schemas (2026-04-24, vendored): the response object (JSON), every
streamed event and the response object each one embeds, the error event, a stored
response's replay, and the compaction object. Each case also goes through the
``openai`` SDK's own types, so both readers accept the same bodies."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from gateway.base import errors
from gateway.base.types import (
    ChatResponse,
    ErrorEvent,
    Finish,
    PartStart,
    PartStop,
    Start,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
    Usage,
    UsageEvent,
)
from gateway.codecs.openai_responses.inbound import parse_request, render_response, render_stream
from gateway.features.responses import state as responses_state
from tests.openresponses import assert_valid, assert_valid_event, problems

EVENTS = TypeAdapter(ResponseStreamEvent)
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
# Request bodies covering the settings a response object echoes.
REQUESTS: dict[str, dict[str, Any]] = {
    "bare": {"input": "hi"},
    "tools": {
        "input": "weather?",
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": False,
    },
    "settings": {
        "input": [{"type": "message", "role": "user", "content": "hi"}],
        "instructions": "Be brief.",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_output_tokens": 64,
        "reasoning": {"effort": "low"},
        "metadata": {"k": "v"},
        "store": False,
        "safety_identifier": "user-42",
        "prompt_cache_key": "session-1",
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "top_logprobs": 0,
        "truncation": "disabled",
        "service_tier": "auto",
        "text": {"format": {"type": "json_object"}},
    },
    "assistant phase": {  # assistant history with phase labels (added 2026-04-24)
        "input": [
            {"type": "message", "role": "assistant", "phase": "commentary", "content": "x"},
            {"type": "message", "role": "user", "content": "again"},
        ]
    },
}
RESPONSES = {
    "text": ChatResponse("r", "m", [Text("Hello.")], "stop", Usage(5, 2)),
    "tool call": ChatResponse(
        "r", "m", [ToolCall("call_1", "get_weather", {"city": "Oslo"})], "tool_calls", Usage(5, 9)
    ),
    "reasoning": ChatResponse(
        "r",
        "m",
        [Thinking("Think.", signature="sig"), Thinking("", redacted="opaque"), Text("Yes.")],
        "stop",
        Usage(5, 9, cache_read_tokens=3, reasoning_tokens=4),
    ),
    "incomplete": ChatResponse("r", "m", [Text("Cut")], "length", Usage(5, 64)),
}


def request(name: str, stream: bool = False):  # type: ignore[no-untyped-def]
    return parse_request({"model": "gpt-4.1", "stream": stream, **REQUESTS[name]}, {})


@pytest.mark.parametrize("body", REQUESTS, ids=str)
@pytest.mark.parametrize("answer", RESPONSES, ids=str)
def test_the_response_object_validates(body: str, answer: str) -> None:
    rendered = orjson.loads(orjson.dumps(render_response(RESPONSES[answer], request(body))))
    assert_valid(rendered, "ResponseResource")
    Response.model_validate(rendered)
    # the fields the issue found missing or null, with their types
    assert isinstance(rendered["temperature"], float) and isinstance(rendered["top_p"], float)
    for name in ("presence_penalty", "frequency_penalty"):
        assert rendered[name] == 0.0
    assert rendered["top_logprobs"] == 0 and rendered["service_tier"] == "default"
    assert "max_tool_calls" in rendered and "safety_identifier" in rendered
    done = rendered["status"] == "completed"
    assert isinstance(rendered["completed_at"], int) if done else rendered["completed_at"] is None


def test_settings_the_caller_sent_are_echoed() -> None:
    rendered = render_response(RESPONSES["text"], request("settings"))
    assert (rendered["temperature"], rendered["top_p"]) == (0.2, 0.9)
    assert rendered["safety_identifier"] == "user-42"
    assert rendered["prompt_cache_key"] == "session-1"
    assert rendered["store"] is False and rendered["instructions"] == "Be brief."


def test_a_missing_field_is_caught() -> None:
    """The validator itself: a response without ``completed_at`` fails."""
    rendered = render_response(RESPONSES["text"], request("bare"))
    del rendered["completed_at"]
    assert any("completed_at" in problem for problem in problems(rendered, "ResponseResource"))


STREAMS: dict[str, list[Any]] = {
    "text": [
        Start("up", "m"),
        PartStart(0, "text"),
        TextDelta(0, "Hel"),
        TextDelta(0, "lo."),
        PartStop(0),
        Finish("stop"),
        UsageEvent(Usage(5, 2)),
    ],
    "reasoning and a call": [
        Start("up", "m"),
        PartStart(0, "thinking"),
        ThinkingDelta(0, "Hmm"),
        ThinkingDelta(0, signature="sig"),
        PartStop(0),
        PartStart(1, "tool_call", tool_id="call_9", tool_name="get_weather"),
        ToolArgsDelta(1, '{"city":'),
        ToolArgsDelta(1, '"Oslo"}'),
        PartStop(1),
        Finish("tool_calls"),
    ],
    "redacted reasoning": [
        Start("up", "m"),
        PartStart(0, "thinking"),
        ThinkingDelta(0, redacted="opaque"),
        PartStop(0),
        PartStart(1, "text"),
        TextDelta(1, "ok"),
        Finish("length"),
    ],
    "failure": [
        Start("up", "m"),
        PartStart(0, "text"),
        TextDelta(0, "partial"),
        ErrorEvent(errors.UpstreamError("upstream went away", status=502)),
    ],
    "cut": [Start("up", "m"), PartStart(0, "text"), TextDelta(0, "hal")],
}


async def rendered_events(events: list[Any]) -> list[dict[str, Any]]:
    async def source():  # type: ignore[no-untyped-def]
        for event in events:
            yield event

    raw = b"".join([chunk async for chunk in render_stream(source(), request("tools", True))])
    blocks = [block for block in raw.decode().split("\n\n") if block]
    assert blocks[-1] == "data: [DONE]"  # the terminal event the spec requires
    out = []
    for block in blocks[:-1]:
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        payload = orjson.loads(fields["data"])
        assert fields["event"] == payload["type"]  # "The event field MUST match the type"
        out.append(payload)
    return out


@pytest.mark.parametrize("name", STREAMS, ids=str)
async def test_every_streamed_event_validates(name: str) -> None:
    payloads = await rendered_events(STREAMS[name])
    for payload in payloads:
        assert_valid_event(payload)
        EVENTS.validate_python(payload)
        if "response" in payload:
            assert_valid(payload["response"], "ResponseResource")
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    final = payloads[-1]
    assert final["type"] in ("response.completed", "response.incomplete", "response.failed")
    if final["type"] == "response.failed":
        error = payloads[-2]
        assert error["type"] == "error" and error["error"]["code"] == error["code"]


def test_a_stored_response_replays_as_valid_events() -> None:
    stored = orjson.loads(orjson.dumps(render_response(RESPONSES["tool call"], request("tools"))))
    raw = responses_state.replay_events(stored)
    for block in raw.decode().split("\n\n"):
        if block:
            assert_valid_event(orjson.loads(block.split("data: ", 1)[1]))
