"""The official ``openai`` (Chat Completions) and ``anthropic`` SDKs against a live
gateway whose routes point at an OpenAI Responses API upstream (a mock on 127.0.0.1).
Every test asserts what the SDK got back and what reached the upstream.

Routes (``max_attempts=1``): ``resp`` (reasoning deployment, max output 8192),
``resp-plain`` (no reasoning), ``resp-strict`` (drop_params off), ``resp-x<N>`` spares
for failures (so cooldowns never touch the shared routes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import count

import anthropic
import openai
import pytest

from tests.live import MASTER_KEY, running_gateway

from .mock_responses_upstream import FunctionCall, MockResponsesUpstream, ResponsesReply

SECRET = "sk-upstream-responses-abcdef0123"
SPARES = 6
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
ENCRYPTED = "gAAAAABmock-encrypted-reasoning_0123456789=="
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def setup_code(mock_url: str) -> str:
    return f"""
from gateway.models import Deployment, Provider, Route

p = Provider(name="mock-responses", kind="openai_responses", base_url="{mock_url}/v1")
p.set_secret("{SECRET}")
p.save()

def route(name, reasoning=True, drop=True, model="o3-pro"):
    r = Route.objects.create(name=name, max_attempts=1, drop_params=drop)
    Deployment.objects.create(
        route=r, provider=p, model=model, max_output_tokens=8192,
        context_window=200000, supports_reasoning=reasoning,
    )

route("resp")
route("resp-plain", reasoning=False, model="gpt-4.1")  # the catalog: takes temperature
route("resp-strict", drop=False)
for n in range({SPARES}):
    route(f"resp-x{{n}}")
