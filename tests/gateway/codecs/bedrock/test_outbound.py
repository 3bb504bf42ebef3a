"""Canonical request -> Converse body: golden bodies written from the Converse API
reference (messages, system, inferenceConfig, toolConfig, additionalModelRequestFields)."""

from __future__ import annotations

import pytest

from gateway.base.errors import InvalidRequest
from gateway.base.types import (
    ChatRequest,
    Image,
    Message,
    Reasoning,
    ResponseFormat,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from gateway.codecs.base import Target
from gateway.codecs.bedrock import codec

TARGET = Target(model="anthropic.claude-sonnet-4-20250514-v1:0", max_output_tokens=8192)
REASONING_TARGET = Target(model=TARGET.model, max_output_tokens=32000, supports_reasoning=True)
WEATHER = Tool(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def user(*parts) -> Message:
    return Message("user", list(parts))


def test_text_system_multi_turn_and_inference_config() -> None:
    request = ChatRequest(
        model="public",
        system=[Text("You are terse.")],
        messages=[
            user(Text("Hi")),
            Message("assistant", [Text("Hello.")]),
            Message("system", [Text("Answer in French.")]),
            user(Text("How are you?")),
            user(Text("")),  # empty text is never sent (Bedrock rejects blank blocks)
        ],
        max_tokens=100_000,  # clamped to the deployment's ceiling
        temperature=0.2,
        top_p=0.9,
        stop=["\n\nHuman:"],
    )
    assert codec.build_request(request, TARGET) == {
        "messages": [
            {"role": "user", "content": [{"text": "Hi"}]},
            {"role": "assistant", "content": [{"text": "Hello."}]},
            {"role": "user", "content": [{"text": "How are you?"}]},
        ],
        "system": [{"text": "You are terse."}, {"text": "Answer in French."}],
        "inferenceConfig": {
            "maxTokens": 8192,
            "temperature": 0.2,
            "topP": 0.9,
            "stopSequences": ["\n\nHuman:"],
        },
        # Claude says which stop sequence matched only when asked
        "additionalModelResponseFieldPaths": ["/stop_sequence"],
    }


def test_images_and_documents_go_as_base64_bytes_and_urls_are_refused() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            user(
                Text("What is in these?"),
                Image(data=PNG, media_type="image/png"),
                Image(data="JVBERi0xLjQK", media_type="application/pdf"),
            )
        ],
    )
    content = codec.build_request(request, Target(model="m"))["messages"][0]["content"]
    assert content == [
        {"text": "What is in these?"},
        {"image": {"format": "png", "source": {"bytes": PNG}}},
        {
            "document": {
                "format": "pdf",
                "name": "document-pdf",
                "source": {"bytes": "JVBERi0xLjQK"},
            }
        },
    ]
    with pytest.raises(InvalidRequest, match="base64 data only") as caught:
        codec.build_request(
            ChatRequest(model="m", messages=[user(Image(url="https://x.test/cat.png"))]),
            Target(model="m"),
        )
    assert caught.value.param == "messages[0].content"
    with pytest.raises(InvalidRequest, match="image/bmp"):
        codec.build_request(
            ChatRequest(model="m", messages=[user(Image(data="Qk0=", media_type="image/bmp"))]),
            Target(model="m"),
        )


def test_tools_choice_and_a_tool_result_round_trip() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            user(Text("Weather in Paris?")),
            Message(
                "assistant",
                [
                    Text("Checking."),
                    ToolCall("tooluse_1", "get_weather", {"city": "Paris"}),
                ],
            ),
            user(
                Text("Thanks"),
                ToolResult("tooluse_1", [Text("18°C, clear")]),
            ),
            Message("user", [ToolResult("tooluse_2", [], is_error=True)]),
        ],
        tools=[WEATHER],
        tool_choice=ToolChoice("tool", "get_weather"),
    )
    body = codec.build_request(request, Target(model="m"))
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {"text": "Checking."},
                {
                    "toolUse": {
                        "toolUseId": "tooluse_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "18°C, clear"}]}},
                {
                    "toolResult": {
                        "toolUseId": "tooluse_2",
                        "content": [{"text": "(empty)"}],
                        "status": "error",
                    }
                },
                {"text": "Thanks"},
            ],
        },
    ]
    assert body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "inputSchema": {"json": WEATHER.parameters},
                }
            }
        ],
        "toolChoice": {"tool": {"name": "get_weather"}},
    }
    request.tool_choice = ToolChoice("required")
    assert codec.build_request(request, Target(model="m"))["toolConfig"]["toolChoice"] == {
        "any": {}
    }
    request.tool_choice = ToolChoice("auto")
    assert "toolChoice" not in codec.build_request(request, Target(model="m"))["toolConfig"]


