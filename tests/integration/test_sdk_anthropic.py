"""The official ``anthropic`` SDK against a real gateway, on both upstream kinds: an
Anthropic mock (``mock-claude``, passthrough: the body forwarded with only the model
rewritten) and an OpenAI-compatible mock (``mock-gpt``, translated: the Claude Code
path). Every test asserts what the SDK got back and what reached the upstream."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest

from .conftest import MAX_OUTPUT, Stack, start_stack
from .mock_upstream import MockUpstream, Reply, ToolUse
from .test_sdk_openai import (
    LONG_TEXT,
    PARIS_ARGS,
    PNG_B64,
    TOKYO_ARGS,
    assert_credentials,
    assert_no_secret,
    weather_and_time,
)

UPSTREAMS = ["mock-gpt", "mock-claude"]
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    },
}
TIME = {
    "name": "get_time",
    "input_schema": {
        "type": "object",
        "properties": {"zone": {"type": "string"}},
        "required": ["zone"],
    },
}


def hello(**extra):  # type: ignore[no-untyped-def]
    return {"max_tokens": 256, "messages": [{"role": "user", "content": "Say hello"}], **extra}


# --- plain -----------------------------------------------------------------------------


def test_passthrough_forwards_body_with_only_model_rewritten(
    stack: Stack, mock: MockUpstream
) -> None:
    mock.queue(Reply(text="Hello!", input_tokens=14, output_tokens=2))
    sent = {
        "max_tokens": 256,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Say hello"}],
        "metadata": {"user_id": "u-7"},
    }
    raw = stack.anthropic().messages.with_raw_response.create(
        model="mock-claude",
        **sent,
        extra_body={"some_future_field": {"nested": [1, 2, 3]}},
        extra_headers={"anthropic-beta": "future-feature-2031-01-01"},
    )
    message = raw.parse()
    assert message.content[0].text == "Hello!"
    assert message.model == "mock-claude"  # the public name, never the upstream id
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 14 and message.usage.output_tokens == 2
    seen = mock.last
    assert seen.path == "/v1/messages"
    assert seen.body == {**sent, "model": "up-claude", "some_future_field": {"nested": [1, 2, 3]}}
    assert seen.headers["anthropic-beta"] == "future-feature-2031-01-01"
    # the deployment's API version (2023-06-01 unless it names one), not the SDK's
    assert raw.http_request.headers["anthropic-version"] == "2026-10-21"
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert_credentials(seen, "mock-claude")
    assert_no_secret(raw.http_response)


def test_sdk_on_2026_10_21_gets_each_deployment_its_own_version(
    stack: Stack, mock: MockUpstream
) -> None:
    """The SDK sends 2026-10-21; its temperature (the SDK's types no longer have it, so
    extra_body, as older code does) was forwarded with that version: a 400 upstream.
    The upstream mock refuses what Anthropic refuses per version (tests.anthropic_rules)."""
    extra = {"temperature": 0.5, "top_k": 3}
    raw = stack.anthropic().messages.with_raw_response.create(
        model="mock-claude-2026", extra_body=extra, **hello()
    )
    assert raw.http_request.headers["anthropic-version"] == "2026-10-21"
    assert raw.parse().content[0].text == "Hello from the mock upstream."
    seen = mock.last
    assert seen.headers["anthropic-version"] == "2026-10-21"
    assert "temperature" not in seen.body and "top_k" not in seen.body
    # control: a deployment on 2023-06-01 takes both, the SDK's version notwithstanding
    stack.anthropic().messages.create(model="mock-claude", extra_body=extra, **hello())
    assert mock.last.headers["anthropic-version"] == "2023-06-01"
    assert mock.last.body["temperature"] == 0.5 and mock.last.body["top_k"] == 3
    # strict: a clear 400 in Anthropic's format, before any upstream call
    calls = len(mock.chat_requests())
    with pytest.raises(anthropic.BadRequestError) as refused:
        stack.anthropic().messages.create(
            model="mock-claude-2026-strict", extra_body=extra, **hello()
        )
    assert "temperature" in str(refused.value) and "2026-10-21" in str(refused.value)
    assert len(mock.chat_requests()) == calls
    stack.anthropic().messages.create(model="mock-claude-2026-strict", **hello())
    assert len(mock.chat_requests()) == calls + 1


def test_translated_to_openai_upstream(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="Salut!", input_tokens=30, output_tokens=4, cached_tokens=10))
    raw = stack.anthropic().messages.with_raw_response.create(
        model="mock-gpt",
        system="You are terse.",
        stop_sequences=["END"],
        metadata={"user_id": "user-9"},
        extra_body={"temperature": 0.3},  # this SDK version no longer takes it as an argument
        **hello(),
    )
    message = raw.parse()
    assert message.model == "mock-gpt"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Salut!"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 30  # the upstream prompt_tokens (40) minus cache reads
    assert message.usage.cache_read_input_tokens == 10
    assert message.usage.output_tokens == 4
    seen = mock.last
    assert seen.path == "/v1/chat/completions"
    assert seen.body == {
        "model": "up-gpt",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello"},
        ],
        "max_tokens": 256,
        "temperature": 0.3,
        "stop": ["END"],
        "user": "user-9",
    }
    assert_credentials(seen, "mock-gpt")
    assert_no_secret(raw.http_response)


CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temp_c": {"type": "integer"}},
    "required": ["city", "temp_c"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "structured",
    [
        {"output_config": {"format": {"type": "json_schema", "schema": CITY}}},
        {"extra_body": {"output_format": {"type": "json_schema", "schema": CITY}}},  # older beta
    ],
)
def test_structured_output_constrains_an_openai_upstream(
    stack: Stack, mock: MockUpstream, structured: dict
) -> None:
    """LangChain's ChatAnthropic.with_structured_output(method="json_schema") sends the
    schema this way; an unconstrained OpenAI upstream would answer prose."""
    mock.queue(Reply(text='{"city": "Oslo", "temp_c": 4}'))
    message = stack.anthropic().messages.create(model="mock-gpt", **structured, **hello())
    assert json.loads(message.content[0].text) == {"city": "Oslo", "temp_c": 4}
    assert mock.last.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": CITY, "strict": True},
    }


def test_claude_code_user_id_reaches_an_openai_upstream_within_its_limit(
    stack: Stack, mock: MockUpstream
) -> None:
    """Claude Code's metadata.user_id is about 150 characters; OpenAI takes 64."""
    user_id = (
        "user_" + "0123456789abcdef" * 4 + "_account_4f1c9e0a-5d7b-4c1e-9a65-3b8f0d2e7c41"
        "_session_8e2d6a10-7c3b-4f95-b1e4-5a9c0d3f2b67"
    )
    mock.queue(Reply(text="ok"))
    stack.anthropic().messages.create(model="mock-gpt", metadata={"user_id": user_id}, **hello())
    sent = mock.last.body["user"]
    assert len(sent) == 64 and sent != user_id[:64]


