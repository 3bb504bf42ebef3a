"""The Claude Code path: an Anthropic Messages request served by an OpenAI-compatible
upstream. OpenAI-style SSE transcripts (as OpenAI, DeepSeek and vLLM send them) go
through the OpenAI adapter's chunk translation and the Anthropic renderer; each test
asserts the exact Anthropic event sequence the client receives."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest

from gateway.base import http
from gateway.base.errors import UpstreamError
from gateway.codecs.anthropic.inbound import parse_request, render_stream
from gateway.providers.base import Exchange
from gateway.providers.openai_compatible import OpenAICompatibleProvider
from tests.gateway.providers.test_anthropic import make_deployment, make_provider

PUBLIC_MODEL = "claude-sonnet-4-5"
ID = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": ID,
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": "gpt-4.1-2025-04-14",
        "choices": [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}],
    }
    data.update(extra)
    return data


def usage_chunk(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    return {
        "id": ID,
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": "gpt-4.1-2025-04-14",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def call(
    index: int, arguments: str, id: str | None = None, name: str | None = None
) -> dict[str, Any]:
    fn: dict[str, Any] = {"arguments": arguments}
    if name:
        fn["name"] = name
    entry: dict[str, Any] = {"index": index, "function": fn}
    if id:
        entry.update(id=id, type="function")
    return entry


def sse(chunks: list[dict[str, Any] | str]) -> bytes:
    out = b""
    for item in chunks:
        out += (
            b"data: " + (item.encode() if isinstance(item, str) else orjson.dumps(item)) + b"\n\n"
        )
    return out


# expected Anthropic events ------------------------------------------------------------------


def message_start(input_tokens: int = 0) -> tuple[str, dict[str, Any]]:
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    message = {
        "id": f"msg_{ID}",
        "type": "message",
        "role": "assistant",
        "model": PUBLIC_MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    return ("message_start", {"type": "message_start", "message": message})


def block_start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return (
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def text_start(index: int) -> tuple[str, dict[str, Any]]:
    return block_start(index, {"type": "text", "text": ""})


def tool_start(index: int, id: str, name: str) -> tuple[str, dict[str, Any]]:
    return block_start(index, {"type": "tool_use", "id": id, "name": name, "input": {}})


def delta(index: int, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": body})


def text(index: int, value: str) -> tuple[str, dict[str, Any]]:
    return delta(index, {"type": "text_delta", "text": value})


def args(index: int, fragment: str) -> tuple[str, dict[str, Any]]:
    return delta(index, {"type": "input_json_delta", "partial_json": fragment})


def stop(index: int) -> tuple[str, dict[str, Any]]:
    return ("content_block_stop", {"type": "content_block_stop", "index": index})


def message_end(reason: str, input_tokens: int, output_tokens: int, cache_read: int = 0) -> list:
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": 0,
    }
    return [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": None},
                "usage": usage,
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


# the path -----------------------------------------------------------------------------------

CLAUDE_CODE_BODY = {
    "model": PUBLIC_MODEL,
    "max_tokens": 32000,
    "stream": True,
    "system": [
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
    ],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "What is in /src?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_01A", "name": "LS", "input": {"path": "/src"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "app.py\nutil.py"},
                {"type": "text", "text": "Read app.py"},
            ],
        },
    ],
    "tools": [
        {
            "name": "Read",
            "description": "Read a file",
            "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
        }
    ],
    "metadata": {"user_id": "user_1"},
}


@pytest.fixture
def upstream():
    received: list[httpx.Request] = []
    state: dict[str, bytes] = {"body": b""}

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=state["body"]
        )

    http.use_transport(httpx.MockTransport(handler))
    yield state, received
    http.use_transport(None)


async def claude_code_receives(
    upstream, chunks: list[dict[str, Any] | str]
) -> list[tuple[str, dict]]:
    state, _ = upstream
    state["body"] = sse(chunks)
    request = parse_request(CLAUDE_CODE_BODY, {"anthropic-version": "2023-06-01"})
    deployment = make_deployment(
        make_provider(kind="openai", base_url="https://llm.example.test/v1", extra_headers={}),
        model="gpt-4.1",
        supports_reasoning=False,
    )
    events = OpenAICompatibleProvider(deployment.provider).stream(request, deployment, Exchange())
    received = []
    async for raw in render_stream(events, request):
        name, data = raw.decode().strip().split("\n")
        assert name.startswith("event: ") and data.startswith("data: ")
        received.append((name[7:], json.loads(data[6:])))
    return received


async def test_upstream_receives_an_openai_body(upstream):
    await claude_code_receives(upstream, [chunk({"content": "x"}, "stop"), "[DONE]"])
    _, received = upstream
    sent = orjson.loads(received[0].content)
    assert str(received[0].url) == "https://llm.example.test/v1/chat/completions"
    assert sent["model"] == "gpt-4.1" and sent["stream"] is True
    roles = [m["role"] for m in sent["messages"]]
    assert roles[:3] == ["system", "user", "assistant"] and "tool" in roles
    assert sent["messages"][roles.index("tool")]["tool_call_id"] == "toolu_01A"
    assert sent["tools"][0]["function"]["name"] == "Read"


async def test_plain_text_with_trailing_usage_chunk(upstream):
    received = await claude_code_receives(
        upstream,
        [
            chunk({"role": "assistant", "content": "", "refusal": None}),
            chunk({"content": "Hello"}),
            chunk({"content": " there."}),
            chunk({}, "stop"),
            usage_chunk(1200, 5, cached=1000),
            "[DONE]",
        ],
    )
    assert received == [
        message_start(),
        text_start(0),
        text(0, "Hello"),
        text(0, " there."),
        stop(0),
        *message_end("end_turn", 200, 5, cache_read=1000),
    ]


async def test_text_then_tool_call_in_fragments(upstream):
    received = await claude_code_receives(
        upstream,
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Reading it."}),
            chunk({"tool_calls": [call(0, "", id="call_Read1", name="Read")]}),
            chunk({"tool_calls": [call(0, '{"file_')]}),
            chunk({"tool_calls": [call(0, 'path": "/src/')]}),
            chunk({"tool_calls": [call(0, 'app.py"}')]}),
            chunk({}, "tool_calls"),
            usage_chunk(900, 30),
            "[DONE]",
        ],
    )
    assert received == [
        message_start(),
        text_start(0),
        text(0, "Reading it."),
        stop(0),
        tool_start(1, "call_Read1", "Read"),
        args(1, '{"file_'),
        args(1, 'path": "/src/'),
        args(1, 'app.py"}'),
        stop(1),
        *message_end("tool_use", 900, 30),
    ]


async def test_parallel_tool_calls_in_many_fragments_and_two_in_one_chunk(upstream):
    received = await claude_code_receives(
        upstream,
        [
            chunk({"role": "assistant", "content": None}),
            chunk({"tool_calls": [call(0, "", id="call_A", name="Read")]}),
            chunk({"tool_calls": [call(0, '{"file_path"')]}),
            chunk({"tool_calls": [call(0, ': "a.py"}')]}),
            chunk({"tool_calls": [call(1, '{"pa', id="call_B", name="Grep")]}),
            chunk({"tool_calls": [call(1, 'ttern": "main"}')]}),
            chunk(
                {
                    "tool_calls": [
                        call(2, "{}", id="call_C", name="LS"),
                        call(3, '{"x": 1}', id="call_D", name="Bash"),
                    ]
                }
            ),
            chunk({}, "tool_calls"),
            usage_chunk(700, 80),
            "[DONE]",
        ],
    )
    assert received == [
        message_start(),
        tool_start(0, "call_A", "Read"),
        args(0, '{"file_path"'),
        args(0, ': "a.py"}'),
        stop(0),
        tool_start(1, "call_B", "Grep"),
        args(1, '{"pa'),
        args(1, 'ttern": "main"}'),
        stop(1),
        tool_start(2, "call_C", "LS"),
        args(2, "{}"),
        stop(2),
        tool_start(3, "call_D", "Bash"),
        args(3, '{"x": 1}'),
        stop(3),
        *message_end("tool_use", 700, 80),
    ]


async def test_deepseek_reasoning_content_becomes_thinking_then_text(upstream):
    received = await claude_code_receives(
        upstream,
        [
            chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
            chunk({"content": None, "reasoning_content": "The user wants"}),
            chunk({"content": None, "reasoning_content": " a list."}),
            chunk({"content": "Two files", "reasoning_content": None}),
            chunk({"content": "."}),
            chunk(
                {"content": ""},
                "stop",
                usage={"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
            ),
            "[DONE]",
        ],
    )
    assert received == [
        message_start(),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "The user wants"}),
        delta(0, {"type": "thinking_delta", "thinking": " a list."}),
        stop(0),
        text_start(1),
        text(1, "Two files"),
        text(1, "."),
        stop(1),
        *message_end("end_turn", 50, 20),
    ]


async def test_content_and_finish_reason_in_one_chunk_and_empty_tool_calls(upstream):
    """vLLM style: ``tool_calls: []`` alongside content, the last words arriving with
    finish_reason, and no usage at all."""
    received = await claude_code_receives(
        upstream,
        [
            chunk({"role": "assistant", "content": "", "tool_calls": []}),
            chunk({"content": "Done", "tool_calls": []}),
            chunk({"content": " now."}, "stop"),
            "[DONE]",
        ],
    )
    assert received == [
        message_start(),
        text_start(0),
        text(0, "Done"),
        text(0, " now."),
        stop(0),
        *message_end("end_turn", 0, 0),
    ]


async def test_length_finish_maps_to_max_tokens(upstream):
    received = await claude_code_receives(
        upstream, [chunk({"content": "Trunc"}), chunk({}, "length"), usage_chunk(10, 1), "[DONE]"]
    )
    assert received[-2][1]["delta"]["stop_reason"] == "max_tokens"


async def test_mid_stream_error_becomes_an_anthropic_error_event(upstream):
    received = await claude_code_receives(
        upstream,
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Partial"}),
            {
                "error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                    "code": 500,
                }
            },
        ],
    )
    assert received == [
        message_start(),
        text_start(0),
        text(0, "Partial"),
        (
            "error",
            {
                "type": "error",
                "error": {
                    "type": "api_error",
                    "message": "The server had an error while processing your request.",
                },
            },
        ),
    ]


async def test_stream_cut_without_finish_is_an_error_not_a_silent_end(upstream):
    received = await claude_code_receives(upstream, [chunk({"content": "Half"})])
    assert received[-1][0] == "error"
    assert not any(name == "message_stop" for name, _ in received)


async def test_failure_before_any_output_raises_for_routing(upstream):
    state, _ = upstream
    state["body"] = sse([{"error": {"message": "overloaded", "code": 503}}])
    request = parse_request(CLAUDE_CODE_BODY, {})
    deployment = make_deployment(
        make_provider(kind="openai", base_url="https://llm.example.test/v1"), model="m"
    )
    events = OpenAICompatibleProvider(deployment.provider).stream(request, deployment, Exchange())
    with pytest.raises(UpstreamError):
        async for _ in render_stream(events, request):
            pass


async def test_interleaved_parallel_tool_calls_reach_claude_code_whole(upstream):
    # call 0 goes on after call 1 began: call 1 is held until call 0's arguments are a
    # whole object, so no fragment lands in a block that is already closed
    received = await claude_code_receives(
        upstream,
        [
            chunk({"role": "assistant", "content": None}),
            chunk({"tool_calls": [call(0, "", id="call_a", name="Read")]}),
            chunk({"tool_calls": [call(0, '{"file_path":')]}),
            chunk({"tool_calls": [call(1, "", id="call_b", name="Grep")]}),
            chunk({"tool_calls": [call(1, '{"pattern": "x"')]}),
            chunk({"tool_calls": [call(0, ' "/a.py"}')]}),
            chunk({"tool_calls": [call(1, "}")]}),
            chunk({}, "tool_calls"),
            usage_chunk(100, 20),
            "[DONE]",
        ],
    )
    inputs: dict[int, str] = {}
    order = []
    for name, data in received:
        if name == "content_block_start":
            order.append((data["index"], data["content_block"]["name"]))
            inputs[data["index"]] = ""
        elif name == "content_block_delta":
            assert data["index"] == order[-1][0], "a delta for a block that is not open"
            inputs[data["index"]] += data["delta"]["partial_json"]
        elif name == "content_block_stop":
            assert data["index"] == order[-1][0]
    assert order == [(0, "Read"), (1, "Grep")]
    assert {i: json.loads(text) for i, text in inputs.items()} == {
        0: {"file_path": "/a.py"},
        1: {"pattern": "x"},
    }
    assert received[-2][1]["delta"]["stop_reason"] == "tool_use"
