"""The ``openai-agents`` SDK through the gateway: an agent with a function tool, on an
OpenAI-compatible upstream and on an Anthropic upstream (both mocks scripted to call
the tool, then answer), run non-streamed and streamed. The tool runs, its result goes
back upstream under the same call id, and the final output arrives."""

from __future__ import annotations

import pytest
from agents import (
    Agent,
    OpenAIChatCompletionsModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)

from .conftest import Stack
from .mock_upstream import MockUpstream, Reply, ToolUse

set_tracing_disabled(True)

ANSWER = "It is sunny and 24C in Paris."


def weather_agent(stack: Stack, route: str, calls: list[str]) -> Agent:
    @function_tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        calls.append(city)
        return f"sunny, 24C in {city}"

    model = OpenAIChatCompletionsModel(model=route, openai_client=stack.async_openai())
    return Agent(
        name="weather", instructions="Answer weather questions.", tools=[get_weather], model=model
    )


def script(mock: MockUpstream) -> None:
    mock.queue(
        Reply(tool_calls=[ToolUse("call_weather_1", "get_weather", '{"city": "Paris"}')]),
        Reply(text=ANSWER),
    )


def assert_tool_result_went_upstream(mock: MockUpstream, route: str) -> None:
    first, second = (s.body for s in mock.chat_requests())
    if route == "mock-claude":
        assert first["system"] == [{"type": "text", "text": "Answer weather questions."}]
        assert [t["name"] for t in first["tools"]] == ["get_weather"]
        assert first["tools"][0]["input_schema"]["properties"]["city"]["type"] == "string"
        use = second["messages"][1]["content"][0]
        result = second["messages"][2]["content"][0]
        assert (use["type"], use["id"], use["input"]) == (
            "tool_use",
            "call_weather_1",
            {"city": "Paris"},
        )
        assert (result["type"], result["tool_use_id"]) == ("tool_result", "call_weather_1")
        assert result["content"] == [{"type": "text", "text": "sunny, 24C in Paris"}]
    else:
        assert [t["function"]["name"] for t in first["tools"]] == ["get_weather"]
        tool_message = second["messages"][-1]
        assert tool_message == {
            "role": "tool",
            "tool_call_id": "call_weather_1",
            "content": "sunny, 24C in Paris",
        }


@pytest.mark.parametrize("route", ["mock-gpt", "mock-claude"])
async def test_agent_runs_tool_then_answers(stack: Stack, mock: MockUpstream, route: str) -> None:
    script(mock)
    calls: list[str] = []
    result = await Runner.run(weather_agent(stack, route, calls), "What's the weather in Paris?")
    assert result.final_output == ANSWER
    assert calls == ["Paris"]
    assert_tool_result_went_upstream(mock, route)


@pytest.mark.parametrize("route", ["mock-gpt", "mock-claude"])
async def test_agent_streamed_runs_tool_then_answers(
    stack: Stack, mock: MockUpstream, route: str
) -> None:
    script(mock)
    calls: list[str] = []
    result = Runner.run_streamed(weather_agent(stack, route, calls), "What's the weather in Paris?")
    kinds: list[str] = []
    async for event in result.stream_events():
        if event.type == "run_item_stream_event":
            kinds.append(event.item.type)
    assert result.final_output == ANSWER
    assert calls == ["Paris"]
    assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    assert all(s.body["stream"] is True for s in mock.chat_requests())
    assert_tool_result_went_upstream(mock, route)


def test_server_log_has_no_traceback(stack: Stack) -> None:
    stack.assert_clean_log()
