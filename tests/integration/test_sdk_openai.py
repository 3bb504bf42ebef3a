"""The official ``openai`` SDK against a real gateway, on both upstream kinds: an
OpenAI-compatible mock (``mock-gpt``, same-dialect passthrough) and an Anthropic mock
(``mock-claude``, translated). Every test asserts both what the SDK got back and what
reached the upstream (the mock records each request)."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.live import MASTER_KEY

from .conftest import ANTHROPIC_SECRET, MAX_OUTPUT, OPENAI_SECRET, Stack, start_stack
from .mock_upstream import MockUpstream, Reply, ToolUse

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}},
            "required": ["zone"],
        },
    },
}
PARIS_ARGS = '{"city": "Paris, France", "unit": "celsius", "note": "\\u00e9t\\u00e9 \\"hot\\""}'
TOKYO_ARGS = '{"zone": "Asia/Tokyo"}'
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

UPSTREAMS = ["mock-gpt", "mock-claude"]


def weather_and_time(text: str, paris_id: str, tokyo_id: str) -> Reply:
    """Text, then two tool calls whose arguments stream two characters at a time."""
    return Reply(
        text=text,
        tool_calls=[
            ToolUse(paris_id, "get_weather", PARIS_ARGS),
            ToolUse(tokyo_id, "get_time", TOKYO_ARGS),
        ],
        piece=2,
    )


def hello(**extra):  # type: ignore[no-untyped-def]
    return {"messages": [{"role": "user", "content": "Say hello"}], **extra}


def assert_credentials(seen, route: str) -> None:  # type: ignore[no-untyped-def]
    """The provider secret went upstream, the gateway key did not."""
    flat = json.dumps(seen.headers) + seen.raw.decode()
    assert MASTER_KEY not in flat
    if route.startswith("mock-gpt"):
        assert seen.headers["authorization"] == f"Bearer {OPENAI_SECRET}"
        assert "x-api-key" not in seen.headers
    else:
        assert seen.headers["x-api-key"] == ANTHROPIC_SECRET
        assert "authorization" not in seen.headers


def assert_no_secret(response: httpx.Response) -> None:
    flat = json.dumps(dict(response.headers)) + response.text
    assert OPENAI_SECRET not in flat and ANTHROPIC_SECRET not in flat


# --- plain -----------------------------------------------------------------------------


def test_plain_text_passthrough_to_openai_upstream(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="Hi there!", input_tokens=12, output_tokens=3, cached_tokens=4))
    raw = stack.openai().chat.completions.with_raw_response.create(
        model="mock-gpt", temperature=0.2, **hello(seed=7)
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hi there!"
    assert completion.model == "mock-gpt"  # the public name, never the upstream id
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 16
    assert completion.usage.completion_tokens == 3
    assert completion.usage.prompt_tokens_details.cached_tokens == 4
    seen = mock.last
    assert seen.path == "/v1/chat/completions"
    # same dialect: the caller's body with only the model rewritten, unknown fields kept
    assert seen.body == {
        "model": "up-gpt",
        "messages": [{"role": "user", "content": "Say hello"}],
        "temperature": 0.2,
        "seed": 7,
    }
    assert_credentials(seen, "mock-gpt")
    assert_no_secret(raw.http_response)


def test_base_url_without_v1_calls_chat_completions(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="no v1 needed"))
    completion = stack.openai(v1=False).chat.completions.create(model="mock-gpt", **hello())
    assert completion.choices[0].message.content == "no v1 needed"
    assert mock.last.body["model"] == "up-gpt"


def test_plain_text_translated_to_anthropic_upstream(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="Bonjour!", input_tokens=20, output_tokens=5, cached_tokens=6))
    raw = stack.openai().chat.completions.with_raw_response.create(
        model="mock-claude", temperature=0.5, stop=["END"], user="user-42", **hello()
    )
    completion = raw.parse()
    message = completion.choices[0].message
    assert message.content == "Bonjour!"
    assert message.tool_calls is None
    assert completion.model == "mock-claude"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 26  # input + cache reads, OpenAI's convention
    assert completion.usage.completion_tokens == 5
    assert completion.usage.total_tokens == 31
    assert completion.usage.prompt_tokens_details.cached_tokens == 6
    seen = mock.last
    assert seen.path == "/v1/messages"
    assert seen.body == {
        "model": "up-claude",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}],
        "max_tokens": MAX_OUTPUT,  # defaulted from the deployment
        "temperature": 0.5,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
    }
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert_credentials(seen, "mock-claude")
    assert_no_secret(raw.http_response)


@pytest.mark.parametrize("route", UPSTREAMS)
def test_max_tokens_clamped_to_the_deployment(stack: Stack, mock: MockUpstream, route) -> None:
    stack.openai().chat.completions.create(model=route, max_tokens=50_000, **hello())
    stack.openai().chat.completions.create(model=route, max_completion_tokens=300, **hello())
    first, second = (s.body for s in mock.chat_requests())
    clamped = [v for k, v in first.items() if k in ("max_tokens", "max_completion_tokens")]
    assert clamped == [MAX_OUTPUT]
    kept = [v for k, v in second.items() if k in ("max_tokens", "max_completion_tokens")]
    assert kept == [300]


@pytest.mark.parametrize("route", UPSTREAMS)
def test_length_stop_reason(stack: Stack, mock: MockUpstream, route: str) -> None:
    native = "length" if route == "mock-gpt" else "max_tokens"
    mock.queue(Reply(text="truncat", finish=native))
    completion = stack.openai().chat.completions.create(model=route, max_tokens=2, **hello())
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "truncat"


# --- streaming -------------------------------------------------------------------------

LONG_TEXT = 'Streaming, piece by piece: ünïcödé ✓ and "quotes"\nnew lines too. ' * 3


@pytest.mark.parametrize("route", UPSTREAMS)
def test_stream_text_and_usage_chunk(stack: Stack, mock: MockUpstream, route: str) -> None:
    mock.queue(Reply(text=LONG_TEXT, input_tokens=9, output_tokens=30))
    chunks = list(
        stack.openai().chat.completions.create(
            model=route, stream=True, stream_options={"include_usage": True}, **hello()
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == LONG_TEXT
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert chunks[-1].choices == []  # the usage chunk comes last, after the finish
    assert chunks[-1].usage.prompt_tokens == 9
    assert chunks[-1].usage.completion_tokens == 30
    assert all(c.usage is None for c in chunks[:-1])
    assert {c.model for c in chunks} == {route}  # passthrough streams are renamed too
    assert mock.last.body["stream"] is True


@pytest.mark.parametrize("route", UPSTREAMS)
def test_stream_survives_events_split_mid_character(
    stack: Stack, mock: MockUpstream, route: str
) -> None:
    """TCP delivers bytes, not events: halves cut inside multi-byte characters."""
    text = "日本語のテキスト — ünïcödé 😀 " * 4
    mock.queue(Reply(text=text, split_writes=True, piece=5))
    chunks = stack.openai().chat.completions.create(model=route, stream=True, **hello())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text


@pytest.mark.parametrize("route", UPSTREAMS)
def test_stream_without_include_usage_has_no_usage_chunk(
    stack: Stack, mock: MockUpstream, route: str
) -> None:
    mock.queue(Reply(text="short answer"))
    chunks = list(stack.openai().chat.completions.create(model=route, stream=True, **hello()))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "short answer"
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


@pytest.mark.parametrize("route", UPSTREAMS)
def test_stream_helper_reassembles_parallel_tool_calls(
    stack: Stack, mock: MockUpstream, route: str
) -> None:
    mock.queue(weather_and_time("Let me check.", "call_paris_1", "call_tokyo_2"))
    with stack.openai().chat.completions.stream(
        model=route,
        messages=[{"role": "user", "content": "Weather in Paris and time in Tokyo?"}],
        tools=[WEATHER, TIME],
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    assert message.content == "Let me check."
    calls = message.tool_calls
    assert [c.id for c in calls] == ["call_paris_1", "call_tokyo_2"]
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].function.arguments) == json.loads(PARIS_ARGS)
    assert json.loads(calls[1].function.arguments) == json.loads(TOKYO_ARGS)


# --- tools -----------------------------------------------------------------------------


def test_tools_and_choice_reach_anthropic_translated(stack: Stack, mock: MockUpstream) -> None:
    client = stack.openai()
    client.chat.completions.create(
        model="mock-claude",
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
        **hello(),
    )
    client.chat.completions.create(
        model="mock-claude", tools=[WEATHER], tool_choice="required", **hello()
    )
    client.chat.completions.create(
        model="mock-claude", tools=[WEATHER], tool_choice="none", **hello()
    )
    forced, required, none = (s.body for s in mock.chat_requests())
    assert forced["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city",
            "input_schema": WEATHER["function"]["parameters"],
        },
        {"name": "get_time", "input_schema": TIME["function"]["parameters"]},
    ]
    assert forced["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }
    assert required["tool_choice"] == {"type": "any"}
    assert none["tool_choice"] == {"type": "none"}


def test_tools_reach_openai_upstream_unchanged(stack: Stack, mock: MockUpstream) -> None:
    stack.openai().chat.completions.create(
        model="mock-gpt", tools=[WEATHER], tool_choice="required", **hello()
    )
    assert mock.last.body["tools"] == [WEATHER]
    assert mock.last.body["tool_choice"] == "required"


def test_openai_only_shapes_pass_through_untouched(stack: Stack, mock: MockUpstream) -> None:
    # parts and tools we do not model, and a tool call cut off mid-arguments, are
    # OpenAI's to judge on the passthrough path; a translated route drops them (or names them in a 400)
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hear this"},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            ],
        },
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "cut off"},
    ]
    tools = [{"type": "custom", "custom": {"name": "grammar"}}, WEATHER]
    stack.openai().chat.completions.create(model="mock-gpt", messages=messages, tools=tools)
    assert mock.last.body["messages"] == messages
    assert mock.last.body["tools"] == tools
    # translated (drop_params is on by default): what Anthropic cannot take is dropped
    stack.openai().chat.completions.create(model="mock-claude", messages=messages)
    sent = mock.last.body["messages"]
    assert sent[0]["content"] == [{"type": "text", "text": "hear this"}]
    assert sent[1]["content"][0]["type"] == "tool_use" and sent[1]["content"][0]["input"] == {}


@pytest.mark.parametrize("route", UPSTREAMS)
def test_tool_round_trip_keeps_ids(stack: Stack, mock: MockUpstream, route: str) -> None:
    mock.queue(
        Reply(
            tool_calls=[
                ToolUse("toolu_A1", "get_weather", '{"city": "Paris"}'),
                ToolUse("toolu_B2", "get_time", TOKYO_ARGS),
            ]
        ),
        Reply(text="It is sunny in Paris and 9pm in Tokyo."),
    )
    client = stack.openai()
    messages = [{"role": "user", "content": "Weather in Paris, time in Tokyo?"}]
    first = client.chat.completions.create(model=route, messages=messages, tools=[WEATHER, TIME])
    calls = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert [c.id for c in calls] == ["toolu_A1", "toolu_B2"]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": "toolu_A1", "content": "sunny, 24C"})
    messages.append({"role": "tool", "tool_call_id": "toolu_B2", "content": "21:00"})
    second = client.chat.completions.create(model=route, messages=messages, tools=[WEATHER, TIME])
    assert second.choices[0].message.content == "It is sunny in Paris and 9pm in Tokyo."
    sent = mock.last.body["messages"]
    if route == "mock-claude":
        assistant, results = sent[1], sent[2]
        assert assistant["role"] == "assistant"
        assert [(b["type"], b["id"], b["input"]) for b in assistant["content"]] == [
            ("tool_use", "toolu_A1", {"city": "Paris"}),
            ("tool_use", "toolu_B2", {"zone": "Asia/Tokyo"}),
        ]
        assert results["role"] == "user"
        assert [(b["type"], b["tool_use_id"], b["content"]) for b in results["content"]] == [
            ("tool_result", "toolu_A1", [{"type": "text", "text": "sunny, 24C"}]),
            ("tool_result", "toolu_B2", [{"type": "text", "text": "21:00"}]),
        ]
    else:
        assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
        assert [c["id"] for c in sent[1]["tool_calls"]] == ["toolu_A1", "toolu_B2"]
        assert [m["tool_call_id"] for m in sent[2:]] == ["toolu_A1", "toolu_B2"]


# --- images, system prompts, reasoning ---------------------------------------------------


def image_message() -> dict:
    return {
        "role": "user",
        "content": [
            {"type": "text", "text": "Compare these"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        ],
    }


def test_images_reach_anthropic_as_url_and_base64(stack: Stack, mock: MockUpstream) -> None:
    stack.openai().chat.completions.create(model="mock-claude", messages=[image_message()])
    assert mock.last.body["messages"][0]["content"] == [
        {"type": "text", "text": "Compare these"},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
        },
    ]


def test_images_reach_openai_upstream(stack: Stack, mock: MockUpstream) -> None:
    stack.openai().chat.completions.create(model="mock-gpt", messages=[image_message()])
    assert mock.last.body["messages"] == [image_message()]


def test_system_and_developer_become_anthropic_system(stack: Stack, mock: MockUpstream) -> None:
    stack.openai().chat.completions.create(
        model="mock-claude",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hello"},
        ],
    )
    body = mock.last.body
    assert body["system"] == [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Answer in French."},
    ]
    assert [m["role"] for m in body["messages"]] == ["user"]


def test_mid_conversation_system_reaches_anthropic(stack: Stack, mock: MockUpstream) -> None:
    """Anthropic (below Opus 4.8) takes no system turn mid-conversation: it joins
    the system prompt, and the turns still alternate."""
    stack.openai().chat.completions.create(
        model="mock-claude",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "system", "content": "Now answer in German."},
            {"role": "user", "content": "How are you?"},
        ],
    )
    body = mock.last.body
    assert body["system"] == [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Now answer in German."},
    ]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


def test_reasoning_effort_becomes_thinking_and_back(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(
        Reply(text="42", reasoning="Let me think: 6 * 7."),
        Reply(text="42", reasoning="Let me think: 6 * 7.", piece=2),
    )
    client = stack.openai()
    completion = client.chat.completions.create(
        model="mock-claude", reasoning_effort="high", max_tokens=800, **hello()
    )
    thinking = mock.last.body["thinking"]
    assert thinking["type"] == "enabled" and thinking["budget_tokens"] >= 1024
    assert mock.last.body["max_tokens"] <= MAX_OUTPUT
    assert thinking["budget_tokens"] < mock.last.body["max_tokens"]
    message = completion.choices[0].message
    assert message.content == "42"
    assert message.model_extra["reasoning_content"] == "Let me think: 6 * 7."
    chunks = list(
        client.chat.completions.create(
            model="mock-claude", reasoning_effort="low", stream=True, **hello()
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert reasoning == "Let me think: 6 * 7."
    assert "".join(d.content or "" for d in deltas) == "42"


def test_reasoning_content_from_openai_upstream(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="yes", reasoning="thinking hard", piece=1))
    chunks = list(
        stack.openai().chat.completions.create(
            model="mock-gpt", reasoning_effort="medium", stream=True, **hello()
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas) == (
        "thinking hard"
    )
    assert mock.last.body["reasoning_effort"] == "medium"


def test_json_schema_output_through_anthropic(stack: Stack, mock: MockUpstream) -> None:
    """Anthropic has no response_format: a forced tool carries the JSON, and the caller
    gets it back as the message text with a plain stop, streamed or not."""
    answer = '{"city": "Paris", "temp": 24}'
    mock.queue(
        Reply(tool_calls=[ToolUse("toolu_json", "switchyard_json", answer)]),
        Reply(tool_calls=[ToolUse("toolu_json", "switchyard_json", answer)], piece=2),
    )
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp": {"type": "integer"}},
        "required": ["city", "temp"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "weather", "schema": schema}}
    client = stack.openai()
    completion = client.chat.completions.create(model="mock-claude", response_format=fmt, **hello())
    assert json.loads(completion.choices[0].message.content) == json.loads(answer)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.tool_calls is None
    body = mock.last.body
    assert body["tools"][0]["input_schema"] == schema
    assert body["tool_choice"] == {"type": "tool", "name": body["tools"][0]["name"]}
    chunks = list(
        client.chat.completions.create(
            model="mock-claude", response_format=fmt, stream=True, **hello()
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert json.loads("".join(d.content or "" for d in deltas)) == json.loads(answer)
    assert not any(d.tool_calls for d in deltas)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_several_choices_are_refused_for_anthropic(stack: Stack, mock: MockUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        stack.openai().chat.completions.create(model="mock-claude", n=2, **hello())
    assert caught.value.body["param"] == "n"
    assert mock.seen == []


# --- errors ----------------------------------------------------------------------------


def test_bad_key_is_authentication_error(stack: Stack, mock: MockUpstream) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        stack.openai(key="sy-wrong").chat.completions.create(model="mock-gpt", **hello())
    assert caught.value.status_code == 401
    assert mock.seen == []


def test_unknown_model_is_not_found(stack: Stack) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        stack.openai().chat.completions.create(model="no-such-model", **hello())
    assert "no-such-model" in caught.value.message


def test_wrong_field_is_bad_request_naming_it(stack: Stack, mock: MockUpstream) -> None:
    client = stack.openai()
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="mock-gpt",
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": 42},
            ],
        )
    assert caught.value.body["param"] == "messages[2].content"
    assert "messages[2].content" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="mock-claude", temperature="hot", **hello())
    assert "temperature" in caught.value.message
    assert mock.seen == []


def test_body_over_cap_is_413(tmp_path_factory: pytest.TempPathFactory) -> None:
    with start_stack(tmp_path_factory, env={"SWITCHYARD_MAX_BODY_BYTES": "2048"}) as small:
        with pytest.raises(openai.APIStatusError) as caught:
            small.openai().chat.completions.create(
                model="mock-gpt", messages=[{"role": "user", "content": "x" * 5000}]
            )
        assert caught.value.status_code == 413
        assert caught.value.body["type"] == "invalid_request_error"
        assert small.mock.seen == []


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("upstream", ["gpt", "claude"])
def test_upstream_429_is_rate_limit_with_retry_after(
    stack: Stack, mock: MockUpstream, upstream: str, stream: bool
) -> None:
    body = (
        {"error": {"message": "slow down", "type": "rate_limit_error"}}
        if upstream == "gpt"
        else {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    )
    mock.queue(Reply.failure(429, body, retry_after="7"))
    with pytest.raises(openai.RateLimitError) as caught:
        stack.openai().chat.completions.create(
            model=stack.spare_route(upstream), stream=stream, **hello()
        )
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"
    assert "slow down" in caught.value.message
    assert len(mock.chat_requests()) == 1


@pytest.mark.parametrize("upstream", ["gpt", "claude"])
def test_upstream_500_is_internal_server_error(
    stack: Stack, mock: MockUpstream, upstream: str
) -> None:
    mock.queue(Reply.failure(500, {"error": {"message": "boom", "type": "server_error"}}))
    with pytest.raises(openai.InternalServerError) as caught:
        stack.openai().chat.completions.create(model=stack.spare_route(upstream), **hello())
    assert caught.value.status_code == 502
    assert_no_secret(caught.value.response)


@pytest.mark.parametrize(("upstream", "status"), [("gpt", 503), ("claude", 529)])
def test_upstream_overloaded_is_502_for_openai_callers(
    stack: Stack, mock: MockUpstream, upstream: str, status: int
) -> None:
    # 529 is Anthropic's own status: an OpenAI client gets the gateway's 502
    mock.queue(Reply.failure(status, {"error": {"message": "busy", "type": "overloaded_error"}}))
    with pytest.raises(openai.InternalServerError) as caught:
        stack.openai().chat.completions.create(model=stack.spare_route(upstream), **hello())
    assert caught.value.status_code == 502
    error = caught.value.body  # the SDK's body is the "error" object
    assert "busy" in error["message"]  # the upstream's own words are passed on
    assert error["type"] == "api_error"


@pytest.mark.parametrize("route", ["dead-gpt", "dead-claude"])
def test_connection_refused_is_502(stack: Stack, route: str) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        stack.openai().chat.completions.create(model=route, **hello())
    assert caught.value.status_code == 502
    assert caught.value.body["type"] == "api_error"


@pytest.mark.parametrize("upstream", ["gpt", "claude"])
@pytest.mark.parametrize("how", ["cut", "error_event"])
def test_mid_stream_failure_raises_in_the_sdk(
    stack: Stack, mock: MockUpstream, upstream: str, how: str
) -> None:
    failing = {"cut_after": 6} if how == "cut" else {"error_after": 6}
    mock.queue(Reply(text="This answer will not finish because the upstream fails", **failing))
    stream = stack.openai().chat.completions.create(
        model=stack.spare_route(upstream), stream=True, **hello()
    )
    received: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "".join(received)  # some text arrived before the failure
    assert "".join(received) != "This answer will not finish because the upstream fails"


def test_server_log_has_no_traceback(stack: Stack) -> None:
    stack.assert_clean_log()


def test_embeddings_and_completions_answer_with_the_public_name(
    stack: Stack, mock: MockUpstream
) -> None:
    client = stack.openai()
    embedded = client.embeddings.create(model="mock-gpt", input="hello")
    assert embedded.model == "mock-gpt" and embedded.data[0].embedding == [0.1, 0.2]
    assert mock.seen[-1].body["model"] == "up-gpt"
    completed = client.completions.create(model="mock-gpt", prompt="Say", max_tokens=5)
    assert completed.model == "mock-gpt" and completed.choices[0].text == "mock"
    assert completed.usage.completion_tokens == 1


def test_malformed_embeddings_and_completions_never_reach_the_upstream(
    stack: Stack, mock: MockUpstream
) -> None:
    client = stack.openai()
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="mock-gpt", input=[])
    assert caught.value.body["param"] == "input"
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="mock-gpt", prompt=[None], max_tokens=5)  # type: ignore[list-item]
    assert caught.value.body["param"] == "prompt"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="mock-claude", messages=[{"role": "user"}])  # type: ignore[typeddict-item]
    assert caught.value.body["param"] == "messages[0].content"
    assert mock.seen == []
    # token ids, as LangChain's OpenAIEmbeddings sends them, still pass through
    client.embeddings.create(model="mock-gpt", input=[[15339, 1917]])
    assert mock.seen[-1].body["input"] == [[15339, 1917]]
