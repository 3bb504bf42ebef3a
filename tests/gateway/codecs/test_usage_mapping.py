"""Cached-token usage pinned in every direction, whole and streamed.

The canonical ``Usage`` keeps ``input_tokens`` OUTSIDE the cache reads and writes
(Anthropic's convention); each wire format's numbers are fixed here for one prompt of
15 tokens: 5 uncached, 7 read from the cache, 3 written to it, and 4 output tokens.

- OpenAI chat: ``prompt_tokens`` counts every prompt token, ``cached_tokens`` a part of
  it (no write count on the wire, so writes are inside ``prompt_tokens`` only);
- Anthropic: ``input_tokens`` 5 beside ``cache_read_input_tokens`` 7 and
  ``cache_creation_input_tokens`` 3;
- Gemini: ``promptTokenCount`` counts the cached ``cachedContentTokenCount`` too;
- Bedrock Converse: ``inputTokens`` 5 beside ``cacheReadInputTokens`` /
  ``cacheWriteInputTokens``;
- Cohere v2: ``billed_units.input_tokens`` 5 (cached tokens are not billed) beside
  ``cached_tokens`` 7; ``tokens.input_tokens`` counts them all (and the template);
- Responses: ``input_tokens`` counts every prompt token, ``input_tokens_details.
  cached_tokens`` a part of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from gateway.base.streaming import fold_events
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    Finish,
    Message,
    PartStart,
    PartStop,
    Start,
    StreamEvent,
    Text,
    TextDelta,
    Usage,
    UsageEvent,
)
from gateway.codecs.anthropic import codec as anthropic
from gateway.codecs.anthropic import inbound as anthropic_in
from gateway.codecs.base import WireEvent
from gateway.codecs.bedrock import codec as bedrock
from gateway.codecs.cohere import codec as cohere
from gateway.codecs.gemini import codec as gemini
from gateway.codecs.gemini import inbound as gemini_in
from gateway.codecs.openai_chat import codec as openai_chat
from gateway.codecs.openai_chat import inbound as openai_in
from gateway.codecs.openai_responses import CODEC as _responses
from gateway.codecs.openai_responses import inbound as responses_in

responses = _responses.upstream

WITH_WRITES = Usage(input_tokens=5, output_tokens=4, cache_read_tokens=7, cache_write_tokens=3)
READS_ONLY = Usage(input_tokens=5, output_tokens=4, cache_read_tokens=7)


# --- upstream wire -> canonical ------------------------------------------------------------


def openai_usage() -> dict[str, Any]:
    return {
        "prompt_tokens": 12,
        "completion_tokens": 4,
        "total_tokens": 16,
        "prompt_tokens_details": {"cached_tokens": 7},
    }


def openai_stream() -> list[WireEvent]:
    chunk = {"id": "c", "model": "m", "object": "chat.completion.chunk", "created": 1}
    return [
        WireEvent(None, {**chunk, "choices": [{"index": 0, "delta": {"content": "hi"}}]}),
        WireEvent(None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        WireEvent(None, {**chunk, "choices": [], "usage": openai_usage()}),
    ]


ANTHROPIC_USAGE = {
    "input_tokens": 5,
    "output_tokens": 4,
    "cache_read_input_tokens": 7,
    "cache_creation_input_tokens": 3,
}


def anthropic_stream() -> list[WireEvent]:
    start_usage = {**ANTHROPIC_USAGE, "output_tokens": 1}
    message = {"id": "m1", "type": "message", "role": "assistant", "model": "m", "content": [],
               "usage": start_usage}  # fmt: skip
    return [
        WireEvent("message_start", {"type": "message_start", "message": message}),
        WireEvent("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}}),
        WireEvent("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "text_delta", "text": "hi"}}),
        WireEvent("content_block_stop", {"type": "content_block_stop", "index": 0}),
        WireEvent("message_delta", {"type": "message_delta",
                                    "delta": {"stop_reason": "end_turn"},
                                    "usage": {"output_tokens": 4}}),
        WireEvent("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip


GEMINI_USAGE = {
    "promptTokenCount": 12,
    "candidatesTokenCount": 4,
    "totalTokenCount": 16,
    "cachedContentTokenCount": 7,
}


def gemini_answer() -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": GEMINI_USAGE,
        "modelVersion": "m",
    }


BEDROCK_USAGE = {
    "inputTokens": 5,
    "outputTokens": 4,
    "totalTokens": 19,
    "cacheReadInputTokens": 7,
    "cacheWriteInputTokens": 3,
}


def bedrock_stream() -> list[WireEvent]:
    return [
        WireEvent("messageStart", {"role": "assistant"}),
        WireEvent("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hi"}}),
        WireEvent("contentBlockStop", {"contentBlockIndex": 0}),
        WireEvent("messageStop", {"stopReason": "end_turn"}),
        WireEvent("metadata", {"usage": BEDROCK_USAGE, "metrics": {"latencyMs": 1}}),
    ]


COHERE_USAGE = {
    "billed_units": {"input_tokens": 5, "output_tokens": 4},
    "tokens": {"input_tokens": 72, "output_tokens": 4},
    "cached_tokens": 7,
}


def cohere_stream() -> list[WireEvent]:
    content = {"message": {"content": {"type": "text", "text": ""}}}
    return [
        WireEvent("message-start", {"type": "message-start", "id": "co",
                                    "delta": {"message": {"role": "assistant"}}}),
        WireEvent("content-start", {"type": "content-start", "index": 0, "delta": content}),
        WireEvent("content-delta", {"type": "content-delta", "index": 0,
                                    "delta": {"message": {"content": {"text": "hi"}}}}),
        WireEvent("content-end", {"type": "content-end", "index": 0}),
        WireEvent("message-end", {"type": "message-end",
                                  "delta": {"finish_reason": "COMPLETE", "usage": COHERE_USAGE}}),
    ]  # fmt: skip


RESPONSES_USAGE = {
    "input_tokens": 12,
    "input_tokens_details": {"cached_tokens": 7},
    "output_tokens": 4,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 16,
}


def responses_answer() -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": "m",
        "output": [
            {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "hi", "annotations": []}]}
        ],
        "usage": RESPONSES_USAGE,
    }  # fmt: skip


def responses_stream() -> list[WireEvent]:
    answer = responses_answer()
    created = {**answer, "status": "in_progress", "output": [], "usage": None}
    return [
        WireEvent("response.created", {"type": "response.created", "response": created}),
        WireEvent("response.output_text.delta", {"type": "response.output_text.delta",
                                                 "output_index": 0, "content_index": 0,
                                                 "item_id": "msg_1", "delta": "hi"}),
        WireEvent("response.completed", {"type": "response.completed", "response": answer}),
    ]  # fmt: skip


UPSTREAMS = {
    "openai_chat": (
        openai_chat,
        lambda: {"id": "c", "model": "m", "object": "chat.completion",
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                              "finish_reason": "stop"}],
                 "usage": openai_usage()},
        openai_stream,
        READS_ONLY,
    ),
    "anthropic": (
        anthropic,
        lambda: {"id": "m1", "type": "message", "role": "assistant", "model": "m",
                 "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
                 "usage": ANTHROPIC_USAGE},
        anthropic_stream,
        WITH_WRITES,
    ),
    "gemini": (
        gemini,
        gemini_answer,
        lambda: [WireEvent(None, gemini_answer())],
        READS_ONLY,
    ),
    "bedrock": (
        bedrock,
        lambda: {"output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
                 "stopReason": "end_turn", "usage": BEDROCK_USAGE},
        bedrock_stream,
        WITH_WRITES,
    ),
    "cohere": (
        cohere,
        lambda: {"id": "co", "finish_reason": "COMPLETE",
                 "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
                 "usage": COHERE_USAGE},
        cohere_stream,
        READS_ONLY,
    ),
    "openai_responses": (responses, responses_answer, responses_stream, READS_ONLY),
}  # fmt: skip


@pytest.mark.parametrize("name", UPSTREAMS)
def test_an_upstreams_whole_answer_maps_to_the_canonical_counts(name: str) -> None:
    codec, answer, _, expected = UPSTREAMS[name]
    assert codec.parse_response(answer()).usage == expected


@pytest.mark.parametrize("name", UPSTREAMS)
def test_an_upstreams_stream_maps_to_the_same_counts(name: str) -> None:
    codec, _, stream, expected = UPSTREAMS[name]
    parser = codec.stream_parser()
    events = [e for wire in stream() for e in parser.feed(wire)] + parser.finish()
    folded = fold_events(events)
    assert folded.usage == expected
    assert folded.parts == [Text("hi")]


# --- canonical -> client wire ----------------------------------------------------------------


def client_request(dialect: str, stream: bool) -> ChatRequest:
    return ChatRequest(
        model="m", messages=[Message("user", [Text("x")])], stream=stream, include_usage=True,
        dialect=dialect,
    )  # fmt: skip


def answer() -> ChatResponse:
    return ChatResponse(id="r", model="m", parts=[Text("hi")], usage=WITH_WRITES)


async def canonical_stream() -> AsyncIterator[StreamEvent]:
    for event in (
        Start("r", "m"),
        PartStart(0, "text"),
        TextDelta(0, "hi"),
        PartStop(0),
        Finish("stop"),
        UsageEvent(WITH_WRITES),
    ):
        yield event


def sse_payloads(chunks: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for line in b"".join(chunks).decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(orjson.loads(line[6:]))
    return out


OPENAI_NUMBERS = {"prompt_tokens": 15, "completion_tokens": 4, "total_tokens": 19, "cached": 7}


def openai_numbers(usage: dict[str, Any]) -> dict[str, int]:
    return {
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "total_tokens": usage["total_tokens"],
        "cached": usage["prompt_tokens_details"]["cached_tokens"],
    }


ANTHROPIC_NUMBERS = {
    "input_tokens": 5,
    "output_tokens": 4,
    "cache_read_input_tokens": 7,
    "cache_creation_input_tokens": 3,
}


def gemini_numbers(meta: dict[str, Any]) -> dict[str, int]:
    return {k: meta[k] for k in ("promptTokenCount", "candidatesTokenCount", "totalTokenCount",
                                 "cachedContentTokenCount")}  # fmt: skip


GEMINI_NUMBERS = {
    "promptTokenCount": 15,
    "candidatesTokenCount": 4,
    "totalTokenCount": 19,
    "cachedContentTokenCount": 7,
}


def responses_numbers(usage: dict[str, Any]) -> dict[str, int]:
    return {
        "input_tokens": usage["input_tokens"],
        "cached": usage["input_tokens_details"]["cached_tokens"],
        "output_tokens": usage["output_tokens"],
        "total_tokens": usage["total_tokens"],
    }


RESPONSES_NUMBERS = {"input_tokens": 15, "cached": 7, "output_tokens": 4, "total_tokens": 19}


async def test_openai_chat_clients_get_cached_tokens_inside_prompt_tokens() -> None:
    body = openai_in.render_response(answer(), client_request("openai", False))
    assert openai_numbers(body["usage"]) == OPENAI_NUMBERS
    chunks = [
        c async for c in openai_in.render_stream(canonical_stream(), client_request("openai", True))
    ]
    usage = [p["usage"] for p in sse_payloads(chunks) if p.get("usage")]
    assert [openai_numbers(u) for u in usage] == [OPENAI_NUMBERS]


async def test_anthropic_clients_get_cache_counts_outside_input_tokens() -> None:
    body = anthropic_in.render_response(answer(), client_request("anthropic", False))
    assert {k: body["usage"][k] for k in ANTHROPIC_NUMBERS} == ANTHROPIC_NUMBERS
    chunks = [
        c
        async for c in anthropic_in.render_stream(
            canonical_stream(), client_request("anthropic", True)
        )
    ]
    delta = next(p for p in sse_payloads(chunks) if p["type"] == "message_delta")
    assert {k: delta["usage"][k] for k in ANTHROPIC_NUMBERS} == ANTHROPIC_NUMBERS


async def test_gemini_clients_get_cached_tokens_inside_the_prompt_count() -> None:
    body = gemini_in.render_response(answer(), client_request("gemini", False))
    assert gemini_numbers(body["usageMetadata"]) == GEMINI_NUMBERS
    chunks = [
        c async for c in gemini_in.render_stream(canonical_stream(), client_request("gemini", True))
    ]
    metas = [p["usageMetadata"] for p in sse_payloads(chunks) if p.get("usageMetadata")]
    assert gemini_numbers(metas[-1]) == GEMINI_NUMBERS


async def test_responses_clients_get_cached_tokens_inside_input_tokens() -> None:
    body = responses_in.render_response(answer(), client_request("responses", False))
    assert responses_numbers(body["usage"]) == RESPONSES_NUMBERS
    chunks = [
        c
        async for c in responses_in.render_stream(
            canonical_stream(), client_request("responses", True)
        )
    ]
    done = next(p for p in sse_payloads(chunks) if p["type"] == "response.completed")
    assert responses_numbers(done["response"]["usage"]) == RESPONSES_NUMBERS
