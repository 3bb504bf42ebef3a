"""Every client dialect in -> a Cohere v2 chat body out: text, system prompts,
multi-turn, tools with a tool-result round trip, images, JSON output, reasoning,
sampling parameters and the deployment's params."""

from __future__ import annotations

import pytest

from gateway.base.errors import InvalidRequest
from gateway.base.types import (
    ChatRequest,
    Image,
    Message,
    Reasoning,
    Text,
    Thinking,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from gateway.codecs.anthropic import inbound as anthropic_messages
from gateway.codecs.base import Target
from gateway.codecs.cohere import codec, outbound
from gateway.codecs.openai_chat import inbound as openai_chat
from gateway.codecs.openai_responses import inbound as openai_responses

TARGET = Target(model="command-a-03-2025")
REASONING = Target(model="command-a-reasoning-08-2025", supports_reasoning=True)
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
COHERE_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": WEATHER_SCHEMA,
        "description": "Current weather",
    },
}
PNG = "iVBORw0KGgo="


def openai(body: dict) -> ChatRequest:
    return openai_chat.parse_request({"model": "m", **body}, {})


def anthropic(body: dict) -> ChatRequest:
    return anthropic_messages.parse_request({"model": "m", "max_tokens": 256, **body}, {})


def responses(body: dict) -> ChatRequest:
    return openai_responses.parse_request({"model": "m", **body}, {})


# --- text, system, multi-turn ------------------------------------------------------------


def test_openai_text_with_system_and_sampling() -> None:
    request = openai(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "How are you?"},
            ],
            "max_tokens": 100,
            "temperature": 0.3,
            "top_p": 0.9,
            "stop": ["END"],
            "seed": 7,
            "frequency_penalty": 0.5,
            "stream": True,
        }
    )
    assert codec.build_request(request, TARGET) == {
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "How are you?"},
        ],
        "stream": True,
        "max_tokens": 100,
        "temperature": 0.3,
        "p": 0.9,
        "stop_sequences": ["END"],
        "seed": 7,
        "frequency_penalty": 0.5,
    }


def test_anthropic_system_blocks_top_k_and_mid_conversation_system_merge_first() -> None:
    request = anthropic(
        {
            "system": [{"type": "text", "text": "You are terse."}],
            "messages": [
                {"role": "user", "content": "One"},
                {"role": "assistant", "content": [{"type": "text", "text": "Two"}]},
                {"role": "system", "content": "Answer in French."},
                {"role": "user", "content": "Three"},
            ],
            "top_k": 40,
            "stop_sequences": ["\n\n"],
        }
    )
    body = codec.build_request(request, TARGET)
    # Cohere accepts one system turn, first: later system text joins it, in order
    assert body["messages"] == [
        {"role": "system", "content": "You are terse.\n\nAnswer in French."},
        {"role": "user", "content": "One"},
        {"role": "assistant", "content": "Two"},
        {"role": "user", "content": "Three"},
    ]
    assert body["k"] == 40 and body["stop_sequences"] == ["\n\n"] and body["max_tokens"] == 256
    assert "stream" not in body


def test_responses_instructions_and_input_items() -> None:
    request = responses(
        {
            "instructions": "Be kind.",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Hello"}]},
            ],
            "max_output_tokens": 50,
        }
    )
    body = codec.build_request(request, TARGET)
    assert body["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hello"},
    ]
    assert body["max_tokens"] == 50


def test_max_tokens_is_clamped_to_the_deployment_ceiling() -> None:
    request = openai({"messages": [{"role": "user", "content": "x"}], "max_tokens": 100_000})
    body = codec.build_request(request, Target(model="c", max_output_tokens=8000))
    assert body["max_tokens"] == 8000


# --- tools ---------------------------------------------------------------------------------


def test_openai_tool_round_trip() -> None:
    request = openai(
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "get_weather_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "get_weather_1", "content": "18C, sunny"},
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
        }
    )
    body = codec.build_request(request, TARGET)
    assert body["tools"] == [COHERE_WEATHER]
    assert body["tool_choice"] == "REQUIRED"
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "get_weather_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "get_weather_1",
            "content": [{"type": "text", "text": "18C, sunny"}],
        },
    ]


