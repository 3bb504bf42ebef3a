"""The built-in echo provider: deterministic answers, tool calls, stream == complete."""

from __future__ import annotations

import pytest

from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.errors import UpstreamError
from gateway.base.streaming import afold_events
from gateway.base.types import (
    ChatRequest,
    Message,
    Text,
    TextDelta,
    Tool,
    ToolArgsDelta,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from gateway.providers.base import Exchange
from gateway.providers.echo import EchoProvider
from tests.gateway import entries

PROVIDER = ProviderEntry(1, "echo", "echo", "", "", {}, "", None)


def deployment(**params) -> DeploymentEntry:
    return entries.deployment("echo", "echo-1", id=1, provider=PROVIDER, params=params)


WEATHER = Tool(
    name="get_weather",
    description="weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def user(text: str) -> Message:
    return Message("user", [Text(text)])


async def both(request: ChatRequest, dep: DeploymentEntry):
    echo = EchoProvider(PROVIDER)
    complete = await echo.complete(request, dep, Exchange())
    events = [e async for e in echo.stream(request, dep, Exchange())]
    folded = await afold_events(_aiter(events))
    return complete, folded, events


async def _aiter(items):
    for item in items:
        yield item


async def test_echoes_the_last_user_message_word_by_word() -> None:
    request = ChatRequest(
        model="echo",
        messages=[user("hi"), Message("assistant", [Text("x")]), user("hello big world")],
    )
    complete, folded, events = await both(request, deployment())
    assert complete.text() == "Echo: hello big world"
    assert [e.text for e in events if isinstance(e, TextDelta)] == [
        "Echo:",
        " hello",
        " big",
        " world",
    ]
    assert folded.text() == complete.text()
    assert folded.finish_reason == complete.finish_reason == "stop"
    assert folded.usage == complete.usage


async def test_calls_a_tool_when_asked_and_streams_arguments_in_pieces() -> None:
    request = ChatRequest(
        model="echo", messages=[user("please use the get_weather tool for Paris")], tools=[WEATHER]
    )
    complete, folded, events = await both(request, deployment())
    calls = complete.tool_calls()
    assert (
        len(calls) == 1 and calls[0].name == "get_weather" and set(calls[0].arguments) == {"city"}
    )
    assert complete.finish_reason == "tool_calls"
    assert len([e for e in events if isinstance(e, ToolArgsDelta)]) > 1
    assert folded.tool_calls()[0].name == "get_weather"
    assert folded.tool_calls()[0].arguments == calls[0].arguments


async def test_forced_tool_choice_and_none() -> None:
    forced = ChatRequest(
        model="echo", messages=[user("hi")], tools=[WEATHER], tool_choice=ToolChoice("required")
    )
    complete, _, _ = await both(forced, deployment())
    assert complete.tool_calls()
    never = ChatRequest(
        model="echo",
        messages=[user("use the get_weather tool")],
        tools=[WEATHER],
        tool_choice=ToolChoice("none"),
    )
    complete, _, _ = await both(never, deployment())
    assert not complete.tool_calls()


async def test_reports_tool_results() -> None:
    request = ChatRequest(
        model="echo",
        messages=[
            user("weather?"),
            Message("assistant", [ToolCall("call_1", "get_weather", {"city": "Paris"})]),
            Message("user", [ToolResult("call_1", [Text("sunny")])]),
        ],
        tools=[WEATHER],
    )
    complete, _, _ = await both(request, deployment())
    assert "call_1 returned: sunny" in complete.text()


async def test_max_tokens_truncates_with_length() -> None:
    request = ChatRequest(model="echo", messages=[user("one two three four five")], max_tokens=2)
    complete, folded, _ = await both(request, deployment())
    assert complete.finish_reason == folded.finish_reason == "length"
    assert complete.text() == "Echo: one"


async def test_configured_failure_raises_before_any_event() -> None:
    echo = EchoProvider(PROVIDER)
    with pytest.raises(UpstreamError) as info:
        await anext(
            aiter(
                echo.stream(
                    ChatRequest(model="e", messages=[user("x")]),
                    deployment(fail_status=503),
                    Exchange(),
                )
            )
        )
    assert info.value.status == 503 and info.value.retryable