@pytest.mark.parametrize(("route", "forwarded"), [("mock-gpt", False), ("mock-claude", True)])
def test_top_k_reaches_only_upstreams_that_take_it(
    stack: Stack, mock: MockUpstream, route: str, forwarded: bool
) -> None:
    """The mock OpenAI deployment is not marked supports_top_k: an OpenAI-compatible
    server that rejects top_k would answer 400, so the gateway drops it (drop_params)."""
    mock.queue(Reply(text="ok"))
    message = stack.anthropic().messages.create(
        model=route,
        extra_body={"top_k": 5},
        **hello(),  # no longer an argument of this SDK
    )
    assert message.content[0].text == "ok"
    assert ("top_k" in mock.last.body) is forwarded


@pytest.mark.parametrize("route", UPSTREAMS)
def test_max_tokens_clamped_to_the_deployment(stack: Stack, mock: MockUpstream, route) -> None:
    stack.anthropic().messages.create(
        model=route,
        max_tokens=100_000,
        messages=[{"role": "user", "content": "hi"}],
        timeout=60,  # else the SDK refuses a non-streamed call this long
    )
    body = mock.last.body
    assert [v for k, v in body.items() if k in ("max_tokens", "max_completion_tokens")] == [
        MAX_OUTPUT
    ]