def test_anthropic_tool_round_trip_with_plan_error_result_and_image_result() -> None:
    request = anthropic(
        {
            "tools": [
                {
                    "name": "get_weather",
                    "description": "Current weather",
                    "input_schema": WEATHER_SCHEMA,
                },
                {"name": "snap", "input_schema": {"type": "object", "properties": {}}},
            ],
            "tool_choice": {"type": "tool", "name": "get_weather"},
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "thinking",
                            "thinking": "I will call get_weather twice.",
                            "signature": "",
                        },
                        {
                            "type": "tool_use",
                            "id": "w1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        },
                        {
                            "type": "tool_use",
                            "id": "w2",
                            "name": "get_weather",
                            "input": {"city": "Rome"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "w1", "content": "18C"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "w2",
                            "is_error": True,
                            "content": [
                                {
                                    "type": "image",
                                    "source": {
                                        "type": "base64",
                                        "media_type": "image/png",
                                        "data": PNG,
                                    },
                                },
                            ],
                        },
                        {"type": "text", "text": "Summarise."},
                    ],
                },
            ],
        }
    )
    body = codec.build_request(request, TARGET)
    # a forced tool: REQUIRED with only that tool offered
    assert body["tools"] == [COHERE_WEATHER] and body["tool_choice"] == "REQUIRED"
    assert body["messages"][1] == {
        "role": "assistant",
        "tool_plan": "I will call get_weather twice.",
        "tool_calls": [
            {
                "id": "w1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {
                "id": "w2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
            },
        ],
    }
    assert body["messages"][2:] == [
        {"role": "tool", "tool_call_id": "w1", "content": [{"type": "text", "text": "18C"}]},
        # an error result with no text still says it failed
        {"role": "tool", "tool_call_id": "w2", "content": [{"type": "text", "text": "error"}]},
        # the result's image is not dropped: it follows in the user turn
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Summarise."},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        },
    ]


def test_tool_choice_none_and_auto() -> None:
    base = {
        "messages": [{"role": "user", "content": "x"}],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
        ],
    }
    assert (
        codec.build_request(openai({**base, "tool_choice": "none"}), TARGET)["tool_choice"]
        == "NONE"
    )
    assert "tool_choice" not in codec.build_request(openai({**base, "tool_choice": "auto"}), TARGET)


def test_forcing_a_tool_that_is_not_offered_is_a_400() -> None:
    request = ChatRequest(
        model="m",
        messages=[Message("user", [Text("x")])],
        tool_choice=ToolChoice("tool", name="ghost"),
    )
    with pytest.raises(InvalidRequest) as caught:
        codec.build_request(request, TARGET)
    assert caught.value.param == "tool_choice"


def test_responses_function_call_round_trip() -> None:
    request = responses(
        {
            "input": [
                {"role": "user", "content": "Weather?"},
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "get_weather",
                    "arguments": '{"city":"Oslo"}',
                },
                {"type": "function_call_output", "call_id": "c1", "output": "-3C"},
            ],
            "tools": [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}],
        }
    )
    body = codec.build_request(request, TARGET)
    assert body["messages"][1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city":"Oslo"}',
    }
    assert body["messages"][2] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": [{"type": "text", "text": "-3C"}],
    }
    assert body["tools"][0]["function"]["name"] == "get_weather"


# --- images, JSON output, reasoning -----------------------------------------------------------


def test_images_by_url_and_base64() -> None:
    request = openai(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    ],
                }
            ]
        }
    )
    assert codec.build_request(request, TARGET)["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    request = anthropic(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/jpeg",
                                "data": "AAAA",
                            },
                        }
                    ],
                }
            ]
        }
    )
    assert codec.build_request(request, TARGET)["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}}
    ]


def test_json_output() -> None:
    messages = [{"role": "user", "content": "A city as JSON"}]
    plain = openai({"messages": messages, "response_format": {"type": "json_object"}})
    assert codec.build_request(plain, TARGET)["response_format"] == {"type": "json_object"}
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    strict = openai(
        {
            "messages": messages,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "c", "schema": schema},
            },
        }
    )
    assert codec.build_request(strict, TARGET)["response_format"] == {
        "type": "json_object",
        "json_schema": schema,
    }
    text = openai({"messages": messages, "response_format": {"type": "text"}})
    assert "response_format" not in codec.build_request(text, TARGET)


