"""What the gateway reads of a body it passes through unchanged (texts for guardrails,
the output ceiling, the model) and of the answer as it streams by (usage, model), in
every vendor shape it knows; cut anywhere by the network."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.base.types import Usage
from gateway.features.passthrough import shapes


def texts(request: Any) -> list[str]:
    out = [part.text for part in request.system]
    for message in request.messages:
        out += [part.text for part in message.parts if hasattr(part, "text")]
    return out


@pytest.mark.parametrize(
    ("body", "dialect", "path", "read"),
    [
        ({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}, "openai", "/v1/chat/completions", ["hi"]),
        ({"model": "c", "system": "be kind", "messages": [{"role": "user", "content": "hi"}]}, "anthropic", "/v1/messages", ["be kind", "hi"]),
        ({"contents": [{"role": "user", "parts": [{"text": "hey"}]}]}, "gemini", "/v1beta/models/g:generateContent", ["hey"]),
        ({"model": "o", "input": "hello"}, "openai", "/v1/responses", ["hello"]),
        ({"model": "e", "input": ["one", "two"]}, "openai", "/v1/embeddings", ["one", "two"]),
        ({"model": "m", "input": "flag me"}, "openai", "/v1/moderations", ["flag me"]),
        ({"model": "m", "prompt": "once upon"}, "openai", "/v1/completions", ["once upon"]),
    ],
)  # fmt: skip
def test_a_body_of_a_known_shape_is_read(
    body: dict[str, Any], dialect: str, path: str, read: list[str]
) -> None:
    request = shapes.readable(body, dialect, path)
    assert request is not None and texts(request) == read


@pytest.mark.parametrize(
    "body",
    [None, {"file_id": "f1", "purpose": "fine-tune"}, {"messages": [{"role": "user", "content": 7}]},
     {"input": [{"not": "a string"}]}],
)  # fmt: skip
def test_any_other_body_is_of_no_known_shape(body: dict[str, Any] | None) -> None:
    assert shapes.readable(body, "openai", "/v1/things") is None


def test_a_body_is_json_only_when_it_says_so_or_looks_it() -> None:
    assert shapes.json_object(b'{"a": 1}', "application/json") == {"a": 1}
    assert shapes.json_object(b'{"a": 1}', "") == {"a": 1}
    assert shapes.json_object(b'{"a": 1}', "text/plain") is None
    assert shapes.json_object(b"[1]", "application/json") is None
    assert shapes.json_object(b"{oops", "application/json") is None


def test_the_output_ceiling_in_any_vendors_spelling() -> None:
    assert shapes.max_output({"max_tokens": 10}) == 10
    assert shapes.max_output({"max_output_tokens": 11}) == 11
    assert shapes.max_output({"generationConfig": {"maxOutputTokens": 12}}) == 12
    assert shapes.max_output({"inferenceConfig": {"maxTokens": 13}}) == 13
    assert shapes.max_output({"max_tokens": True}) is None and shapes.max_output(None) is None


def test_the_models_a_request_names() -> None:
    assert shapes.models_named({"model": "gpt-4o"}, "/v1/chat/completions") == ["gpt-4o"]
    assert shapes.models_named(None, "/v1beta/models/gemini-2.5-flash:generateContent") == [
        "gemini-2.5-flash"
    ]
    assert shapes.models_named(None, "/model/us.amazon.nova-pro-v1%3A0/converse") == [
        "us.amazon.nova-pro-v1:0"
    ]


def read(content_type: str, chunks: list[bytes]) -> tuple[Usage | None, str]:
    reader = shapes.AnswerReader(content_type)
    for chunk in chunks:
        reader.feed(chunk)
    return reader.end()


def split(data: bytes, size: int = 7) -> list[bytes]:
    """``data`` cut every ``size`` bytes, as a network may deliver it."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


