"""The Gemini Interactions codec's upstream half: client dialects in, an interaction body
out (golden bodies under tests/fixtures/gemini_interactions, written from the API
reference and the steps-schema migration guide), and interactions (whole and streamed)
back to canonical. A stream folded equals the same interaction parsed whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.base.errors import InvalidRequest, UpstreamError
from gateway.base.streaming import SSEDecoder, fold_events
from gateway.base.types import (
    ChatRequest,
    ErrorEvent,
    Finish,
    Image,
    Message,
    PartStart,
    Reasoning,
    ResponseFormat,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
)
from gateway.codecs import CODECS
from gateway.codecs.anthropic import inbound as anthropic_messages
from gateway.codecs.base import Target, UpstreamCodec, WireEvent
from gateway.codecs.gemini_interactions import codec
from gateway.codecs.gemini_interactions import upstream_maps as maps
from gateway.codecs.openai_chat import inbound as openai_chat

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gemini_interactions"
TARGET = Target(model="gemini-3.5-flash", supports_reasoning=True, max_output_tokens=8192)
SIG = "CpYBAdHtim9+LuA1fs5n/kq4Wz6cA9oYfUjm0k4xOw0RtKzJ0b2S8a+DVBOUnlVv2W4F9e9Y1g=="
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city"],
}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def sse(name: str) -> list[WireEvent]:
    decoder = SSEDecoder()
    messages = decoder.feed((FIXTURES / name).read_bytes()) + decoder.end()
    return [
        WireEvent(m.event, orjson.loads(m.data), m.data)
        for m in messages
        if m.data.strip() != "[DONE]"
    ]


def stream(name: str) -> list[Any]:
    parser = codec.stream_parser()
    events = [e for w in sse(name) for e in parser.feed(w)]
    return events + parser.finish()


def test_the_codec_is_registered_with_an_upstream_half() -> None:
    registered = CODECS["gemini_interactions"]
    assert registered.upstream is codec and isinstance(codec, UpstreamCodec)


# --- request ---------------------------------------------------------------------------


def test_an_anthropic_tool_loop_renders_the_golden_body() -> None:
    """Images inline, the earlier model turn as model_output + the thought step that
    signed its calls (from the ids) + function_call steps, results paired by call_id."""
    first, second = maps.call_id("fc_7x1", SIG), maps.call_id("fc_7x2", None)
    body = {
        "model": "interactions-route",
        "max_tokens": 1024,
        "stream": True,
        "system": "Be brief.",
        "stop_sequences": ["END"],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tool_choice": {"type": "auto"},
        "tools": [
            {"name": "get_weather", "description": "Current weather", "input_schema": WEATHER}
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather in Paris and Lima?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Two cities.", "signature": ""},
                    {"type": "text", "text": "Checking both cities."},
                    {
                        "type": "tool_use",
                        "id": first,
                        "name": "get_weather",
                        "input": {"city": "Paris", "unit": "c"},
                    },
                    {
                        "type": "tool_use",
                        "id": second,
                        "name": "get_weather",
                        "input": {"city": "Lima"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": first, "content": "18C, cloudy"},
                    {
                        "type": "tool_result",
                        "tool_use_id": second,
                        "content": "no station",
                        "is_error": True,
                    },
                ],
            },
        ],
    }
    request = anthropic_messages.parse_request(body, {})
    assert codec.build_request(request, TARGET) == fixture("request_tool_loop.json")


def test_an_openai_chat_request_is_snake_case_and_flat() -> None:
    request = openai_chat.parse_request(
        {
            "model": "r",
            "messages": [
                {"role": "system", "content": "Sys one."},
                {"role": "user", "content": "Hi"},
                {"role": "system", "content": "Sys two."},
            ],
            "temperature": 0.3,
            "top_p": 0.9,
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "lookup",
                        "parameters": {"$schema": "x", "type": "object", "properties": {}},
                    },
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": "lookup"}},
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "o", "schema": {"type": "object", "$id": "x"}},
            },
        },
        {},
    )
    body = codec.build_request(request, Target(model="gemini-3.5-flash"))
    assert body == {
        "model": "gemini-3.5-flash",
        "input": [{"type": "user_input", "content": [{"type": "text", "text": "Hi"}]}],
        "store": False,
        "system_instruction": "Sys one.\n\nSys two.",
        "tools": [
            {
                "type": "function",
                "name": "lookup",
                "parameters": {"type": "object", "properties": {}},
            }
        ],
        "generation_config": {
            "temperature": 0.3,
            "top_p": 0.9,
            "tool_choice": {"allowed_tools": {"mode": "any", "tools": ["lookup"]}},
        },
        "response_format": {
            "type": "text",
            "mime_type": "application/json",
            "schema": {"type": "object"},
        },
    }
    assert "previous_interaction_id" not in body and "stream" not in body


def test_a_sampling_parameter_the_model_refuses_is_never_written() -> None:
    request = openai_chat.parse_request(
        {"model": "r", "messages": [{"role": "user", "content": "Hi"}],
         "temperature": 0.3, "top_p": 0.9},
        {},
    )  # fmt: skip
    refusing = Target(model="gemini-3.7-flash", refuses=frozenset({"temperature"}))
    assert codec.build_request(request, refusing)["generation_config"] == {"top_p": 0.9}
    # control: a model that takes it
    taking = codec.build_request(request, Target(model="gemini-3.5-flash"))
    assert taking["generation_config"] == {"temperature": 0.3, "top_p": 0.9}


def test_no_camel_case_key_anywhere_in_a_body() -> None:
    body = codec.build_request(
        openai_chat.parse_request(
            {
                "model": "r",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 10,
                "reasoning_effort": "high",
                "stop": ["x"],
            },
            {},
        ),
        TARGET,
    )

    def keys(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [k for k, v in value.items() for k in [k, *keys(v)]]
        if isinstance(value, list):
            return [k for item in value for k in keys(item)]
        return []

    assert all(k == k.lower() for k in keys(body)), keys(body)
    assert body["generation_config"] == {
        "max_output_tokens": 10,
        "stop_sequences": ["x"],
        "thinking_level": "high",
        "thinking_summaries": "auto",
    }


def test_reasoning_is_not_asked_of_a_deployment_that_does_not_reason() -> None:
    request = ChatRequest(
        model="r", messages=[Message("user", [Text("hi")])], reasoning=Reasoning(effort="low")
    )
    assert "generation_config" not in codec.build_request(request, Target(model="m"))


@pytest.mark.parametrize(
    ("budget", "level"), [(512, "minimal"), (1024, "low"), (8000, "medium"), (30000, "high")]
)
def test_a_token_budget_becomes_the_nearest_level(budget: int, level: str) -> None:
    request = ChatRequest(
        model="r",
        messages=[Message("user", [Text("hi")])],
        reasoning=Reasoning(budget_tokens=budget),
    )
    assert codec.build_request(request, TARGET)["generation_config"]["thinking_level"] == level


def test_a_result_that_answers_no_call_is_refused() -> None:
    request = ChatRequest(
        model="r", messages=[Message("tool", [ToolResult("call_nowhere", [Text("x")])])]
    )
    with pytest.raises(InvalidRequest, match="answers no tool call"):
        codec.build_request(request, TARGET)


def test_a_result_with_an_image_is_text_and_image_content() -> None:
    request = ChatRequest(
        model="r",
        messages=[
            Message("assistant", [ToolCall("call_a", "shot", {})]),
            Message(
                "tool",
                [ToolResult("call_a", [Text("see"), Image(data=PNG, media_type="image/png")])],
            ),
        ],
    )
    steps = codec.build_request(request, TARGET)["input"]
    assert steps == [
        {"type": "function_call", "id": "call_a", "name": "shot", "arguments": {}},
        {
            "type": "function_result",
            "call_id": "call_a",
            "name": "shot",
            "result": [
                {"type": "text", "text": "see"},
                {"type": "image", "data": PNG, "mime_type": "image/png"},
            ],
        },
    ]


def test_tool_choice_none_sends_no_tools() -> None:
    request = ChatRequest(
        model="r",
        messages=[Message("user", [Text("hi")])],
        tools=[Tool("t")],
        tool_choice=ToolChoice("none"),
    )
    body = codec.build_request(request, TARGET)
    assert "tools" not in body and "generation_config" not in body


def test_top_k_and_n_are_unsupported() -> None:
    request = ChatRequest(model="r", top_k=3, n=2, response_format=ResponseFormat("json_object"))
    assert codec.unsupported_params(request, TARGET) == ["top_k", "n"]


# --- ids -------------------------------------------------------------------------------


# --- answers ---------------------------------------------------------------------------


def test_text_answer() -> None:
    response = codec.parse_response(fixture("text.json"))
    assert response.text() == "Hello! How can I help?"
    assert response.finish_reason == "stop" and response.model == "gemini-3.5-flash"
    assert response.id == "v1_ChdpbnRlcmFjdGlvbl90ZXh0XzAwMDE"
    assert response.usage == Usage(input_tokens=12, output_tokens=6)
    assert response.created == 1782900000


def test_reasoning_and_calls_answer() -> None:
    response = codec.parse_response(fixture("reasoning_tools.json"))
    assert response.finish_reason == "tool_calls"
    thinking, text, first, second = response.parts
    assert thinking == Thinking(
        "The user wants the weather in two cities; I will call the tool twice."
    )
    assert text == Text("Checking both cities.")
    assert isinstance(first, ToolCall) and isinstance(second, ToolCall)
    assert maps.split_call_id(first.id) == ("fc_7x1", SIG)  # the thought signed this call
    assert maps.split_call_id(second.id) == ("fc_7x2", None)
    assert first.arguments == {"city": "Paris", "unit": "c"}
    assert response.usage == Usage(
        input_tokens=80, output_tokens=55, cache_read_tokens=40, reasoning_tokens=25
    )


def test_incomplete_is_length() -> None:
    assert codec.parse_response(fixture("incomplete.json")).finish_reason == "length"


def test_a_failed_interaction_raises() -> None:
    data = {"id": "x", "status": "failed", "errors": [{"code": 500, "message": "boom"}]}
    with pytest.raises(UpstreamError, match="boom"):
        codec.parse_response(data)


def test_errors_keep_their_status() -> None:
    limited = codec.parse_error(429, (FIXTURES / "error_429.json").read_bytes())
    assert limited.status == 429 and limited.code == "RESOURCE_EXHAUSTED"
    refused = codec.parse_error(400, (FIXTURES / "error_400_key.json").read_bytes())
    assert refused.status == 401


# --- streams ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sse_name", "json_name"),
    [("text.sse", "text.json"), ("reasoning_tools.sse", "reasoning_tools.json")],
)
def test_a_stream_folds_into_the_whole_answer(sse_name: str, json_name: str) -> None:
    assert fold_events(stream(sse_name)) == codec.parse_response(fixture(json_name))


def test_stream_events_in_order() -> None:
    events = stream("reasoning_tools.sse")
    starts = [e for e in events if isinstance(e, PartStart)]
    assert [s.kind for s in starts] == ["thinking", "text", "tool_call", "tool_call"]
    assert maps.split_call_id(starts[2].tool_id or "") == ("fc_7x1", SIG)
    assert events[-1] == Finish("tool_calls")


def test_an_error_event_ends_the_stream() -> None:
    events = stream("error_midstream.sse")
    assert isinstance(events[-1], ErrorEvent)
    assert "Internal error" in str(events[-1].error)
    assert fold_events(events).text() == "Partial "


def test_a_stream_cut_before_completion_is_an_error() -> None:
    parser = codec.stream_parser()
    for wire in sse("text.sse")[:3]:  # created, step.start, the first text delta
        parser.feed(wire)
    tail = parser.finish()
    assert [type(e).__name__ for e in tail] == ["PartStop", "ErrorEvent"]