def test_reasoning_budget_effort_and_history_thinking() -> None:
    request = anthropic(
        {
            "thinking": {"type": "enabled", "budget_tokens": 3000},
            "messages": [
                {"role": "user", "content": "17*23?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "17*20+17*3", "signature": "s"},
                        {"type": "text", "text": "391"},
                    ],
                },
                {"role": "user", "content": "And 18*23?"},
            ],
        }
    )
    body = codec.build_request(request, REASONING)
    assert body["thinking"] == {"type": "enabled", "token_budget": 3000}
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "17*20+17*3"},
            {"type": "text", "text": "391"},
        ],
    }
    # a deployment without reasoning: no thinking parameter, history thinking dropped
    plain = codec.build_request(request, TARGET)
    assert "thinking" not in plain and plain["messages"][1] == {
        "role": "assistant",
        "content": "391",
    }

    effort = openai({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high"})
    assert codec.build_request(effort, REASONING)["thinking"] == {
        "type": "enabled",
        "token_budget": 32768,
    }


def test_assistant_turn_of_only_dropped_thinking_is_left_out() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message("user", [Text("a")]),
            Message("assistant", [Thinking("hmm")]),
            Message("user", [Text("b")]),
        ],
    )
    assert codec.build_request(request, TARGET)["messages"] == [
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
    ]


def test_unparseable_tool_arguments_go_back_as_written() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message("assistant", [ToolCall("t", "f", raw_arguments="{not json")]),
            Message("user", [ToolResult("t", [Text("ok")])]),
        ],
    )
    body = codec.build_request(request, TARGET)
    assert body["messages"][0]["tool_calls"][0]["function"]["arguments"] == "{not json"


def test_image_only_user_turn_and_n_above_one() -> None:
    request = ChatRequest(model="m", messages=[Message("user", [Image(url="https://x/y.png")])])
    assert codec.build_request(request, TARGET)["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    ]
    with pytest.raises(InvalidRequest):
        codec.build_request(ChatRequest(model="m", n=2), TARGET)


# --- deployment params --------------------------------------------------------------------


def test_deployment_params_are_translated_to_cohere_names_and_win() -> None:
    target = Target(
        model="c",
        supports_reasoning=True,
        params={
            "temperature": 0.1,
            "top_p": 0.5,
            "top_k": 10,
            "stop": "###",
            "max_completion_tokens": 300,
            "reasoning_effort": "low",
            "logit_bias": {"1": 2},
            "parallel_tool_calls": False,
            "safety_mode": "OFF",
            "response_format": {"type": "json_object"},
        },
    )
    request = openai({"messages": [{"role": "user", "content": "x"}], "temperature": 0.9})
    body = codec.build_request(request, target)
    assert {k: v for k, v in body.items() if k not in ("model", "messages")} == {
        "temperature": 0.1,
        "p": 0.5,
        "k": 10,
        "stop_sequences": ["###"],
        "max_tokens": 300,
        "thinking": {"type": "enabled", "token_budget": 4096},
        "safety_mode": "OFF",
        "response_format": {"type": "json_object"},
    }


def test_anthropic_only_extras_never_reach_cohere() -> None:
    request = anthropic(
        {
            "messages": [{"role": "user", "content": "x"}],
            "metadata": {"user_id": "u"},
            "service_tier": "auto",
        }
    )
    body = codec.build_request(request, TARGET)
    assert set(body) == {"model", "messages", "max_tokens"}


def test_reasoning_without_budget_or_effort_sends_nothing() -> None:
    request = ChatRequest(model="m", messages=[Message("user", [Text("x")])], reasoning=Reasoning())
    assert "thinking" not in codec.build_request(request, REASONING)


def test_a_strict_tool_turns_on_strict_tools() -> None:
    tool = {"name": "get_weather", "parameters": WEATHER_SCHEMA}
    messages = [{"role": "user", "content": "x"}]
    strict = openai(
        {
            "messages": messages,
            "tools": [{"type": "function", "function": {**tool, "strict": True}}],
        }
    )
    assert codec.build_request(strict, TARGET)["strict_tools"] is True
    loose = openai({"messages": messages, "tools": [{"type": "function", "function": tool}]})
    assert "strict_tools" not in codec.build_request(loose, TARGET)


def test_parallel_tool_calls_false_is_reported_unsupported_and_left_out() -> None:
    request = openai(
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": WEATHER_SCHEMA}}
            ],
            "parallel_tool_calls": False,
        }
    )
    assert outbound.unsupported(request) == ["parallel_tool_calls"]
    assert "parallel_tool_calls" not in codec.build_request(request, TARGET)
    request.tool_choice.parallel = True
    assert outbound.unsupported(request) == []
