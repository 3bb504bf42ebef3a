"""OpenAI client, Anthropic upstream: Anthropic SSE transcripts run through the Anthropic
adapter's stream translator and the OpenAI renderer give exactly the chunks an
``openai`` SDK client must receive."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from gateway.base.streaming import iter_sse
from gateway.base.types import ChatRequest
from gateway.codecs.anthropic.outbound import StreamTranslator
from gateway.codecs.openai_chat.inbound import render_stream

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "anthropic"


async def openai_chunks(name: str, include_usage: bool = True) -> list:
    """The decoded chunks an OpenAI caller receives for an Anthropic upstream transcript."""
    raw = (FIXTURES / f"{name}.sse").read_text()

    async def lines():
        for line in raw.split("\n"):
            yield line

    async def canonical():
        translator = StreamTranslator()
        async for message in iter_sse(lines()):
            for event in translator.feed(json.loads(message.data)):
                yield event
        for event in translator.finish():
            yield event

    request = ChatRequest(model="claude-public", stream=True, include_usage=include_usage)
    out = []
    async for chunk in render_stream(canonical(), request):
        assert chunk.startswith(b"data: ") and chunk.endswith(b"\n\n")
        data = chunk[6:-2]
        out.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return out


def normalised(chunks: list) -> list:
    """Every chunk shares id/created/model; check that, then drop created (a clock)."""
    bodies = [c for c in chunks if isinstance(c, dict) and "choices" in c]
    assert len({(c["id"], c["created"], c["model"]) for c in bodies}) == 1
    assert all(c["created"] > 0 and c["object"] == "chat.completion.chunk" for c in bodies)
    return [
        {k: v for k, v in c.items() if k != "created"} if isinstance(c, dict) else c for c in chunks
    ]


def chunk(msg_id: str, delta: dict, finish: str | None = None) -> dict:
    return {
        "id": msg_id,
        "object": "chat.completion.chunk",
        "model": "claude-public",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def usage(msg_id: str, prompt: int, completion: int, cached: int = 0) -> dict:
    return {
        "id": msg_id,
        "object": "chat.completion.chunk",
        "model": "claude-public",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def call_start(index: int, call_id: str, name: str) -> dict:
    return {
        "tool_calls": [
            {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
        ]
    }


def call_args(index: int, fragment: str) -> dict:
    return {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}


ROLE = {"role": "assistant", "content": ""}

EXPECTED = {
    "text": [
        chunk("msg_01TextXyZ", ROLE),
        chunk("msg_01TextXyZ", {"content": "Hello"}),
        chunk("msg_01TextXyZ", {"content": "! How can"}),
        chunk("msg_01TextXyZ", {"content": " I help you today?"}),
        chunk("msg_01TextXyZ", {}, "stop"),
        usage("msg_01TextXyZ", 35, 15, cached=10),
        "[DONE]",
    ],
    "tool_use": [
        chunk("msg_01ToolAbc", ROLE),
        chunk("msg_01ToolAbc", {"content": "I'll check the weather"}),
        chunk("msg_01ToolAbc", {"content": " in Paris."}),
        chunk("msg_01ToolAbc", call_start(0, "toolu_01WeatherA", "get_weather")),
        chunk("msg_01ToolAbc", call_args(0, '{"loc')),
        chunk("msg_01ToolAbc", call_args(0, 'ation": "Par')),
        chunk("msg_01ToolAbc", call_args(0, 'is, France"')),
        chunk("msg_01ToolAbc", call_args(0, ', "unit": "c')),
        chunk("msg_01ToolAbc", call_args(0, 'elsius"}')),
        chunk("msg_01ToolAbc", {}, "tool_calls"),
        usage("msg_01ToolAbc", 412, 68),
        "[DONE]",
    ],
    "parallel_tools": [
        chunk("msg_01ParLel", ROLE),
        chunk("msg_01ParLel", call_start(0, "toolu_01Read", "Read")),
        chunk("msg_01ParLel", call_args(0, '{"file_path":')),
        chunk("msg_01ParLel", call_args(0, ' "/src/app.py"}')),
        chunk("msg_01ParLel", call_start(1, "toolu_02Grep", "Grep")),
        chunk("msg_01ParLel", call_args(1, '{"pattern": "def ')),
        chunk("msg_01ParLel", call_args(1, 'main", "path": "/src"}')),
        chunk("msg_01ParLel", call_start(2, "toolu_03Ls", "LS")),
        chunk("msg_01ParLel", call_args(2, "{}")),  # no inputs: Anthropic sent "" only
        chunk("msg_01ParLel", {}, "tool_calls"),
        usage("msg_01ParLel", 1730, 91),
        "[DONE]",
    ],
    "thinking": [
        chunk("msg_01ThinK", ROLE),
        chunk("msg_01ThinK", {"reasoning_content": "The user asks 27 * 453."}),
        chunk("msg_01ThinK", {"reasoning_content": " 27*453 = 12231."}),
        chunk("msg_01ThinK", {"content": "27 \u00d7 453 = "}),
        chunk("msg_01ThinK", {"content": "12,231."}),
        chunk("msg_01ThinK", {}, "stop"),
        usage("msg_01ThinK", 88, 240),
        "[DONE]",
    ],
    "overloaded_midstream": [
        chunk("msg_01OverL", ROLE),
        chunk("msg_01OverL", {"content": "Partial answer"}),
        {
            "error": {
                "message": "Overloaded",
                "type": "api_error",
                "param": None,
                "code": "overloaded",
            }
        },
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_anthropic_transcript_gives_exact_openai_chunks(name):
    assert normalised(await openai_chunks(name)) == EXPECTED[name]


async def test_without_include_usage_the_usage_chunk_is_left_out():
    chunks = normalised(await openai_chunks("tool_use", include_usage=False))
    assert chunks == [
        c for c in EXPECTED["tool_use"] if not (isinstance(c, dict) and c.get("choices") == [])
    ]


@pytest.mark.parametrize("name", ["text", "tool_use", "parallel_tools", "thinking"])
async def test_the_openai_sdk_accumulates_the_same_message_anthropic_sent(name):
    """The SDK's own stream accumulator rebuilds the Anthropic non-streamed answer."""
    state = ChatCompletionStreamState()
    for item in (await openai_chunks(name))[:-1]:
        state.handle_chunk(ChatCompletionChunk.model_validate(item))
    message = state.current_completion_snapshot.choices[0].message
    anthropic = json.loads((FIXTURES / f"{name}.json").read_text())
    text = "".join(b["text"] for b in anthropic["content"] if b["type"] == "text")
    calls = [
        (b["id"], b["name"], b["input"]) for b in anthropic["content"] if b["type"] == "tool_use"
    ]
    assert (message.content or "") == text
    assert [
        (c.id, c.function.name, json.loads(c.function.arguments or "{}"))
        for c in message.tool_calls or []
    ] == calls


