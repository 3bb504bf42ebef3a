"""The Gemini codec's upstream half: every client dialect in, a ``generateContent`` body
out (golden bodies written from the API reference), and Gemini answers (whole and
streamed, fixtures under tests/fixtures/gemini) back to canonical."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.base.errors import InvalidRequest, UpstreamError
from gateway.base.streaming import fold_events
from gateway.base.types import (
    ChatRequest,
    ErrorEvent,
    Finish,
    Message,
    Reasoning,
    Text,
    Thinking,
    ToolCall,
    ToolChoice,
)
from gateway.codecs import CODECS
from gateway.codecs.anthropic import inbound as anthropic_messages
from gateway.codecs.base import Target, UpstreamCodec, WireEvent
from gateway.codecs.gemini import codec, ids
from gateway.codecs.openai_chat import inbound as openai_chat
from gateway.codecs.openai_responses import inbound as openai_responses

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gemini"
TARGET = Target(model="gemini-2.5-pro", supports_reasoning=True, max_output_tokens=8192)
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK"
SIG = "CpYBAdHtim9+LuA1fs5n/kq4Wz6cA9oYfUjm0k4xOw0RtKzJ0b2S8a+DVBOUnlVv2W4F9e9Y1g=="
WEATHER_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["c", "f"]},
        "$schema": {"type": "string"},  # a property *named* like a keyword stays
    },
    "required": ["city"],
    "additionalProperties": False,
}
CLEAN_WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["c", "f"]},
        "$schema": {"type": "string"},
    },
    "required": ["city"],
    "additionalProperties": False,
}


def load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def sse(name: str) -> list[WireEvent]:
    text = (FIXTURES / name).read_text()
    return [
        WireEvent(None, orjson.loads(block.removeprefix("data: ")))
        for block in text.split("\n\n")
        if block.strip()
    ]


def feed_all(events: list[WireEvent], close: bool = True) -> list:
    parser = codec.stream_parser()
    out = [e for wire in events for e in parser.feed(wire)]
    return out + parser.finish() if close else out


def test_codec_is_registered_and_speaks_sse() -> None:
    assert CODECS["gemini"].upstream is codec and isinstance(codec, UpstreamCodec)
    assert codec.framing == "sse"


# --- client dialects in ------------------------------------------------------------------

SIGNED_ID = ids.call_id("r1", 0, "get_weather", SIG)


def test_openai_chat_request_golden() -> None:
    body = {
        "model": "gem",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather where this photo was taken?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": SIGNED_ID,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": SIGNED_ID, "content": "18C and sunny"},
            {"role": "user", "content": "Thanks. Answer as JSON."},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather",
                    "parameters": WEATHER_SCHEMA,
                },
            }
        ],
        "tool_choice": "required",
        "max_completion_tokens": 100000,
        "temperature": 0.3,
        "top_p": 0.9,
        "stop": ["END"],
        "reasoning_effort": "low",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "w", "schema": {"type": "object", "properties": {}}},
        },
    }
    request = openai_chat.parse_request(body, {})
    assert codec.build_request(request, TARGET) == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Weather where this photo was taken?"},
                    {"inlineData": {"mimeType": "image/png", "data": PNG}},
                ],
            },
            {
                "role": "model",
                "parts": [
                    {"text": "Checking."},
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                        "thoughtSignature": SIG,
                    },
                ],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "name": "get_weather",
                            "response": {"result": "18C and sunny"},
                        }
                    },
                    {"text": "Thanks. Answer as JSON."},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "Current weather",
                        "parametersJsonSchema": CLEAN_WEATHER,
                    }
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {
            "maxOutputTokens": 8192,
            "temperature": 0.3,
            "topP": 0.9,
            "stopSequences": ["END"],
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object", "properties": {}},
            "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024},
        },
    }


def test_anthropic_messages_request_golden() -> None:
    body = {
        "model": "gem",
        "max_tokens": 2048,
        "system": [{"type": "text", "text": "You are terse."}],
        "thinking": {"type": "enabled", "budget_tokens": 4000},
        "tools": [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Summarise this PDF, then the weather."},
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/cat.jpg"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Need weather.", "signature": "anthropic"},
                    {
                        "type": "tool_use",
                        "id": SIGNED_ID,
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": SIGNED_ID,
                        "is_error": True,
                        "content": [{"type": "text", "text": "service down"}],
                    }
                ],
            },
        ],
        "stop_sequences": ["###"],
        "top_k": 40,
    }
    request = anthropic_messages.parse_request(body, {})
    assert codec.build_request(request, TARGET) == {
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Summarise this PDF, then the weather."},
                    {
                        "fileData": {
                            "mimeType": "image/jpeg",
                            "fileUri": "https://example.com/cat.jpg",
                        }
                    },
                ],
            },
            {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                        "thoughtSignature": SIG,
                    }
                ],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "name": "get_weather",
                            "response": {"error": "service down"},
                        }
                    }
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "get_weather", "parametersJsonSchema": CLEAN_WEATHER}
                ]
            }
        ],
        "toolConfig": {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
        },
        "generationConfig": {
            "maxOutputTokens": 2048,
            "topK": 40,
            "stopSequences": ["###"],
            "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 4000},
        },
    }


def test_responses_request_golden() -> None:
    body = {
        "model": "gem",
        "instructions": "Reply in French.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {
                "type": "function_call",
                "call_id": SIGNED_ID,
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
            },
            {"type": "function_call_output", "call_id": SIGNED_ID, "output": "18C"},
        ],
        "tools": [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}],
        "text": {"format": {"type": "json_object"}},
        "max_output_tokens": 500,
    }
    request = openai_responses.parse_request(body, {})
    assert codec.build_request(request, TARGET) == {
        "systemInstruction": {"parts": [{"text": "Reply in French."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
            {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                        "thoughtSignature": SIG,
                    }
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"result": "18C"}}}
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "get_weather", "parametersJsonSchema": CLEAN_WEATHER}
                ]
            }
        ],
        "generationConfig": {"maxOutputTokens": 500, "responseMimeType": "application/json"},
    }


def _request(**fields: Any) -> ChatRequest:
    return ChatRequest(model="gem", messages=[Message("user", [Text("hi")])], **fields)


def test_documents_and_mid_conversation_system_messages() -> None:
    from gateway.base.types import Image

    request = ChatRequest(
        model="gem",
        messages=[
            Message("user", [Text("Read"), Image(data=PDF, media_type="application/pdf")]),
            Message("system", [Text("Now be formal.")]),
            Message("user", [Text("and?")]),
        ],
        system=[Text("First.")],
    )
    body = codec.build_request(request, TARGET)
    assert body["systemInstruction"] == {"parts": [{"text": "First."}, {"text": "Now be formal."}]}
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "Read"},
                {"inlineData": {"mimeType": "application/pdf", "data": PDF}},
                {"text": "and?"},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice("auto"), {"mode": "AUTO"}),
        (ToolChoice("required"), {"mode": "ANY"}),
        (ToolChoice("tool", "f"), {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    ],
)
def test_tool_choice(choice: ToolChoice, expected: dict) -> None:
    from gateway.base.types import Tool

    body = codec.build_request(_request(tools=[Tool("f")], tool_choice=choice), TARGET)
    assert body["toolConfig"] == {"functionCallingConfig": expected}


def test_tool_choice_none_sends_no_tools() -> None:
    from gateway.base.types import Tool

    body = codec.build_request(_request(tools=[Tool("f")], tool_choice=ToolChoice("none")), TARGET)
    assert "tools" not in body and "toolConfig" not in body


@pytest.mark.parametrize(
    ("model", "reasoning", "expected"),
    [
        ("gemini-2.5-flash", Reasoning(effort="high"), {"thinkingBudget": 24576}),
        ("gemini-2.5-flash", Reasoning(budget_tokens=0), {"thinkingBudget": 0}),
        ("gemini-3-pro-preview", Reasoning(effort="low"), {"thinkingLevel": "low"}),
        ("gemini-3-flash", Reasoning(budget_tokens=2000), {"thinkingBudget": 2000}),
        ("gemini-2.5-pro", Reasoning(), {}),
    ],
)
def test_thinking_config(model: str, reasoning: Reasoning, expected: dict) -> None:
    target = Target(model=model, supports_reasoning=True)
    config = codec.build_request(_request(reasoning=reasoning), target)["generationConfig"]
    assert config["thinkingConfig"] == {"includeThoughts": True, **expected}


def test_no_thinking_config_for_deployments_without_reasoning() -> None:
    body = codec.build_request(_request(reasoning=Reasoning(effort="high")), Target(model="m"))
    assert "generationConfig" not in body


def test_deployment_params_fill_generation_config_and_top_level_fields() -> None:
    safety = [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]
    target = Target(
        model="m",
        params={"temperature": 0.1, "seed": 7, "safety_settings": safety, "presence_penalty": 0.5},
    )
    body = codec.build_request(_request(temperature=0.9), target)
    assert body["safetySettings"] == safety
    assert body["generationConfig"] == {"temperature": 0.1, "seed": 7, "presencePenalty": 0.5}


def test_a_sampling_parameter_the_model_refuses_is_never_written() -> None:
    """The pipeline drops it first (noted); the codec, used directly (a batch line),
    does not write it either."""
    refusing = Target(model="gemini-3.7-flash", refuses=frozenset({"temperature", "top_k"}))
    body = codec.build_request(_request(temperature=0.9, top_k=5, top_p=0.5), refusing)
    assert body["generationConfig"] == {"topP": 0.5}
    # control: a model that takes them
    body = codec.build_request(_request(temperature=0.9, top_k=5), Target(model="m"))
    assert body["generationConfig"] == {"temperature": 0.9, "topK": 5}


def test_what_gemini_cannot_carry_is_a_clear_400() -> None:
    with pytest.raises(InvalidRequest, match="n > 1"):
        codec.build_request(_request(n=2), TARGET)
    from gateway.base.types import ToolResult

    orphan = ChatRequest(model="g", messages=[Message("tool", [ToolResult("call_x", [Text("r")])])])
    with pytest.raises(InvalidRequest, match="call_x"):
        codec.build_request(orphan, TARGET)


def test_count_tokens_bodies() -> None:
    request = _request(system=[Text("s")])
    wrapped = codec.count_tokens_body(request, TARGET, wrapped=True)
    assert wrapped["generateContentRequest"]["model"] == "models/gemini-2.5-pro"
    assert wrapped["generateContentRequest"]["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}]}
    ]
    assert codec.count_tokens_body(request, TARGET, wrapped=False) == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "s"}]},
    }


# --- answers back ---------------------------------------------------------------------------


def test_text_answer() -> None:
    response = codec.parse_response(load("text.json"))
    assert response.text() == "Hello! How can I help?" and len(response.parts) == 1
    assert response.id == "aBcDeFgHiJkLmN" and response.model == "gemini-2.5-flash"
    assert response.finish_reason == "stop"
    usage = response.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (20, 100, 8)


def test_thinking_and_parallel_tool_calls_answer() -> None:
    response = codec.parse_response(load("thinking_tools.json"))
    thinking, text, first, second = response.parts
    assert thinking == Thinking("The user wants weather in two cities; call the tool twice.")
    assert text == Text("Checking both cities.")
    assert isinstance(first, ToolCall) and isinstance(second, ToolCall)
    assert first.arguments == {"city": "Paris", "unit": "c"} and second.arguments == {
        "city": "Tokyo"
    }
    assert ids.signature_of(first.id) == SIG and ids.signature_of(second.id) is None
    assert first.id != second.id
    assert response.finish_reason == "tool_calls"
    assert response.usage.output_tokens == 151 and response.usage.reasoning_tokens == 120


def test_max_tokens_and_blocked_prompt() -> None:
    assert codec.parse_response(load("max_tokens.json")).finish_reason == "length"
    blocked = codec.parse_response(load("prompt_blocked.json"))
    assert blocked.parts == [] and blocked.finish_reason == "content_filter"
    assert blocked.usage.input_tokens == 14


def test_error_object_in_a_200_body_raises() -> None:
    with pytest.raises(UpstreamError) as caught:
        codec.parse_response(load("error_overloaded.json"))
    assert caught.value.status == 503


@pytest.mark.parametrize("name", ["text", "thinking_tools"])
def test_stream_folds_to_the_whole_answer(name: str) -> None:
    events = feed_all(sse(f"{name}.sse"))
    assert not any(isinstance(e, ErrorEvent) for e in events)
    folded = fold_events(events)
    assert folded == codec.parse_response(load(f"{name}.json"))


def test_stream_event_order_for_thinking_text_and_tools() -> None:
    kinds = [type(e).__name__ for e in feed_all(sse("thinking_tools.sse"))]
    assert kinds[0] == "Start"
    starts = [e for e in feed_all(sse("thinking_tools.sse")) if type(e).__name__ == "PartStart"]
    assert [(s.index, s.kind) for s in starts] == [
        (0, "thinking"),
        (1, "text"),
        (2, "tool_call"),
        (3, "tool_call"),
    ]
    assert starts[2].tool_name == "get_weather" and ids.signature_of(starts[2].tool_id) == SIG
    assert kinds.count("PartStop") == 4 and kinds[-1] == "Finish"


def test_midstream_error_and_a_cut_stream() -> None:
    events = feed_all(sse("midstream_error.sse"))
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and errors[0].error.status == 503 and errors[0].error.retryable
    assert events[-1] is errors[0]
    cut = feed_all(sse("text.sse")[:1])
    assert isinstance(cut[-1], ErrorEvent) and not any(isinstance(e, Finish) for e in cut)


def test_foreign_tool_history_gets_the_placeholder_signature_on_gemini_3_only() -> None:
    body = {
        "model": "gem",
        "max_tokens": 100,
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_01", "name": "f", "input": {}},
                    {"type": "tool_use", "id": "toolu_02", "name": "f", "input": {"a": 1}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "1"},
                    {"type": "tool_result", "tool_use_id": "toolu_02", "content": "2"},
                ],
            },
        ],
    }
    request = anthropic_messages.parse_request(body, {})
    gemini3 = codec.build_request(request, Target(model="gemini-3-pro-preview"))
    first, second = gemini3["contents"][1]["parts"]
    assert first["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in second
    older = codec.build_request(request, Target(model="gemini-2.5-pro"))
    assert all("thoughtSignature" not in p for p in older["contents"][1]["parts"])
    body["messages"][1]["content"][1]["id"] = SIGNED_ID  # a real signature: no placeholder
    body["messages"][2]["content"][1]["tool_use_id"] = SIGNED_ID
    signed = codec.build_request(
        anthropic_messages.parse_request(body, {}), Target(model="gemini-3-pro")
    )
    assert [p.get("thoughtSignature") for p in signed["contents"][1]["parts"]] == [None, SIG]


def test_thought_and_text_signatures_are_not_handed_to_clients() -> None:
    """Only a call's signature matters to Gemini (it travels in the call id); one on a
    thought or on answer text would reach Anthropic upstreams as a foreign signature."""
    answer = {
        "responseId": "r9",
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "Hmm.", "thought": True, "thoughtSignature": "c2lnMQ=="},
                        {"text": "", "thought": True},
                        {"text": "Done.", "thoughtSignature": "c2lnMg=="},
                        {"text": "", "thoughtSignature": "c2lnMw=="},
                    ]
                },
                "finishReason": "STOP",
            }
        ],
    }
    whole = codec.parse_response(answer)
    assert whole.parts == [Thinking("Hmm."), Text("Done.")]
    chunks = [
        {**answer, "candidates": [{"content": {"parts": [part]}}]}
        for part in answer["candidates"][0]["content"]["parts"]
    ]
    chunks[-1]["candidates"][0]["finishReason"] = "STOP"
    assert fold_events(feed_all([WireEvent(None, c) for c in chunks])) == whole
