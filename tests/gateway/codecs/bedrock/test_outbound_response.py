"""Converse answers, streams and errors -> canonical: golden answers written from the
Converse reference, and every stream fixture folds to exactly what parse_response
returns for the same answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.base import errors
from gateway.base.streaming import fold_events
from gateway.base.types import (
    ErrorEvent,
    Finish,
    PartStart,
    Start,
    Text,
    Thinking,
    ToolArgsDelta,
    ToolCall,
    Usage,
)
from gateway.codecs.base import WireEvent
from gateway.codecs.bedrock import codec

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "bedrock"
ANSWERS = ["text", "tool_use", "reasoning", "json_output", "max_tokens"]


def load(name: str):  # type: ignore[no-untyped-def]
    return json.loads((FIXTURES / name).read_text())


def feed_all(events: list[list]) -> list:  # type: ignore[type-arg]
    parser = codec.stream_parser()
    out = []
    for name, payload in events:
        out += parser.feed(WireEvent(name, payload))
    return out + parser.finish()


def test_text_answer() -> None:
    response = codec.parse_response(load("text.json"))
    assert response.parts == [Text("Hello! How can I help you today?")]
    assert response.finish_reason == "stop"
    assert response.usage == Usage(input_tokens=12, output_tokens=10)


def test_tool_use_answer_with_cache_usage() -> None:
    response = codec.parse_response(load("tool_use.json"))
    assert response.text() == "I'll look up the weather in Paris and Tokyo."
    assert response.tool_calls() == [
        ToolCall(
            "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "get_weather", {"city": "Paris", "unit": "celsius"}
        ),
        ToolCall("tooluse_Qr2f1aCzT2mV0E3rY9Xk1w", "get_weather", {"city": "Tokyo"}),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(402, 95, cache_read_tokens=1500)
    assert response.usage.prompt_tokens == 1902


def test_reasoning_answer_keeps_signature_and_redacted_content() -> None:
    response = codec.parse_response(load("reasoning.json"))
    assert response.parts == [
        Thinking(
            "The user asks for 17 * 23. 17 * 20 = 340, 17 * 3 = 51, total 391.",
            signature="EqoBCkgIARABGAIiQGm0c2lnbmF0dXJlLWZvci10ZXN0cw==",
        ),
        Thinking(redacted="RXJlZGFjdGVkLXJlYXNvbmluZy1ieXRlcw=="),
        Text("17 × 23 = 391."),
    ]


def test_json_output_tool_comes_back_as_text_with_finish_stop() -> None:
    response = codec.parse_response(load("json_output.json"))
    assert json.loads(response.text()) == {"city": "Paris", "population": 2102650}
    assert response.tool_calls() == [] and response.finish_reason == "stop"


@pytest.mark.parametrize("name", ANSWERS)
def test_stream_folds_to_the_same_answer(name: str) -> None:
    events = feed_all(load(f"{name}.stream.json"))
    assert isinstance(events[0], Start)
    assert fold_events(events) == codec.parse_response(load(f"{name}.json"))


def test_stream_tool_calls_start_with_id_and_name_and_skip_empty_fragments() -> None:
    events = feed_all(load("tool_use.stream.json"))
    starts = [e for e in events if isinstance(e, PartStart)]
    assert [(s.index, s.kind, s.tool_id, s.tool_name) for s in starts] == [
        (0, "text", None, None),
        (1, "tool_call", "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "get_weather"),
        (2, "tool_call", "tooluse_Qr2f1aCzT2mV0E3rY9Xk1w", "get_weather"),
    ]
    fragments = [e.fragment for e in events if isinstance(e, ToolArgsDelta)]
    assert "" not in fragments and len(fragments) == 5


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("tool_use", "tool_calls"),
        ("max_tokens", "length"),
        ("stop_sequence", "stop_sequence"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ],
)
def test_stop_reasons(stop_reason: str, finish: str) -> None:
    data = {
        "output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": 1, "outputTokens": 1},
    }
    if stop_reason == "tool_use":
        data["output"]["message"]["content"].append(  # type: ignore[index]
            {"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}
        )
    assert codec.parse_response(data).finish_reason == finish
    events = feed_all([["messageStart", {}], ["messageStop", {"stopReason": stop_reason}]])
    if stop_reason != "tool_use":
        assert Finish(finish) in events  # type: ignore[arg-type]


def test_stop_sequence_named_by_additional_fields() -> None:
    data = {
        "output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
        "stopReason": "stop_sequence",
        "additionalModelResponseFields": {"stop_sequence": "END"},
    }
    assert codec.parse_response(data).stop_sequence == "END"


def test_stream_cut_before_message_stop_is_an_error() -> None:
    events = feed_all(load("text.stream.json")[:3])
    assert isinstance(events[-1], ErrorEvent)
    assert isinstance(events[-1].error, errors.UpstreamConnectionError)


def test_stream_exception_is_an_error_event_with_the_mapped_status() -> None:
    parser = codec.stream_parser()
    parser.feed(WireEvent("messageStart", {"role": "assistant"}))
    events = parser.feed(
        WireEvent("exception", {"type": "throttlingException", "message": "Too many tokens"})
    )
    assert len(events) == 1 and isinstance(events[0], ErrorEvent)
    assert events[0].error.status == 429 and events[0].error.retryable
    assert events[0].error.message == "ThrottlingException: Too many tokens"


@pytest.mark.parametrize(
    ("error_type", "status", "retryable"),
    [
        ("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", 429, True),
        ("ValidationException", 400, False),
        ("AccessDeniedException", 403, False),
        ("ResourceNotFoundException", 404, False),
        ("ModelTimeoutException", 408, True),
        ("ServiceUnavailableException", 503, True),
        ("ModelNotReadyException", 429, True),
        ("InternalServerException", 500, True),
        ("ServiceQuotaExceededException", 429, True),
        ("ModelErrorException", 502, True),
    ],
)
def test_errors_map_by_type(error_type: str, status: int, retryable: bool) -> None:
    error = codec.parse_error(418, b'{"message": "it went wrong"}', error_type)
    assert isinstance(error, errors.UpstreamError)
    assert (error.status, error.retryable) == (status, retryable)
    assert error.message.endswith("it went wrong")
    assert error.code == error_type.split(":")[0]


def test_error_type_from_the_body_and_unknown_types_keep_the_status() -> None:
    error = codec.parse_error(
        403, b'{"__type": "com.amazon.coral.service#UnrecognizedClientException", "message": "bad"}'
    )
    assert error.status == 403 and error.kind == "permission_error"
    odd = codec.parse_error(503, b"<html>Service Unavailable</html>")
    assert odd.status == 503 and odd.kind == "overloaded_error" and "html" in odd.message
    assert codec.parse_error(503, b"{}", "ServiceUnavailableException").kind == "overloaded_error"


def test_after_an_exception_the_end_of_stream_owes_nothing_more() -> None:
    events = feed_all(
        [*load("text.stream.json")[:2], ["exception", {"type": "internalServerException"}]]
    )
    assert sum(isinstance(e, ErrorEvent) for e in events) == 1
    assert events[-1].error.status == 500