@pytest.mark.parametrize("route", UPSTREAMS)
def test_max_tokens_stop_reason(stack: Stack, mock: MockUpstream, route: str) -> None:
    mock.queue(Reply(text="trunc", finish="length" if route == "mock-gpt" else "max_tokens"))
    message = stack.anthropic().messages.create(model=route, **hello())
    assert message.stop_reason == "max_tokens"


# --- streaming -------------------------------------------------------------------------


@pytest.mark.parametrize("route", UPSTREAMS)
def test_stream_text_assembled_exactly(stack: Stack, mock: MockUpstream, route: str) -> None:
    mock.queue(Reply(text=LONG_TEXT, input_tokens=8, output_tokens=40))
    with stack.anthropic().messages.stream(model=route, **hello()) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == LONG_TEXT
    assert final.content[0].text == LONG_TEXT
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 40
    assert final.usage.input_tokens == 8
    assert final.model == route
    assert mock.last.body["stream"] is True


def test_translated_stream_states_input_tokens_up_front(stack: Stack, mock: MockUpstream) -> None:
    """Claude Code tracks its context from message_start.usage. An OpenAI upstream
    reports usage only at the end, so the gateway counts the prompt itself, as
    count_tokens does; the final usage is still the upstream's."""
    prompt = {
        "system": "You are a careful assistant who answers briefly. " * 40,
        "messages": [{"role": "user", "content": "Say hello"}],
        "tools": [WEATHER],
    }
    counted = stack.anthropic().messages.count_tokens(model="mock-gpt", **prompt)
    mock.queue(Reply(text="Hello!", input_tokens=321, output_tokens=5))
    with stack.anthropic().messages.stream(model="mock-gpt", max_tokens=64, **prompt) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert events[0].type == "message_start"
    assert events[0].message.usage.input_tokens == counted.input_tokens > 300
    assert final.usage.input_tokens == 321 and final.usage.output_tokens == 5
    assert final.content[0].text == "Hello!"


@pytest.mark.parametrize("route", UPSTREAMS)
def test_stream_survives_events_split_mid_character(
    stack: Stack, mock: MockUpstream, route: str
) -> None:
    """TCP delivers bytes, not events: halves cut inside multi-byte characters."""
    text = "日本語のテキスト — ünïcödé 😀 " * 4
    mock.queue(Reply(text=text, split_writes=True, piece=5))
    with stack.anthropic().messages.stream(model=route, **hello()) as stream:
        assert "".join(stream.text_stream) == text


