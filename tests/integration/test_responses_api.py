"""The OpenAI Responses API (``/v1/responses``) end to end on a real server: the
official ``openai`` SDK (plain, ``stream=True``, the ``responses.stream`` helper) and
the ``openai-agents`` SDK with its DEFAULT model (``OpenAIResponsesModel``), against
the echo route and, through the translation, a mock OpenAI-compatible and a mock
Anthropic upstream. The tool runs, its result goes back under the same call id, and
the final output arrives."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from agents import (
    Agent,
    Runner,
    function_tool,
    set_default_openai_api,
    set_default_openai_client,
    set_tracing_disabled,
)
from agents.models import _openai_shared

from .conftest import Stack
from .mock_upstream import MockUpstream, Reply
from .test_agents_sdk import ANSWER, assert_tool_result_went_upstream, script

set_tracing_disabled(True)

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


# --- the openai SDK -----------------------------------------------------------------------


def test_create_answers_with_a_response_object(stack: Stack) -> None:
    response = stack.openai().responses.create(
        model="echo", input="hello there", instructions="Be nice."
    )
    assert response.id.startswith("resp_") and response.object == "response"
    assert (response.model, response.status) == ("echo", "completed")
    assert response.output_text == "Echo: hello there"
    assert response.output[0].type == "message" and response.output[0].id.startswith("msg_")
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert response.usage.output_tokens > 0


def test_create_stream_yields_the_event_sequence(stack: Stack) -> None:
    events = list(stack.openai().responses.create(model="echo", input="one two three", stream=True))
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 1 and "".join(deltas) == "Echo: one two three"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.output_text == "Echo: one two three"
    assert events[-1].response.usage.output_tokens > 0


def test_stream_helper_returns_the_final_response(stack: Stack) -> None:
    with stack.openai().responses.stream(model="echo", input="streamed words") as stream:
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(texts) == final.output_text == "Echo: streamed words"
    assert final.status == "completed"


def test_function_call_round_trip_keeps_the_call_id(stack: Stack) -> None:
    client = stack.openai()
    first = client.responses.create(
        model="echo", input="Please use the get_weather tool", tools=[WEATHER_TOOL]
    )
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and call.id.startswith("fc_")
    second = client.responses.create(
        model="echo",
        tools=[WEATHER_TOOL],
        input=[
            {"role": "user", "content": "Please use the get_weather tool"},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 24C"},
        ],
    )
    assert second.output_text == f"Tool results received. {call.call_id} returned: sunny, 24C"


def test_translated_to_an_openai_upstream(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="Bonjour!", input_tokens=20, output_tokens=3, cached_tokens=5))
    response = stack.openai().responses.create(
        model="mock-gpt", input="Say hi", instructions="In French.", max_output_tokens=100
    )
    assert response.output_text == "Bonjour!"
    assert response.model == "mock-gpt"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (25, 3)
    assert response.usage.input_tokens_details.cached_tokens == 5
    sent = mock.last.body
    assert sent["model"] == "up-gpt"
    assert sent["messages"][0]["role"] in ("system", "developer")
    assert sent["messages"][-1] == {"role": "user", "content": "Say hi"}


def test_function_tools_and_text_format_stay_strict_upstream(
    stack: Stack, mock: MockUpstream
) -> None:
    """pydantic-ai's OpenAIResponsesModel and the Agents SDK rely on the Responses
    default (function tools are strict unless they say otherwise)."""
    mock.queue(Reply(text='{"city": "Oslo"}'))
    schema = {**WEATHER_TOOL["parameters"], "additionalProperties": False}
    stack.openai().responses.create(
        model="mock-gpt",
        input="Weather in Oslo?",
        tools=[
            {**WEATHER_TOOL, "parameters": schema},  # no strict: the API's default, true
            {**WEATHER_TOOL, "name": "loose", "strict": False},
        ],
        text={"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}},
    )
    sent = mock.last.body
    assert [(t["function"]["name"], t["function"]["strict"]) for t in sent["tools"]] == [
        ("get_weather", True),
        ("loose", False),
    ]
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": schema, "strict": True},
    }


def test_translated_stream_from_an_anthropic_upstream(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="Hello from Claude", reasoning="Let me think"))
    with stack.openai().responses.stream(model="mock-claude", input="hi") as stream:
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].summary[0].text == "Let me think"
    assert final.output[0].encrypted_content == "sig-mock-thinking"
    assert final.output_text == "Hello from Claude"
    assert mock.last.path == "/v1/messages"


def test_error_mid_stream_arrives_as_error_and_response_failed(
    stack: Stack, mock: MockUpstream
) -> None:
    mock.queue(Reply(text="a long answer that breaks", error_after=3))
    route = stack.spare_route("gpt")  # a failure must not cool down the shared route
    body = {"model": route, "input": "hi", "stream": True}
    headers = {"authorization": f"Bearer {stack.key}"}
    raw = httpx.post(stack.url + "/v1/responses", json=body, headers=headers, timeout=30).text
    events = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
    assert [e["type"] for e in events][-2:] == ["error", "response.failed"]
    assert events[-1]["response"]["status"] == "failed"
    assert events[-1]["response"]["error"]["message"]
    assert raw.endswith("data: [DONE]\n\n")
    # The error event carries Open Responses' nested ``error`` payload (and the flat
    # fields OpenAI sends): the openai SDK raises an APIError with its message on it.
    error = events[-2]
    assert error["error"]["message"] == error["message"] and error["error"]["code"]
    mock.queue(Reply(text="a long answer that breaks", error_after=3))
    with pytest.raises(openai.APIError) as caught:
        list(stack.openai().responses.create(model=route, input="hi", stream=True))
    assert "mid-stream" in caught.value.message


# --- errors ----------------------------------------------------------------------------------


def test_bad_key_is_an_authentication_error(stack: Stack) -> None:
    with pytest.raises(openai.AuthenticationError):
        stack.openai(key="sk-wrong").responses.create(model="echo", input="hi")


def test_unknown_model_is_not_found(stack: Stack) -> None:
    with pytest.raises(openai.NotFoundError):
        stack.openai().responses.create(model="no-such-model", input="hi")


def test_bad_field_is_a_bad_request_naming_it(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        stack.openai().responses.create(
            model="echo", input=[{"type": "function_call", "name": "f", "arguments": "{}"}]
        )
    assert caught.value.body["param"] == "input[0].call_id"


def test_unknown_previous_response_id_is_previous_response_not_found(stack: Stack) -> None:
    """Open Responses names the code; a 400, as its WebSocket error example has it."""
    with pytest.raises(openai.BadRequestError) as caught:
        stack.openai().responses.create(model="echo", input="hi", previous_response_id="resp_1")
    assert caught.value.body["param"] == "previous_response_id"
    assert caught.value.body["code"] == "previous_response_not_found"
    assert "resp_1" in caught.value.message


def test_hosted_tool_is_dropped_on_a_drop_params_route(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="ok"))
    response = stack.openai().responses.create(
        model="mock-gpt", input="hi", tools=[{"type": "web_search"}, WEATHER_TOOL]
    )
    assert response.output_text == "ok"
    sent = mock.last.body
    assert [tool["function"]["name"] for tool in sent["tools"]] == ["get_weather"]


# --- the openai-agents SDK with its default (Responses) model --------------------------------


@pytest.fixture
def default_client(stack: Stack) -> Iterator[None]:
    previous = _openai_shared.get_default_openai_client()
    set_default_openai_client(stack.async_openai(), use_for_tracing=False)
    set_default_openai_api("responses")
    yield
    _openai_shared.set_default_openai_client(previous)


def assert_responses_api_used(result) -> None:  # type: ignore[no-untyped-def]
    """The default model went through /v1/responses (Chat Completions has no resp_ ids)."""
    assert result.raw_responses
    assert all(r.response_id.startswith("resp_") for r in result.raw_responses)


def weather_agent(route: str, calls: list[str]) -> Agent:
    @function_tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        calls.append(city)
        return f"sunny, 24C in {city}"

    return Agent(
        name="weather", instructions="Answer weather questions.", tools=[get_weather], model=route
    )


async def run_agent(agent: Agent, prompt: str, streamed: bool):  # type: ignore[no-untyped-def]
    """Run to the final output; the run item kinds in order when streamed."""
    if not streamed:
        return await Runner.run(agent, prompt), None
    result = Runner.run_streamed(agent, prompt)
    kinds = [
        event.item.type
        async for event in result.stream_events()
        if event.type == "run_item_stream_event"
    ]
    return result, kinds


@pytest.mark.parametrize("streamed", [False, True])
async def test_agent_default_model_on_echo(
    stack: Stack, default_client: None, streamed: bool
) -> None:
    calls: list[str] = []
    agent = weather_agent("echo", calls)
    result, kinds = await run_agent(agent, "Use the get_weather tool please.", streamed)
    assert calls == ["city"]  # echo fills required string properties with their name
    assert result.final_output.startswith("Tool results received. call_")
    assert result.final_output.endswith("returned: sunny, 24C in city")
    if streamed:  # echo says "Calling get_weather." before its call
        assert kinds == [
            "message_output_item",
            "tool_call_item",
            "tool_call_output_item",
            "message_output_item",
        ]
    assert_responses_api_used(result)


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("route", ["mock-gpt", "mock-claude"])
async def test_agent_default_model_through_translation(
    stack: Stack, mock: MockUpstream, default_client: None, route: str, streamed: bool
) -> None:
    script(mock)
    calls: list[str] = []
    agent = weather_agent(route, calls)
    result, kinds = await run_agent(agent, "What's the weather in Paris?", streamed)
    assert result.final_output == ANSWER
    assert calls == ["Paris"]
    if streamed:
        assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    assert all(s.body.get("stream", False) is streamed for s in mock.chat_requests())
    assert_tool_result_went_upstream(mock, route)
    assert_responses_api_used(result)


def test_server_log_has_no_traceback(stack: Stack) -> None:
    stack.assert_clean_log()
