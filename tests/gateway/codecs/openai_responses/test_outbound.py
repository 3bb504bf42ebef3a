"""Each client dialect in -> a ``POST /responses`` body out. Client bodies are parsed by
the real inbound dialects (Chat Completions, Anthropic Messages, Responses), then built
by the codec; every expected body is written from the Responses API reference."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.base.types import ChatRequest, Message, Text, Thinking, ToolCall
from gateway.codecs.anthropic import inbound as anthropic_messages
from gateway.codecs.base import Target
from gateway.codecs.openai_chat import inbound as openai_chat
from gateway.codecs.openai_responses import codec as CODEC
from gateway.codecs.openai_responses import inbound as openai_responses
from gateway.codecs.openai_responses import maps

REASONING_TARGET = Target(model="o3-pro", supports_reasoning=True, max_output_tokens=8192)
PLAIN_TARGET = Target(model="gpt-4.1")
PACKED = maps.pack_reasoning("gAAAAABenc==")
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def from_chat(body: dict[str, Any], target: Target = PLAIN_TARGET) -> dict[str, Any]:
    return CODEC.build_request(openai_chat.parse_request(body, {}), target)


def from_anthropic(body: dict[str, Any], target: Target = REASONING_TARGET) -> dict[str, Any]:
    return CODEC.build_request(anthropic_messages.parse_request(body, {}), target)


def from_responses(body: dict[str, Any], target: Target = REASONING_TARGET) -> dict[str, Any]:
    return CODEC.build_request(openai_responses.parse_request(body, {}), target)


def test_chat_text_with_system_is_instructions_and_a_user_message() -> None:
    body = from_chat(
        {
            "model": "pub",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Say hello"},
            ],
            "max_tokens": 50,
            "temperature": 0.3,
            "top_p": 0.9,
            "user": "u-1",
        }
    )
    assert body == {
        "model": "gpt-4.1",
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Say hello"}],
            }
        ],
        "instructions": "Be brief.",
        "store": False,
        "max_output_tokens": 50,
        "temperature": 0.3,
        "top_p": 0.9,
        "user": "u-1",
    }


def test_multi_turn_keeps_order_and_mid_conversation_system_becomes_developer() -> None:
    body = from_chat(
        {
            "model": "pub",
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "system", "content": "Now answer in French."},
                {"role": "user", "content": "How are you?"},
            ],
        }
    )
    assert "instructions" not in body
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        {"type": "message", "role": "assistant", "content": "Hello!"},
        {"type": "message", "role": "developer", "content": "Now answer in French."},
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "How are you?"}],
        },
    ]


def test_chat_tools_round_trip_become_function_call_items_and_outputs() -> None:
    body = from_chat(
        {
            "model": "pub",
            "messages": [
                {"role": "user", "content": "Weather in Paris and Tokyo?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_2", "content": "25C"},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Weather",
                        "parameters": WEATHER_SCHEMA,
                    },
                },
                {
                    "type": "function",
                    "function": {
                        "name": "strict_one",
                        "parameters": WEATHER_SCHEMA,
                        "strict": True,
                    },
                },
            ],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "parallel_tool_calls": False,
        }
    )
    assert body["input"][1:] == [
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {
            "type": "function_call",
            "call_id": "call_2",
            "name": "get_weather",
            "arguments": '{"city":"Tokyo"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {"type": "function_call_output", "call_id": "call_2", "output": "25C"},
    ]
    # strict defaults to true in the Responses API: a caller who did not ask gets false
    assert body["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather",
            "parameters": WEATHER_SCHEMA,
            "strict": False,
        },
        {"type": "function", "name": "strict_one", "parameters": WEATHER_SCHEMA, "strict": True},
    ]
    assert body["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert body["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", "auto"), ("none", "none"), ("required", "required")],
)
def test_chat_tool_choice_modes(choice: str, expected: str) -> None:
    body = from_chat(
        {
            "model": "pub",
            "messages": [{"role": "user", "content": "x"}],
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": WEATHER_SCHEMA}}
            ],
            "tool_choice": choice,
        }
    )
    assert body["tool_choice"] == expected


def test_images_by_url_and_base64_become_input_images() -> None:
    body = from_chat(
        {
            "model": "pub",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    ],
                }
            ],
        }
    )
    assert body["input"][0]["content"] == [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "auto"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"},
    ]


def test_json_output_becomes_text_format() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "additionalProperties": False,
    }
    body = from_chat(
        {
            "model": "pub",
            "messages": [{"role": "user", "content": "Who?"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "person", "schema": schema, "strict": True},
            },
        }
    )
    assert body["text"] == {
        "format": {"type": "json_schema", "name": "person", "schema": schema, "strict": True}
    }
    body = from_chat(
        {
            "model": "pub",
            "messages": [{"role": "user", "content": "JSON please"}],
            "response_format": {"type": "json_object"},
        }
    )
    assert body["text"] == {"format": {"type": "json_object"}}


def test_chat_reasoning_effort_on_a_reasoning_deployment_asks_for_a_summary() -> None:
    body = from_chat(
        {
            "model": "pub",
            "messages": [{"role": "user", "content": "Think"}],
            "reasoning_effort": "high",
        },
        REASONING_TARGET,
    )
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    plain = from_chat(
        {
            "model": "pub",
            "messages": [{"role": "user", "content": "Think"}],
            "reasoning_effort": "high",
        }
    )
    assert "reasoning" not in plain  # the deployment does not reason


def test_chat_reasoning_content_without_encrypted_content_is_not_sent_back() -> None:
    """A Chat Completions client can echo only the summary text: OpenAI needs the item id
    and encrypted content, so the turn goes without it."""
    body = from_chat(
        {
            "model": "pub",
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello", "reasoning_content": "thinking..."},
                {"role": "user", "content": "Again"},
            ],
        }
    )
    assert [item.get("type") for item in body["input"]] == ["message", "message", "message"]


def test_anthropic_thinking_budget_tool_use_and_signed_thinking_round_trip() -> None:
    body = from_anthropic(
        {
            "model": "pub",
            "max_tokens": 20000,
            "system": [
                {"type": "text", "text": "You are Claude Code."},
                {"type": "text", "text": "Be careful."},
            ],
            "thinking": {"type": "enabled", "budget_tokens": 10000},
            "tools": [
                {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}
            ],
            "tool_choice": {"type": "any"},
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "Need the tool.", "signature": PACKED},
                        {"type": "text", "text": "Checking."},
                        {
                            "type": "tool_use",
                            "id": "call_9",
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
                            "tool_use_id": "call_9",
                            "content": [{"type": "text", "text": "18C"}],
                        },
                        {"type": "text", "text": "And now?"},
                    ],
                },
            ],
        }
    )
    assert body["instructions"] == "You are Claude Code.\n\nBe careful."
    assert body["max_output_tokens"] == 8192  # clamped to the deployment's ceiling
    assert body["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert body["tool_choice"] == "required"
    assert body["tools"][0]["strict"] is False
    assert body["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Weather in Paris?"}],
        },
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Need the tool."}],
            "encrypted_content": "gAAAAABenc==",
        },
        {"type": "message", "role": "assistant", "content": "Checking."},
        {
            "type": "function_call",
            "call_id": "call_9",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_9", "output": "18C"},
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "And now?"}],
        },
    ]


def test_anthropic_redacted_thinking_goes_back_with_an_empty_summary() -> None:
    body = from_anthropic(
        {
            "model": "pub",
            "max_tokens": 100,
            "messages": [
                {"role": "user", "content": "Hi"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "redacted_thinking", "data": PACKED},
                        {"type": "text", "text": "Yo"},
                    ],
                },
                {"role": "user", "content": "Again"},
            ],
        }
    )
    assert body["input"][1] == {
        "type": "reasoning",
        "summary": [],
        "encrypted_content": "gAAAAABenc==",
    }


def test_thinking_signed_by_another_vendor_is_left_out() -> None:
    body = from_anthropic(
        {
            "model": "pub",
            "max_tokens": 100,
            "messages": [
                {"role": "user", "content": "Hi"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hm", "signature": "EqQBCkgIARAB..."},
                        {"type": "text", "text": "Yo"},
                    ],
                },
                {"role": "user", "content": "Again"},
            ],
        }
    )
    assert [i.get("role", i["type"]) for i in body["input"]] == ["user", "assistant", "user"]


def test_anthropic_image_and_tool_result_with_image() -> None:
    body = from_anthropic(
        {
            "model": "pub",
            "max_tokens": 100,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {"type": "text", "text": "What?"},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [
                                {"type": "text", "text": "here"},
                                {
                                    "type": "image",
                                    "source": {
                                        "type": "base64",
                                        "media_type": "image/png",
                                        "data": PNG,
                                    },
                                },
                            ],
                        }
                    ],
                },
            ],
        }
    )
    assert body["input"][0]["content"][0] == {
        "type": "input_image",
        "image_url": f"data:image/png;base64,{PNG}",
        "detail": "auto",
    }
    assert body["input"][2] == {
        "type": "function_call_output",
        "call_id": "t1",
        "output": [
            {"type": "input_text", "text": "here"},
            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"},
        ],
    }


def test_responses_client_extra_fields_are_forwarded_but_store_stays_false() -> None:
    body = from_responses(
        {
            "model": "pub",
            "input": "hi",
            "store": True,
            "include": ["message.output_text.logprobs"],
            "truncation": "auto",
            "reasoning": {"effort": "low"},
            "max_output_tokens": 100,
        }
    )
    assert body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content", "message.output_text.logprobs"]
    assert body["truncation"] == "auto"
    assert body["reasoning"] == {"effort": "low", "summary": "auto"}


def test_stream_flag_and_deployment_params_win_except_control_and_owned_keys() -> None:
    target = Target(
        model="o3-pro",
        supports_reasoning=True,
        params={
            "service_tier": "flex",
            "reasoning_summary": "detailed",
            "store": True,
            "model": "x",
        },
    )
    request = ChatRequest(
        model="pub",
        messages=[Message("user", [Text("hi")])],
        stream=True,
        reasoning=openai_chat.parse_request(
            {
                "model": "p",
                "messages": [{"role": "user", "content": "x"}],
                "reasoning_effort": "low",
            },
            {},
        ).reasoning,
    )
    body = CODEC.build_request(request, target)
    assert body["stream"] is True and body["store"] is False and body["model"] == "o3-pro"
    assert body["service_tier"] == "flex"
    assert body["reasoning"] == {"effort": "low", "summary": "detailed"}
    assert "reasoning_summary" not in body


@pytest.mark.parametrize(
    ("reasoning", "param", "asked"),
    [
        (True, None, True),  # reasoning deployments carry reasoning across turns
        (False, None, False),  # gpt-4.1 & co answer 400 "Encrypted content is not supported"
        (True, False, False),  # a compatible server that refuses include
        (False, "true", True),  # a reasoning model not marked as such
    ],
)
def test_encrypted_reasoning_follows_the_deployment(
    reasoning: bool, param: Any, asked: bool
) -> None:
    params = {} if param is None else {"encrypted_reasoning": param}
    target = Target(model="m", supports_reasoning=reasoning, params=params)
    body = CODEC.build_request(
        ChatRequest(model="p", messages=[Message("user", [Text("x")])]), target
    )
    assert ("include" in body) is asked and "encrypted_reasoning" not in body
    if asked:
        assert body["include"] == ["reasoning.encrypted_content"]


def test_params_the_format_cannot_carry_are_reported_and_left_out() -> None:
    request = openai_chat.parse_request(
        {
            "model": "pub",
            "messages": [{"role": "user", "content": "x"}],
            "stop": ["END"],
            "temperature": 0.5,
        },
        {},
    )
    # stop is cut by the gateway (gateway.core.emulation), so it is not reported
    assert CODEC.unsupported_params(request, PLAIN_TARGET) == []
    assert CODEC.unsupported_params(request, REASONING_TARGET) == ["temperature"]
    plain = CODEC.build_request(request, PLAIN_TARGET)
    assert "stop" not in plain and plain["temperature"] == 0.5
    assert "temperature" not in CODEC.build_request(request, REASONING_TARGET)


def test_long_user_ids_are_hashed_to_openais_limit() -> None:
    request = ChatRequest(model="p", messages=[Message("user", [Text("x")])], user="u" * 150)
    assert len(CODEC.build_request(request, PLAIN_TARGET)["user"]) == 64


def test_unparsable_tool_arguments_go_back_as_sent() -> None:
    call = ToolCall(id="c1", name="f", arguments={}, raw_arguments='{"a": ')
    thinking = Thinking("plain, unsigned")
    request = ChatRequest(
        model="p",
        messages=[Message("user", [Text("x")]), Message("assistant", [thinking, call])],
    )
    body = CODEC.build_request(request, PLAIN_TARGET)
    assert body["input"][1] == {
        "type": "function_call",
        "call_id": "c1",
        "name": "f",
        "arguments": '{"a": ',
    }
    assert len(body["input"]) == 2


def test_reasoning_with_nothing_after_it_in_its_turn_is_left_out() -> None:
    """OpenAI refuses a reasoning item without its following item (a reply cut short
    after reasoning); it carries no answer, so it stays behind."""
    request = ChatRequest(
        model="p",
        messages=[
            Message("user", [Text("x")]),
            Message("assistant", [Thinking("", redacted=PACKED)]),
            Message("user", [Text("go on")]),
        ],
    )
    body = CODEC.build_request(request, REASONING_TARGET)
    assert [i["type"] for i in body["input"]] == ["message", "message"]


def test_anthropic_structured_output_and_strict_tools() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "additionalProperties": False,
    }
    body = from_anthropic(
        {
            "model": "pub",
            "max_tokens": 100,
            "output_config": {"format": {"type": "json_schema", "schema": schema}},
            "tools": [{"name": "lookup", "input_schema": schema, "strict": True}],
            "messages": [{"role": "user", "content": "Who?"}],
        }
    )
    assert body["text"] == {
        "format": {"type": "json_schema", "name": "response", "schema": schema, "strict": True}
    }
    assert body["tools"][0]["strict"] is True


def test_max_output_tokens_below_the_apis_minimum_is_raised_to_it() -> None:
    """Claude Code probes with max_tokens 1; the Responses API refuses anything under 16."""
    body = from_anthropic(
        {"model": "pub", "max_tokens": 1, "messages": [{"role": "user", "content": "quota"}]}
    )
    assert body["max_output_tokens"] == 16