@pytest.mark.parametrize("route", UPSTREAMS)
def test_stream_final_message_reassembles_parallel_tool_use(
    stack: Stack, mock: MockUpstream, route: str
) -> None:
    mock.queue(weather_and_time("Checking both.", "toolu_paris", "toolu_tokyo"))
    with stack.anthropic().messages.stream(
        model=route,
        max_tokens=500,
        tools=[WEATHER, TIME],
        messages=[{"role": "user", "content": "Weather in Paris and time in Tokyo?"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert final.content[0].text == "Checking both."
    assert [(b.id, b.name) for b in final.content[1:]] == [
        ("toolu_paris", "get_weather"),
        ("toolu_tokyo", "get_time"),
    ]
    assert final.content[1].input == json.loads(PARIS_ARGS)
    assert final.content[2].input == json.loads(TOKYO_ARGS)


@pytest.mark.parametrize("route", UPSTREAMS)
def test_thinking_streams_with_text(stack: Stack, mock: MockUpstream, route: str) -> None:
    mock.queue(Reply(text="42", reasoning="Six times seven is forty-two.", signature="sig-xyz"))
    with stack.anthropic().messages.stream(
        model=route,
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "6*7?"}],
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Six times seven is forty-two."
    assert final.content[1].text == "42"
    body = mock.last.body
    if route == "mock-claude":
        assert final.content[0].signature == "sig-xyz"
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    else:
        assert body["reasoning_effort"] == "low"  # a 2048-token budget is a low effort


def test_thinking_from_openai_upstream_non_streamed(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="done", reasoning="pondering"))
    message = stack.anthropic().messages.create(
        model="mock-gpt", thinking={"type": "enabled", "budget_tokens": 20000}, **hello()
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "pondering"
    assert mock.last.body["reasoning_effort"] == "high"


# --- tools -----------------------------------------------------------------------------


def test_tools_and_choice_reach_openai_translated(stack: Stack, mock: MockUpstream) -> None:
    client = stack.anthropic()
    client.messages.create(
        model="mock-gpt",
        tools=[WEATHER, TIME],
        tool_choice={"type": "tool", "name": "get_time", "disable_parallel_tool_use": True},
        **hello(),
    )
    client.messages.create(
        model="mock-gpt", tools=[WEATHER], tool_choice={"type": "any"}, **hello()
    )
    client.messages.create(
        model="mock-gpt", tools=[WEATHER], tool_choice={"type": "auto"}, **hello()
    )
    forced, anyone, auto = (s.body for s in mock.chat_requests())
    assert forced["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": WEATHER["input_schema"],
            },
        },
        {"type": "function", "function": {"name": "get_time", "parameters": TIME["input_schema"]}},
    ]
    assert forced["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert forced["parallel_tool_calls"] is False
    assert anyone["tool_choice"] == "required"
    assert auto["tool_choice"] == "auto"


@pytest.mark.parametrize("route", UPSTREAMS)
def test_tool_round_trip_keeps_ids(stack: Stack, mock: MockUpstream, route: str) -> None:
    mock.queue(
        Reply(
            tool_calls=[
                ToolUse("call_W1", "get_weather", '{"city": "Oslo"}'),
                ToolUse("call_T2", "get_time", TOKYO_ARGS),
            ]
        ),
        Reply(text="Cold in Oslo; 9pm in Tokyo."),
    )
    client = stack.anthropic()
    messages: list[dict] = [{"role": "user", "content": "Oslo weather, Tokyo time?"}]
    first = client.messages.create(
        model=route, max_tokens=300, tools=[WEATHER, TIME], messages=messages
    )
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert [(u.id, u.input) for u in uses] == [
        ("call_W1", {"city": "Oslo"}),
        ("call_T2", {"zone": "Asia/Tokyo"}),
    ]
    messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_W1", "content": "-3C, snow"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_T2",
                    "content": [{"type": "text", "text": "21:00"}],
                },
            ],
        }
    )
    second = client.messages.create(
        model=route, max_tokens=300, tools=[WEATHER, TIME], messages=messages
    )
    assert second.content[0].text == "Cold in Oslo; 9pm in Tokyo."
    sent = mock.last.body["messages"]
    if route == "mock-gpt":
        assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
        calls = sent[1]["tool_calls"]
        assert [c["id"] for c in calls] == ["call_W1", "call_T2"]
        assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Oslo"}
        assert [(m["tool_call_id"], m["content"]) for m in sent[2:]] == [
            ("call_W1", "-3C, snow"),
            ("call_T2", "21:00"),
        ]
    else:
        assert sent == [json.loads(json.dumps(m)) for m in messages]  # passthrough, as sent


def test_tool_calls_finished_with_stop_still_mean_tool_use(
    stack: Stack, mock: MockUpstream
) -> None:
    """Some OpenAI-compatible servers (Ollama, Gemini) finish a tool turn with "stop";
    Claude Code acts only on stop_reason tool_use."""
    calls = [ToolUse("call_x", "get_weather", '{"city": "Rome"}')]
    mock.queue(Reply(tool_calls=calls, finish="stop"), Reply(tool_calls=calls, finish="stop"))
    client = stack.anthropic()
    message = client.messages.create(model="mock-gpt", tools=[WEATHER], **hello())
    assert message.stop_reason == "tool_use"
    with client.messages.stream(model="mock-gpt", tools=[WEATHER], **hello()) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].input == {"city": "Rome"}


# --- images and system prompts ---------------------------------------------------------


def image_blocks() -> list[dict]:
    return [
        {"type": "text", "text": "Compare these"},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/dog.jpg"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
    ]