"""


class Stack:
    def __init__(self, url: str, mock: MockResponsesUpstream, log) -> None:  # type: ignore[no-untyped-def]
        self.url, self.mock, self.log = url, mock, log
        self._spares = count()

    def spare(self) -> str:
        n = next(self._spares)
        assert n < SPARES, "raise SPARES"
        return f"resp-x{n}"

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=MASTER_KEY, max_retries=0)

    def anthropic(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=MASTER_KEY, max_retries=0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    mock = MockResponsesUpstream().start()
    try:
        with running_gateway(
            tmp_path_factory.mktemp("gateway"),
            seed=False,
            setup=[["shell", "-c", setup_code(mock.url)]],
        ) as gw:
            yield Stack(gw.url, mock, gw.log)
            assert "Traceback" not in gw.log(), gw.log()[-4000:]
    finally:
        mock.stop()


@pytest.fixture
def mock(stack: Stack) -> Iterator[MockResponsesUpstream]:
    stack.mock.reset()
    yield stack.mock
    stack.mock.reset()


def assert_upstream_auth(mock: MockResponsesUpstream, reasoning: bool) -> None:
    seen = mock.last
    assert seen.path == "/v1/responses"
    assert seen.headers["authorization"] == f"Bearer {SECRET}"
    assert MASTER_KEY not in json.dumps(seen.headers) + json.dumps(seen.body)
    assert seen.body["store"] is False
    # encrypted reasoning is asked of reasoning deployments only (others answer 400)
    assert ("reasoning.encrypted_content" in seen.body.get("include", [])) is reasoning


# --- Chat Completions clients ----------------------------------------------------------


def test_chat_text_with_system_prompt(stack: Stack, mock: MockResponsesUpstream) -> None:
    mock.queue(ResponsesReply(text="Hi there!", input_tokens=30, cached_tokens=10, output_tokens=4))
    completion = stack.openai().chat.completions.create(
        model="resp-plain",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello"},
        ],
        max_tokens=100,
        temperature=0.2,
    )
    assert completion.choices[0].message.content == "Hi there!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "resp-plain"
    assert completion.usage.prompt_tokens == 30 and completion.usage.completion_tokens == 4
    assert completion.usage.prompt_tokens_details.cached_tokens == 10
    assert_upstream_auth(mock, reasoning=False)
    body = mock.last.body
    assert body["model"] == "gpt-4.1" and body["instructions"] == "Be brief."
    assert body["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Say hello"}],
        }
    ]
    assert body["max_output_tokens"] == 100 and body["temperature"] == 0.2


def test_chat_streaming_text_and_usage(stack: Stack, mock: MockResponsesUpstream) -> None:
    mock.queue(ResponsesReply(text="Streaming works fine.", output_tokens=5, piece=3))
    stream = stack.openai().chat.completions.create(
        model="resp",
        messages=[{"role": "user", "content": "Stream"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streaming works fine."
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    assert chunks[-1].usage.completion_tokens == 5 and chunks[-1].usage.prompt_tokens == 21
    assert mock.last.body["stream"] is True


def test_chat_multi_turn_and_tool_round_trip_streamed(
    stack: Stack, mock: MockResponsesUpstream
) -> None:
    client = stack.openai()
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
    ]
    mock.queue(
        ResponsesReply(
            text="",
            calls=[
                FunctionCall("call_paris", "get_weather", '{"city": "Paris"}'),
                FunctionCall("call_tokyo", "get_weather", '{"city": "Tokyo"}'),
            ],
            piece=2,
        )
    )
    messages: list = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! Ask me."},
        {"role": "user", "content": "Weather in Paris and Tokyo?"},
    ]
    stream = client.chat.completions.create(
        model="resp-plain", messages=messages, tools=tools, stream=True
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for call in choice.delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
            entry["id"] = call.id or entry["id"]
            if call.function:
                entry["name"] = call.function.name or entry["name"]
                entry["arguments"] += call.function.arguments or ""
    assert finish == "tool_calls"
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("call_paris", "get_weather", {"city": "Paris"}),
        ("call_tokyo", "get_weather", {"city": "Tokyo"}),
    ]
    first = mock.last.body
    assert first["tools"] == [
        {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": False}
    ]
    assert first["input"][1] == {
        "type": "message",
        "role": "assistant",
        "content": "Hello! Ask me.",
    }

    mock.queue(ResponsesReply(text="Paris 18C, Tokyo 25C."))
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in calls.values()
            ],
        },
        {"role": "tool", "tool_call_id": "call_paris", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_tokyo", "content": "25C"},
    ]
    answer = client.chat.completions.create(model="resp-plain", messages=messages, tools=tools)
    assert answer.choices[0].message.content == "Paris 18C, Tokyo 25C."
    items = mock.last.body["input"][3:]
    assert [i["type"] for i in items] == [
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]
    assert items[0]["call_id"] == "call_paris" and json.loads(items[0]["arguments"]) == {
        "city": "Paris"
    }
    assert items[3] == {"type": "function_call_output", "call_id": "call_tokyo", "output": "25C"}


def test_chat_image_input(stack: Stack, mock: MockResponsesUpstream) -> None:
    mock.queue(ResponsesReply(text="A red pixel."))
    stack.openai().chat.completions.create(
        model="resp-plain",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
                ],
            }
        ],
    )
    content = mock.last.body["input"][0]["content"]
    assert content[1] == {
        "type": "input_image",
        "image_url": f"data:image/png;base64,{PNG_B64}",
        "detail": "auto",
    }


def test_chat_json_output(stack: Stack, mock: MockResponsesUpstream) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "additionalProperties": False,
    }
    mock.queue(ResponsesReply(text='{"name": "Ada"}'))
    completion = stack.openai().chat.completions.create(
        model="resp-plain",
        messages=[{"role": "user", "content": "Who wrote the first program?"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema, "strict": True},
        },
    )
    assert json.loads(completion.choices[0].message.content) == {"name": "Ada"}
    assert mock.last.body["text"] == {
        "format": {"type": "json_schema", "name": "person", "schema": schema, "strict": True}
    }


def test_chat_reasoning_summary_and_tokens(stack: Stack, mock: MockResponsesUpstream) -> None:
    mock.queue(
        ResponsesReply(
            text="42.",
            reasoning="Thinking hard.",
            encrypted=ENCRYPTED,
            reasoning_tokens=64,
            output_tokens=70,
        )
    )
    completion = stack.openai().chat.completions.create(
        model="resp", messages=[{"role": "user", "content": "Answer?"}], reasoning_effort="high"
    )
    message = completion.choices[0].message
    assert message.content == "42."
    assert message.model_extra["reasoning_content"] == "Thinking hard."
    assert completion.usage.completion_tokens_details.reasoning_tokens == 64
    assert mock.last.body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert "temperature" not in mock.last.body


def test_chat_length_stop_reason(stack: Stack, mock: MockResponsesUpstream) -> None:
    mock.queue(ResponsesReply(text="Once upon a", incomplete="max_output_tokens"))
    completion = stack.openai().chat.completions.create(
        model="resp-plain", messages=[{"role": "user", "content": "Story"}], max_tokens=5
    )
    assert completion.choices[0].finish_reason == "length"


def test_chat_errors(stack: Stack, mock: MockResponsesUpstream) -> None:
    client = stack.openai()
    mock.queue(
        ResponsesReply(
            status=429,
            error={
                "error": {
                    "message": "Rate limit reached for o3-pro",
                    "type": "requests",
                    "code": "rate_limit_exceeded",
                }
            },
        )
    )
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(
            model=stack.spare(), messages=[{"role": "user", "content": "x"}]
        )
    assert "Rate limit reached" in str(limited.value) and SECRET not in str(limited.value)
    mock.queue(
        ResponsesReply(
            status=400,
            error={
                "error": {
                    "message": "Your input exceeds the context window of this model.",
                    "type": "invalid_request_error",
                    "param": "input",
                    "code": "context_length_exceeded",
                }
            },
        )
    )
    with pytest.raises(openai.BadRequestError, match="context window"):
        client.chat.completions.create(
            model=stack.spare(), messages=[{"role": "user", "content": "x"}]
        )
    # a stream whose response fails before any output: an HTTP error, not a broken stream
    mock.queue(
        ResponsesReply(
            fail_before_output=True, error={"code": "rate_limit_exceeded", "message": "TPM reached"}
        )
    )
    with pytest.raises(openai.RateLimitError, match="TPM reached"):
        list(
            client.chat.completions.create(
                model=stack.spare(), messages=[{"role": "user", "content": "x"}], stream=True
            )
        )


def test_chat_stop_is_cut_by_the_gateway(stack: Stack, mock: MockResponsesUpstream) -> None:
    """The Responses API has no stop sequences (the mock refuses ``stop`` as the real
    service does): the gateway cuts at the first one, streamed too, on any route."""
    mock.queue(ResponsesReply(text="one, two, three END four"))
    completion = stack.openai().chat.completions.create(
        model="resp-strict", messages=[{"role": "user", "content": "x"}], stop=["END"]
    )
    assert "stop" not in mock.last.body
    assert completion.choices[0].message.content == "one, two, three "
    assert completion.choices[0].finish_reason == "stop"
    mock.queue(ResponsesReply(text="one, two, three END four"))
    with stack.anthropic().messages.stream(
        model="resp-plain",
        max_tokens=100,
        stop_sequences=["three E", "four"],
        messages=[{"role": "user", "content": "x"}],
    ) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == "one, two, "
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "three E"


def test_chat_max_tokens_below_the_floor(stack: Stack, mock: MockResponsesUpstream) -> None:
    """Asked for 2 tokens: the upstream gets its minimum of 16, the caller 2 tokens and
    finish_reason length (it got 16 tokens and "stop" before)."""
    mock.queue(ResponsesReply(text="Hello there, how are you today?"))
    completion = stack.openai().chat.completions.create(
        model="resp-plain", messages=[{"role": "user", "content": "x"}], max_tokens=2
    )
    assert mock.last.body["max_output_tokens"] == 16
    content = completion.choices[0].message.content
    # cut by the gateway's tokenizer ("Hello", " there"; characters/4 while it loads)
    assert content.startswith("Hello") and "Hello there, how".startswith(content)
    assert completion.choices[0].finish_reason == "length"


# --- Anthropic clients (Claude Code) ---------------------------------------------------


def test_anthropic_text_with_system(stack: Stack, mock: MockResponsesUpstream) -> None:
    mock.queue(
        ResponsesReply(
            text="Hello, Claude client.", input_tokens=40, cached_tokens=15, output_tokens=6
        )
    )
    message = stack.anthropic().messages.create(
        model="resp",
        max_tokens=256,
        system="You are terse.",
        messages=[{"role": "user", "content": "Say hello"}],
    )
    assert message.content[0].text == "Hello, Claude client."
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 25 and message.usage.cache_read_input_tokens == 15
    assert message.usage.output_tokens == 6
    assert_upstream_auth(mock, reasoning=True)
    assert mock.last.body["instructions"] == "You are terse."
    assert mock.last.body["max_output_tokens"] == 256


def test_anthropic_streamed_thinking_and_tool_use_round_trip_carries_reasoning(
    stack: Stack, mock: MockResponsesUpstream
) -> None:
    """Claude Code's loop: thinking + tool_use streamed, then the whole assistant turn
    echoed back with a tool_result. The reasoning item must reach OpenAI again with its
    id, summary and encrypted content (OpenAI verifies the content against its item)."""
    client = stack.anthropic()
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]
    mock.queue(
        ResponsesReply(
            text="Let me check.",
            reasoning="I should call the weather tool.",
            encrypted=ENCRYPTED,
            reasoning_id="rs_roundtrip01",
            calls=[FunctionCall("call_w1", "get_weather", '{"city": "Paris"}')],
            piece=3,
        )
    )
    ask = {"role": "user", "content": "Weather in Paris?"}
    with client.messages.stream(
        model="resp",
        max_tokens=16000,
        thinking={"type": "enabled", "budget_tokens": 8000},
        tools=tools,
        messages=[ask],
    ) as stream:
        final = stream.get_final_message()
    kinds = [block.type for block in final.content]
    assert kinds == ["thinking", "text", "tool_use"]
    assert final.content[0].thinking == "I should call the weather tool."
    assert final.content[2].id == "call_w1" and final.content[2].input == {"city": "Paris"}
    assert final.stop_reason == "tool_use"
    assert mock.last.body["reasoning"] == {"effort": "medium", "summary": "auto"}

    mock.queue(ResponsesReply(text="It is 18C in Paris."))
    answer = client.messages.create(
        model="resp",
        max_tokens=16000,
        thinking={"type": "enabled", "budget_tokens": 8000},
        tools=tools,
        messages=[
            ask,
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in final.content],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "call_w1", "content": "18C"}],
            },
        ],
    )
    assert answer.content[-1].text == "It is 18C in Paris."
    assert mock.last.body["input"][1:] == [
        {
            "type": "reasoning",
            "id": "rs_roundtrip01",
            "summary": [{"type": "summary_text", "text": "I should call the weather tool."}],
            "encrypted_content": ENCRYPTED,
        },
        {"type": "message", "role": "assistant", "content": "Let me check."},
        {
            "type": "function_call",
            "call_id": "call_w1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_w1", "output": "18C"},
    ]


def test_anthropic_summaryless_reasoning_round_trips_as_redacted_thinking(
    stack: Stack, mock: MockResponsesUpstream
) -> None:
    client = stack.anthropic()
    mock.queue(ResponsesReply(text="Done.", encrypted=ENCRYPTED, reasoning_id="rs_hidden01"))
    first = client.messages.create(
        model="resp", max_tokens=1000, messages=[{"role": "user", "content": "Go"}]
    )
    assert [b.type for b in first.content] == ["redacted_thinking", "text"]
    mock.queue(ResponsesReply(text="Again."))
    client.messages.create(
        model="resp",
        max_tokens=1000,
        messages=[
            {"role": "user", "content": "Go"},
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in first.content],
            },
            {"role": "user", "content": "Once more"},
        ],
    )
    assert mock.last.body["input"][1] == {
        "type": "reasoning",
        "id": "rs_hidden01",
        "summary": [],
        "encrypted_content": ENCRYPTED,
    }


def test_anthropic_stream_of_summaryless_reasoning_is_a_redacted_block(
    stack: Stack, mock: MockResponsesUpstream
) -> None:
    mock.queue(ResponsesReply(text="Done.", encrypted=ENCRYPTED, reasoning_id="rs_hidden02"))
    with stack.anthropic().messages.stream(
        model="resp", max_tokens=1000, messages=[{"role": "user", "content": "Go"}]
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["redacted_thinking", "text"]
    assert final.content[0].data == "openai-reasoning:item:rs_hidden02:" + ENCRYPTED


def test_anthropic_image_and_max_tokens_stop(stack: Stack, mock: MockResponsesUpstream) -> None:
    mock.queue(ResponsesReply(text="A pix", incomplete="max_output_tokens"))
    message = stack.anthropic().messages.create(
        model="resp",
        max_tokens=3,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                    },
                    {"type": "text", "text": "Describe"},
                ],
            }
        ],
    )
    assert message.stop_reason == "max_tokens"
    assert (
        mock.last.body["input"][0]["content"][0]["image_url"] == f"data:image/png;base64,{PNG_B64}"
    )


def test_anthropic_json_output(stack: Stack, mock: MockResponsesUpstream) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "additionalProperties": False,
    }
    mock.queue(ResponsesReply(text='{"name": "Ada"}'))
    message = stack.anthropic().messages.create(
        model="resp",
        max_tokens=200,
        messages=[{"role": "user", "content": "Who wrote the first program?"}],
        extra_body={"output_config": {"format": {"type": "json_schema", "schema": schema}}},
    )
    assert json.loads(message.content[0].text) == {"name": "Ada"}
    assert mock.last.body["text"]["format"]["schema"] == schema


def test_anthropic_errors_in_its_own_envelope(stack: Stack, mock: MockResponsesUpstream) -> None:
    client = stack.anthropic()
    mock.queue(
        ResponsesReply(
            status=429, error={"error": {"message": "Slow down", "code": "rate_limit_exceeded"}}
        )
    )
    with pytest.raises(anthropic.RateLimitError, match="Slow down"):
        client.messages.create(
            model=stack.spare(), max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    # an error after the text: the stream ends with Anthropic's in-stream error event
    mock.queue(ResponsesReply(text="Partial answer", error_after_text=True))
    texts: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError, match="mock stream error"),
        client.messages.stream(
            model=stack.spare(), max_tokens=10, messages=[{"role": "user", "content": "x"}]
        ) as stream,
    ):
        for event in stream:
            if event.type == "content_block_delta":
                texts.append(event.delta.text)
    assert "".join(texts) == "Partial answer"


# --- Responses clients (translated: the client half is stateless) ----------------------


def test_responses_client_text_and_stream(stack: Stack, mock: MockResponsesUpstream) -> None:
    client = stack.openai()
    mock.queue(ResponsesReply(text="Plain answer.", output_tokens=3))
    response = client.responses.create(model="resp-plain", instructions="Be kind.", input="Hi")
    assert response.output_text == "Plain answer."
    assert response.usage.output_tokens == 3
    assert mock.last.body["instructions"] == "Be kind." and mock.last.body["store"] is False

    mock.queue(ResponsesReply(text="Streamed answer.", piece=2))
    with client.responses.stream(model="resp-plain", input="Hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Streamed answer." and final.output_text == "Streamed answer."


def test_responses_client_reasoning_and_tool_round_trip(
    stack: Stack, mock: MockResponsesUpstream
) -> None:
    client = stack.openai()
    tools = [
        {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": False}
    ]
    mock.queue(
        ResponsesReply(
            text="",
            reasoning="Need weather.",
            encrypted=ENCRYPTED,
            reasoning_id="rs_fromresp01",
            calls=[FunctionCall("call_r1", "get_weather", '{"city": "Oslo"}')],
        )
    )
    first = client.responses.create(
        model="resp", input="Weather in Oslo?", tools=tools, reasoning={"effort": "low"}
    )
    kinds = [item.type for item in first.output]
    assert kinds == ["reasoning", "function_call"]
    call = first.output[1]
    assert call.call_id == "call_r1" and json.loads(call.arguments) == {"city": "Oslo"}

    mock.queue(ResponsesReply(text="Oslo: 5C."))
    second = client.responses.create(
        model="resp",
        tools=tools,
        reasoning={"effort": "low"},
        input=[
            {"role": "user", "content": "Weather in Oslo?"},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": "call_r1", "output": "5C"},
        ],
    )
    assert second.output_text == "Oslo: 5C."
    assert mock.last.body["input"][1:] == [
        {
            "type": "reasoning",
            "id": "rs_fromresp01",
            "summary": [{"type": "summary_text", "text": "Need weather."}],
            "encrypted_content": ENCRYPTED,
        },
        {
            "type": "function_call",
            "call_id": "call_r1",
            "name": "get_weather",
            "arguments": '{"city":"Oslo"}',
        },
        {"type": "function_call_output", "call_id": "call_r1", "output": "5C"},
    ]


def test_responses_client_stream_names_the_function_when_its_arguments_are_done(
    stack: Stack, mock: MockResponsesUpstream
) -> None:
    """``response.function_call_arguments.done`` carries ``name`` as OpenAI's does: the
    upstream's event is re-encoded by the gateway, which must not drop it."""
    client = stack.openai()
    tools = [
        {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": False}
    ]
    mock.queue(
        ResponsesReply(text="", calls=[FunctionCall("call_n1", "get_weather", '{"city": "Rome"}')])
    )
    with client.responses.stream(model="resp-plain", input="Rome?", tools=tools) as stream:
        done = [e for e in stream if e.type == "response.function_call_arguments.done"]
        final = stream.get_final_response()
    (event,) = done
    assert event.to_dict()["name"] == "get_weather"
    assert json.loads(event.arguments) == {"city": "Rome"}
    assert final.output[0].type == "function_call" and final.output[0].name == "get_weather"


@pytest.mark.parametrize("stream", [False, True])
def test_chat_client_tool_turn_replays_the_reasoning_item_with_its_id(
    stack: Stack, mock: MockResponsesUpstream, stream: bool
) -> None:
    """An OpenAI chat client cannot carry encrypted reasoning: the ledger restores it on
    the turn after the tool call, and the item goes back with the id it was issued with
    (without it OpenAI answers 400 "The encrypted content for item None could not be
    verified")."""
    client = stack.openai()
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
    ]
    call_id = f"call_led{int(stream)}"
    mock.queue(
        ResponsesReply(
            text="",
            reasoning="Weather needs the tool.",
            encrypted=ENCRYPTED,
            reasoning_id=f"rs_ledger{int(stream)}",
            calls=[FunctionCall(call_id, "get_weather", '{"city": "Lima"}')],
        )
    )
    ask = {"role": "user", "content": "Weather in Lima?"}
    if stream:
        chunks = client.chat.completions.create(
            model="resp", messages=[ask], tools=tools, reasoning_effort="low", stream=True
        )
        names = [
            c.function.name
            for chunk in chunks
            for choice in chunk.choices
            for c in choice.delta.tool_calls or []
            if c.function and c.function.name
        ]
        assert names == ["get_weather"]
    else:
        first = client.chat.completions.create(
            model="resp", messages=[ask], tools=tools, reasoning_effort="low"
        )
        assert first.choices[0].message.tool_calls[0].id == call_id
    mock.queue(ResponsesReply(text="Lima: 19C."))
    answer = client.chat.completions.create(
        model="resp",
        tools=tools,
        reasoning_effort="low",
        messages=[
            ask,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Lima"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": "19C"},
        ],
    )
    assert answer.choices[0].message.content == "Lima: 19C."
    (reasoning,) = [i for i in mock.last.body["input"] if i["type"] == "reasoning"]
    assert reasoning["id"] == f"rs_ledger{int(stream)}"
    assert reasoning["encrypted_content"] == ENCRYPTED


def test_mock_refuses_reasoning_replayed_without_its_id(
    stack: Stack, mock: MockResponsesUpstream
) -> None:
    """The mock holds the gateway to what OpenAI enforces (the test above relies on it)."""
    client = stack.openai()
    mock.queue(ResponsesReply(text="", encrypted=ENCRYPTED, reasoning_id="rs_bound"))
    client.responses.create(model="resp", input="Hi", reasoning={"effort": "low"})
    with pytest.raises(openai.BadRequestError) as refused:
        client.with_options(base_url=stack.mock.url + "/v1").responses.create(
            model="o3-pro",
            store=False,
            input=[
                {"role": "user", "content": "Hi"},
                {"type": "reasoning", "summary": [], "encrypted_content": ENCRYPTED},
                {"role": "user", "content": "Again"},
            ],
        )
    assert refused.value.code == "invalid_encrypted_content"
    assert "for item None could not be verified" in refused.value.message