async def test_a_tool_without_inputs_streams_empty_object_arguments():
    # Anthropic streams partial_json "" for a tool with no inputs; OpenAI clients
    # json.loads the arguments they assembled
    from gateway.base.types import Finish, PartStart, PartStop, Start, ToolArgsDelta

    async def canonical():
        yield Start(id="msg_1", model="m")
        yield PartStart(index=0, kind="tool_call", tool_id="toolu_1", tool_name="now")
        yield PartStop(index=0)
        yield PartStart(index=1, kind="tool_call", tool_id="toolu_2", tool_name="add")
        yield ToolArgsDelta(index=1, fragment='{"a": 1}')
        yield PartStop(index=1)
        yield Finish(reason="tool_use")

    request = ChatRequest(model="claude-public", stream=True)
    arguments: dict[int, str] = {}
    async for chunk in render_stream(canonical(), request):
        if chunk == b"data: [DONE]\n\n":
            continue
        for choice in orjson.loads(chunk[6:-2])["choices"]:
            for call in choice["delta"].get("tool_calls") or []:
                fragment = call["function"].get("arguments", "")
                arguments[call["index"]] = arguments.get(call["index"], "") + fragment
    assert {i: json.loads(a) for i, a in arguments.items()} == {0: {}, 1: {"a": 1}}