def test_images_reach_openai_as_url_and_data_url(stack: Stack, mock: MockUpstream) -> None:
    stack.anthropic().messages.create(
        model="mock-gpt", max_tokens=100, messages=[{"role": "user", "content": image_blocks()}]
    )
    assert mock.last.body["messages"][0]["content"] == [
        {"type": "text", "text": "Compare these"},
        {"type": "image_url", "image_url": {"url": "https://example.com/dog.jpg"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
    ]


def test_system_blocks_and_mid_conversation_system(stack: Stack, mock: MockUpstream) -> None:
    stack.anthropic().messages.create(
        model="mock-gpt",
        max_tokens=100,
        system=[{"type": "text", "text": "Rule one."}, {"type": "text", "text": "Rule two."}],
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "system", "content": "From now on, answer in German."},
            {"role": "user", "content": "How are you?"},
        ],
    )
    sent = mock.last.body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "system", "user"]
    assert "Rule one." in sent[0]["content"] and "Rule two." in sent[0]["content"]
    assert sent[3]["content"] == "From now on, answer in German."


# --- count_tokens ------------------------------------------------------------------------


def test_count_tokens_uses_anthropic_upstream(stack: Stack, mock: MockUpstream) -> None:
    mock.token_count = 1234
    counted = stack.anthropic().messages.count_tokens(
        model="mock-claude", messages=[{"role": "user", "content": "count me"}], tools=[WEATHER]
    )
    assert counted.input_tokens == 1234
    seen = [s for s in mock.seen if s.path == "/v1/messages/count_tokens"]
    assert len(seen) == 1
    assert seen[0].body == {
        "model": "up-claude",
        "messages": [{"role": "user", "content": "count me"}],
        "tools": [WEATHER],
    }
    assert_credentials(seen[0], "mock-claude")


def test_count_tokens_on_openai_route_is_estimated_locally(
    stack: Stack, mock: MockUpstream
) -> None:
    short = stack.anthropic().messages.count_tokens(
        model="mock-gpt", messages=[{"role": "user", "content": "count me"}]
    )
    long = stack.anthropic().messages.count_tokens(
        model="mock-gpt", messages=[{"role": "user", "content": "count me " * 200}]
    )
    assert 0 < short.input_tokens < long.input_tokens
    assert mock.seen == []


# --- errors ----------------------------------------------------------------------------


def test_bad_key_is_authentication_error(stack: Stack, mock: MockUpstream) -> None:
    with pytest.raises(anthropic.AuthenticationError) as caught:
        stack.anthropic(key="sy-wrong").messages.create(model="mock-claude", **hello())
    assert caught.value.status_code == 401
    assert caught.value.body["error"]["type"] == "authentication_error"
    assert mock.seen == []


def test_unknown_model_is_not_found(stack: Stack) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        stack.anthropic().messages.create(model="no-such-model", **hello())
    assert caught.value.body["error"]["type"] == "not_found_error"
    assert "no-such-model" in caught.value.body["error"]["message"]


def test_wrong_field_is_bad_request_naming_it(stack: Stack, mock: MockUpstream) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        stack.anthropic().messages.create(
            model="mock-gpt",
            max_tokens=10,
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "bogus", "text": "x"}]},
            ],
        )
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "messages.1.content.0.type" in caught.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as caught:
        stack.anthropic().messages.create(
            model="mock-claude",
            max_tokens=10,
            messages=[{"role": "user", "content": "x"}],
            extra_body={"max_tokens": "many"},
        )
    assert "max_tokens" in caught.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as caught:  # Anthropic's bound, translated too
        stack.anthropic().messages.create(
            model="mock-gpt", max_tokens=0, messages=[{"role": "user", "content": "x"}]
        )
    assert "max_tokens" in caught.value.body["error"]["message"]
    assert mock.seen == []


def test_body_over_cap_is_413(tmp_path_factory: pytest.TempPathFactory) -> None:
    with start_stack(tmp_path_factory, env={"SWITCHYARD_MAX_BODY_BYTES": "2048"}) as small:
        with pytest.raises(anthropic.APIStatusError) as caught:
            small.anthropic().messages.create(
                model="mock-claude",
                max_tokens=10,
                messages=[{"role": "user", "content": "x" * 5000}],
            )
        assert caught.value.status_code == 413
        assert caught.value.body["error"]["type"] == "request_too_large"
        assert small.mock.seen == []


def anthropic_error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


def openai_error(kind: str, message: str) -> dict:
    return {"error": {"message": message, "type": kind}}