def test_history_tools_missing_from_the_request_are_declared_and_none_drops_tools() -> None:
    history = [
        user(Text("Weather?")),
        Message("assistant", [ToolCall("t1", "get_weather", {"city": "Oslo"})]),
        user(ToolResult("t1", [Text("cold")])),
    ]
    body = codec.build_request(ChatRequest(model="m", messages=history), Target(model="m"))
    assert body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "inputSchema": {"json": {"type": "object", "properties": {}}},
                }
            }
        ]
    }
    fresh = ChatRequest(
        model="m", messages=[user(Text("hi"))], tools=[WEATHER], tool_choice=ToolChoice("none")
    )
    assert "toolConfig" not in codec.build_request(fresh, Target(model="m"))


def test_json_output_is_a_forced_tool_or_an_instruction_beside_caller_tools() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    request = ChatRequest(
        model="m",
        messages=[user(Text("Capital of France as JSON"))],
        response_format=ResponseFormat("json_schema", schema=schema, name="city"),
    )
    body = codec.build_request(request, Target(model="m"))
    assert body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "switchyard_json",
                    "description": "Give your answer as this tool's input.",
                    "inputSchema": {"json": schema},
                }
            }
        ],
        "toolChoice": {"tool": {"name": "switchyard_json"}},
    }
    request.tools = [WEATHER]
    body = codec.build_request(request, Target(model="m"))
    assert [t["toolSpec"]["name"] for t in body["toolConfig"]["tools"]] == ["get_weather"]
    assert "JSON schema" in body["system"][-1]["text"]


def test_reasoning_budget_in_additional_fields_and_sampling_left_out() -> None:
    request = ChatRequest(
        model="m",
        messages=[user(Text("17*23?"))],
        reasoning=Reasoning(budget_tokens=4000),
        max_tokens=2000,
        temperature=0.7,
        top_k=40,
    )
    body = codec.build_request(request, REASONING_TARGET)
    assert body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 4000}
    }
    assert body["inferenceConfig"] == {"maxTokens": 6000}  # room for the budget, no temperature
    effort = ChatRequest(model="m", messages=[user(Text("x"))], reasoning=Reasoning(effort="low"))
    assert codec.build_request(effort, REASONING_TARGET)["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2048}
    }
    # a deployment that cannot reason gets no thinking field
    assert "additionalModelRequestFields" not in codec.build_request(request, TARGET)


def test_signed_thinking_goes_back_unsigned_is_dropped_and_tool_turns_without_it_disable_thinking() -> (
    None
):
    history = [
        user(Text("q")),
        Message(
            "assistant",
            [
                Thinking("plan", signature="sig-1"),
                Thinking(redacted="cmVkYWN0ZWQ="),
                Thinking("unsigned musing"),
                Text("a"),
            ],
        ),
        user(Text("more")),
    ]
    request = ChatRequest(model="m", messages=history, reasoning=Reasoning(budget_tokens=2048))
    body = codec.build_request(request, REASONING_TARGET)
    assert body["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "plan", "signature": "sig-1"}}},
        {"reasoningContent": {"redactedContent": "cmVkYWN0ZWQ="}},
        {"text": "a"},
    ]
    assert "thinking" in body["additionalModelRequestFields"]
    foreign = [
        user(Text("q")),
        Message("assistant", [ToolCall("t1", "get_weather", {})]),
        user(ToolResult("t1", [Text("ok")])),
    ]
    request = ChatRequest(model="m", messages=foreign, tools=[WEATHER], reasoning=Reasoning("high"))
    assert "additionalModelRequestFields" not in codec.build_request(request, REASONING_TARGET)


def test_deployment_params_win_and_land_where_converse_wants_them() -> None:
    target = Target(
        model="m",
        params={
            "temperature": 0.1,
            "max_tokens": 512,
            "guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": "1"},
            "top_k": 5,
            "additionalModelRequestFields": {"anthropic_beta": ["x"]},
        },
    )
    request = ChatRequest(model="m", messages=[user(Text("hi"))], temperature=0.9)
    body = codec.build_request(request, target)
    assert body["inferenceConfig"] == {"temperature": 0.1, "maxTokens": 512}
    assert body["guardrailConfig"] == {"guardrailIdentifier": "gr-1", "guardrailVersion": "1"}
    assert body["additionalModelRequestFields"] == {"top_k": 5, "anthropic_beta": ["x"]}


def test_several_choices_are_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        codec.build_request(ChatRequest(model="m", messages=[user(Text("x"))], n=2), TARGET)
    assert caught.value.param == "n"