WHOLE = [
    ({"model": "gpt-4o", "usage": {"prompt_tokens": 10, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 6}}},
     Usage(input_tokens=4, output_tokens=4, cache_read_tokens=6), "gpt-4o"),
    ({"type": "message", "model": "claude-x", "usage": {"input_tokens": 9, "output_tokens": 3, "cache_read_input_tokens": 2}},
     Usage(input_tokens=9, output_tokens=3, cache_read_tokens=2), "claude-x"),
    ({"object": "response", "model": "o4", "usage": {"input_tokens": 8, "output_tokens": 2, "total_tokens": 10, "input_tokens_details": {"cached_tokens": 5}}},
     Usage(input_tokens=3, output_tokens=2, cache_read_tokens=5), "o4"),
    ({"output": {}, "usage": {"inputTokens": 7, "outputTokens": 1, "totalTokens": 8}},
     Usage(input_tokens=7, output_tokens=1), ""),
    ({"modelVersion": "gemini-2.5-flash", "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2}},
     Usage(input_tokens=5, output_tokens=2), "gemini-2.5-flash"),
    ({"id": "c", "usage": {"billed_units": {"input_tokens": 6, "output_tokens": 2}}},
     Usage(input_tokens=6, output_tokens=2), ""),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "usage", "model"), WHOLE)
def test_a_whole_answers_usage_in_each_vendors_shape(
    answer: dict[str, Any], usage: Usage, model: str
) -> None:
    assert read("application/json; charset=utf-8", split(orjson.dumps(answer))) == (usage, model)


def test_an_answer_without_usage_reports_none() -> None:
    assert read("application/json", [b'{"id": "up-gpt", "object": "model"}']) == (None, "")
    assert read("application/octet-stream", [b"\x00\x01"]) == (None, "")


def test_a_json_answer_too_large_to_read_is_relayed_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shapes, "READ_AT_MOST", 16)
    assert read("application/json", split(orjson.dumps(WHOLE[0][0]))) == (None, "")


def test_gemini_streamed_as_one_json_list() -> None:
    chunks = [{"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}},
              {"modelVersion": "g", "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5}}]  # fmt: skip
    assert read("application/json", split(orjson.dumps(chunks))) == (
        Usage(input_tokens=3, output_tokens=5),
        "g",
    )


STREAMS = [
    # OpenAI: the usage chunk after the finish (stream_options.include_usage)
    (sse({"model": "gpt-4o", "choices": [{"delta": {"content": "hi"}}]},
         {"model": "gpt-4o", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
     Usage(input_tokens=3, output_tokens=2), "gpt-4o"),
    # Anthropic: message_start's usage merged with message_delta's
    (b"event: message_start\ndata: " + orjson.dumps({"type": "message_start", "message": {"model": "claude-x", "usage": {"input_tokens": 12, "output_tokens": 1, "cache_creation_input_tokens": 4}}})
     + b"\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"usage\"}}\n\n"
     + b"event: message_delta\ndata: " + orjson.dumps({"type": "message_delta", "usage": {"output_tokens": 9}}) + b"\n\n",
     Usage(input_tokens=12, output_tokens=9, cache_write_tokens=4), "claude-x"),
    # the Responses API: response.completed
    (sse({"type": "response.created", "response": {"model": "o4"}},
         {"type": "response.completed", "response": {"model": "o4", "usage": {"input_tokens": 5, "output_tokens": 6, "total_tokens": 11}}}),
     Usage(input_tokens=5, output_tokens=6), "o4"),
    # Gemini: every chunk's usageMetadata is the total so far
    (sse({"modelVersion": "g", "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1}},
         {"modelVersion": "g", "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 7}}),
     Usage(input_tokens=4, output_tokens=7), "g"),
]  # fmt: skip


@pytest.mark.parametrize(("stream", "usage", "model"), STREAMS)
@pytest.mark.parametrize("size", [1, 7, 4096])
def test_a_streams_usage_in_each_vendors_shape(
    stream: bytes, usage: Usage, model: str, size: int
) -> None:
    assert read("text/event-stream", split(stream, size)) == (usage, model)