@pytest.mark.parametrize("upstream", ["gpt", "claude"])
def test_upstream_429_is_rate_limit_with_retry_after(
    stack: Stack, mock: MockUpstream, upstream: str
) -> None:
    body = (openai_error if upstream == "gpt" else anthropic_error)("rate_limit_error", "slow")
    mock.queue(Reply.failure(429, body, retry_after="11"))
    with pytest.raises(anthropic.RateLimitError) as caught:
        stack.anthropic().messages.create(model=stack.spare_route(upstream), **hello())
    assert caught.value.response.headers["retry-after"] == "11"
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert len(mock.chat_requests()) == 1


@pytest.mark.parametrize("upstream", ["gpt", "claude"])
def test_upstream_500_is_internal_server_error(
    stack: Stack, mock: MockUpstream, upstream: str
) -> None:
    body = (openai_error if upstream == "gpt" else anthropic_error)("api_error", "boom")
    mock.queue(Reply.failure(500, body))
    with pytest.raises(anthropic.InternalServerError) as caught:
        stack.anthropic().messages.create(model=stack.spare_route(upstream), **hello())
    assert caught.value.status_code == 502
    assert caught.value.body["type"] == "error"
    assert_no_secret(caught.value.response)


@pytest.mark.parametrize(("upstream", "status"), [("gpt", 529), ("claude", 529), ("gpt", 503)])
def test_upstream_overloaded_is_529(
    stack: Stack, mock: MockUpstream, upstream: str, status: int
) -> None:
    body = (openai_error if upstream == "gpt" else anthropic_error)("overloaded_error", "busy")
    mock.queue(Reply.failure(status, body))
    with pytest.raises(anthropic.APIStatusError) as caught:
        stack.anthropic().messages.create(model=stack.spare_route(upstream), **hello())
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize("route", ["dead-gpt", "dead-claude"])
def test_connection_refused_is_502(stack: Stack, route: str) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        stack.anthropic().messages.create(model=route, **hello())
    assert caught.value.status_code == 502
    assert caught.value.body["error"]["type"] == "api_error"


@pytest.mark.parametrize("upstream", ["gpt", "claude"])
@pytest.mark.parametrize("how", ["cut", "error_event"])
def test_mid_stream_failure_raises_in_the_sdk(
    stack: Stack, mock: MockUpstream, upstream: str, how: str
) -> None:
    failing = {"cut_after": 6} if how == "cut" else {"error_after": 6}
    text = "This answer will not finish because the upstream fails"
    mock.queue(Reply(text=text, **failing))
    received: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        stack.anthropic().messages.stream(model=stack.spare_route(upstream), **hello()) as stream,
    ):
        for piece in stream.text_stream:
            received.append(piece)
    assert "".join(received) and "".join(received) != text
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] in ("api_error", "overloaded_error")


def test_raw_sse_error_event_is_named_error(stack: Stack, mock: MockUpstream) -> None:
    """The in-stream error is an ``event: error`` SSE event, and nothing follows it."""
    mock.queue(Reply(text="partial answer then failure", cut_after=5))
    with httpx.stream(
        "POST",
        stack.url + "/v1/messages",
        headers={"x-api-key": stack.key, "anthropic-version": "2023-06-01"},
        json={**hello(), "model": stack.spare_route("gpt"), "stream": True},
        timeout=30,
    ) as response:
        events = response.read().decode().strip().split("\n\n")
    assert events[-1].startswith("event: error\n")
    assert not any(e.startswith("event: message_stop") for e in events)


@pytest.mark.parametrize("upstream", ["gpt", "claude"])
def test_client_gone_closes_the_upstream_stream(
    stack: Stack, mock: MockUpstream, upstream: str
) -> None:
    """A caller that hangs up mid-stream must not leave the upstream generating: the
    gateway closes its upstream request, so the mock's next writes fail."""
    mock.queue(Reply(text="word " * 200, piece=5, event_delay=0.05))  # about 10 s in all
    with stack.anthropic().messages.stream(model=stack.spare_route(upstream), **hello()) as s:
        first = next(iter(s.text_stream))
    assert first
    assert mock.abandoned.wait(timeout=5), "the upstream stream stayed open"


def test_server_log_has_no_traceback(stack: Stack) -> None:
    stack.assert_clean_log()
