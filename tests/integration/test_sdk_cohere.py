"""The official ``openai`` and ``anthropic`` SDKs against a real gateway whose routes
point at a mock Cohere v2 chat upstream (``mock_cohere``): every client dialect (chat
completions, Responses, Anthropic Messages as Claude Code sends it) in, Cohere out.
Each test asserts what the SDK got back and what reached the upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.live import running_gateway

from .conftest import Stack
from .mock_cohere import CohereReply, MockCohere, failure
from .mock_upstream import Reply, ToolUse

SECRET = "co-upstream-secret-0123456789"
SPARES = 8
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
PARIS = '{"city": "Paris"}'


def setup_code(url: str) -> str:
    """ORM setup run before the server starts (the ``cohere`` kind is not yet among the
    model's choices; saving does not validate them)."""
    return f"""
from gateway.models import Deployment, Provider, Route

def provider(name, secret):
    p = Provider(name=name, kind="cohere", base_url="{url}")
    p.set_secret(secret)
    p.save()
    return p

def route(name, provider, model, reasoning=False, **options):
    r = Route.objects.create(name=name, **{{"max_attempts": 1, **options}})
    Deployment.objects.create(
        route=r, provider=provider, model=model, max_output_tokens=4000,
        context_window=256000, supports_reasoning=reasoning, supports_vision=True,
    )

co = provider("cohere-mock", "{SECRET}")
route("co", co, "command-a-03-2025")
route("co-think", co, "command-a-reasoning-08-2025", reasoning=True)
route("co-nokey", provider("cohere-nokey", "os.environ/SWITCHYARD_TEST_UNSET_CO_KEY"), "c")
route("co-fo", co, "command-a-03-2025", fallbacks=["co"])
route("co-cw", co, "command-a-03-2025", context_window_fallbacks=["co"])
route("co-retry", co, "command-a-03-2025", max_attempts=2)
for n in range({SPARES}):
    route(f"co-x{{n}}", co, "command-a-03-2025")
"""


@pytest.fixture(scope="module")
def co(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    mock = MockCohere().start()
    try:
        with running_gateway(
            tmp_path_factory.mktemp("gateway"), setup=[["shell", "-c", setup_code(mock.url)]]
        ) as gw:
            yield Stack(gw=gw, mock=mock)
    finally:
        mock.stop()


@pytest.fixture
def mock(co: Stack) -> Iterator[MockCohere]:
    co.mock.reset()
    yield co.mock  # type: ignore[misc]
    co.mock.reset()


_spares = iter(range(SPARES))


def spare() -> str:
    """A route no test used yet, for errors (so failures never cool the shared one)."""
    return f"co-x{next(_spares)}"


def assert_upstream_auth(mock: MockCohere) -> None:
    seen = mock.last
    assert seen.path == "/v2/chat"
    assert seen.headers["authorization"] == f"Bearer {SECRET}"


# --- OpenAI chat completions -------------------------------------------------------------


def test_openai_text_with_system_and_usage(co: Stack, mock: MockCohere) -> None:
    mock.queue(Reply(text="Bonjour!", input_tokens=12, output_tokens=3, cached_tokens=4))
    raw = co.openai().chat.completions.with_raw_response.create(
        model="co",
        messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Salut"},
            {"role": "user", "content": "Again"},
        ],
        max_tokens=64,
        temperature=0.2,
        top_p=0.8,
        stop=["END"],
        seed=5,
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Bonjour!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "co"
    assert completion.usage.prompt_tokens == 16 and completion.usage.completion_tokens == 3
    assert completion.usage.prompt_tokens_details.cached_tokens == 4
    assert_upstream_auth(mock)
    assert mock.last.body == {
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Salut"},
            {"role": "user", "content": "Again"},
        ],
        "max_tokens": 64,
        "temperature": 0.2,
        "p": 0.8,
        "stop_sequences": ["END"],
        "seed": 5,
    }
    assert SECRET not in raw.http_response.text


def test_openai_stream_with_usage(co: Stack, mock: MockCohere) -> None:
    mock.queue(Reply(text="A fairly long answer, in pieces.", input_tokens=9, output_tokens=8))
    chunks = list(
        co.openai().chat.completions.create(
            model="co",
            messages=[{"role": "user", "content": "Talk"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "A fairly long answer, in pieces."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.prompt_tokens == 9 and chunks[-1].usage.completion_tokens == 8
    assert mock.last.body["stream"] is True


def test_openai_tool_calls_and_tool_result_round_trip(co: Stack, mock: MockCohere) -> None:
    mock.queue(
        CohereReply(
            tool_plan="I will check the weather.",
            tool_calls=[ToolUse("get_weather_1", "get_weather", PARIS)],
        )
    )
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    messages: list = [{"role": "user", "content": "Weather in Paris?"}]
    client = co.openai()
    first = client.chat.completions.create(
        model="co", messages=messages, tools=tools, tool_choice="required"
    )
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls[0].id == "get_weather_1"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert message.content in (None, "")  # the plan is reasoning, not answer text
    assert mock.last.body["tool_choice"] == "REQUIRED"
    assert mock.last.body["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}
    ]

    mock.queue(Reply(text="It is 18C in Paris."))
    messages += [
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "get_weather_1", "content": "18C"},
    ]
    second = client.chat.completions.create(model="co", messages=messages, tools=tools)
    assert second.choices[0].message.content == "It is 18C in Paris."
    sent = mock.last.body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "get_weather_1"
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert sent[2] == {
        "role": "tool",
        "tool_call_id": "get_weather_1",
        "content": [{"type": "text", "text": "18C"}],
    }


def test_openai_streamed_parallel_tool_calls(co: Stack, mock: MockCohere) -> None:
    mock.queue(
        CohereReply(
            tool_plan="Two lookups.",
            tool_calls=[
                ToolUse("w1", "get_weather", PARIS),
                ToolUse("w2", "get_weather", '{"city": "Rome"}'),
            ],
        )
    )
    stream = co.openai().chat.completions.create(
        model="co",
        messages=[{"role": "user", "content": "Paris and Rome?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}],
        stream=True,
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"id": None, "args": ""})
                entry["id"] = delta.id or entry["id"]
                entry["args"] += delta.function.arguments or ""
            finish = choice.finish_reason or finish
    assert [c["id"] for c in calls.values()] == ["w1", "w2"]
    assert [json.loads(c["args"])["city"] for c in calls.values()] == ["Paris", "Rome"]
    assert finish == "tool_calls"


def test_openai_image_and_json_schema(co: Stack, mock: MockCohere) -> None:
    mock.queue(Reply(text='{"animal": "cat"}'))
    schema = {
        "type": "object",
        "properties": {"animal": {"type": "string"}},
        "required": ["animal"],
    }
    completion = co.openai().chat.completions.create(
        model="co",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What animal?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    assert json.loads(completion.choices[0].message.content) == {"animal": "cat"}
    body = mock.last.body
    assert body["messages"][0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}"},
    }
    assert body["response_format"] == {"type": "json_object", "json_schema": schema}


def test_openai_reasoning_effort_and_reasoning_content(co: Stack, mock: MockCohere) -> None:
    mock.queue(Reply(reasoning="17*23: 340+51.", text="391", finish="MAX_TOKENS"))
    completion = co.openai().chat.completions.create(
        model="co-think",
        messages=[{"role": "user", "content": "17*23?"}],
        reasoning_effort="low",
    )
    message = completion.choices[0].message
    assert message.content == "391"
    assert (message.model_extra or {}).get("reasoning_content") == "17*23: 340+51."
    assert completion.choices[0].finish_reason == "length"
    assert mock.last.body["thinking"] == {"type": "enabled", "token_budget": 4096}


def test_openai_errors_in_the_openai_envelope(co: Stack, mock: MockCohere) -> None:
    client = co.openai()
    ask = {"messages": [{"role": "user", "content": "x"}]}
    mock.queue(failure(429, "You are past the per minute request limit"))
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model=spare(), **ask)
    assert "per minute request limit" in limited.value.message

    mock.queue(failure(400, "invalid request: message must not be empty in a turn"))
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=spare(), **ask)
    assert "must not be empty" in bad.value.message

    # the upstream refusing the gateway's key is never the caller's 401
    mock.queue(failure(498, "invalid api token"))
    with pytest.raises(openai.APIStatusError) as rejected:
        client.chat.completions.create(model=spare(), **ask)
    assert rejected.value.status_code == 502
    assert SECRET not in rejected.value.response.text


def test_missing_key_is_a_configuration_error_without_an_upstream_call(
    co: Stack, mock: MockCohere
) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        co.openai().chat.completions.create(
            model="co-nokey", messages=[{"role": "user", "content": "x"}]
        )
    assert "SWITCHYARD_TEST_UNSET_CO_KEY" in caught.value.response.text
    assert mock.chat_requests() == []


def test_openai_stream_error_after_start_is_an_in_stream_error(co: Stack, mock: MockCohere) -> None:
    mock.queue(Reply(text="Partial answer that fails", error_after=3))
    stream = co.openai().chat.completions.create(
        model=spare(), messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIError) as caught:
        for _ in stream:
            pass
    assert "internal model error" in str(caught.value)


def test_errors_follow_the_retry_and_failover_rules(co: Stack, mock: MockCohere) -> None:
    client = co.openai()
    ask = {"messages": [{"role": "user", "content": "x"}]}
    # a rejected key (498) is not retried on its deployment: the route's fallback answers
    mock.queue(failure(498, "invalid api token"), Reply(text="from the fallback"))
    completion = client.chat.completions.create(model="co-fo", **ask)
    assert completion.choices[0].message.content == "from the fallback"
    assert len(mock.chat_requests()) == 2

    # an over-long prompt goes to the context-window fallback at once
    mock.reset()
    mock.queue(
        failure(400, "too many tokens: total number of tokens in the prompt cannot exceed 4081"),
        Reply(text="from the big model"),
    )
    completion = client.chat.completions.create(model="co-cw", **ask)
    assert completion.choices[0].message.content == "from the big model"

    # a rate limit is retried on the same route
    mock.reset()
    mock.queue(
        Reply(status=429, error={"message": "slow down"}, headers={"retry-after": "0"}),
        Reply(text="second try"),
    )
    completion = client.chat.completions.create(model="co-retry", **ask)
    assert completion.choices[0].message.content == "second try"
    assert len(mock.chat_requests()) == 2


# --- OpenAI Responses ----------------------------------------------------------------------


def test_responses_text_and_function_call(co: Stack, mock: MockCohere) -> None:
    client = co.openai()
    mock.queue(Reply(text="Hi from Cohere.", input_tokens=5, output_tokens=4))
    response = client.responses.create(model="co", instructions="Be brief.", input="Hello")
    assert response.output_text == "Hi from Cohere."
    assert response.usage.input_tokens == 5 and response.usage.output_tokens == 4
    assert mock.last.body["messages"][0] == {"role": "system", "content": "Be brief."}

    mock.queue(
        CohereReply(tool_plan="Look it up.", tool_calls=[ToolUse("c1", "get_weather", PARIS)])
    )
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER}]
    events = list(client.responses.create(model="co", input="Weather?", tools=tools, stream=True))
    done = [e for e in events if e.type == "response.completed"][0].response
    calls = [item for item in done.output if item.type == "function_call"]
    assert calls[0].call_id == "c1" and json.loads(calls[0].arguments) == {"city": "Paris"}

    mock.queue(Reply(text="18C."))
    follow = client.responses.create(
        model="co",
        input=[
            {"role": "user", "content": "Weather?"},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": PARIS},
            {"type": "function_call_output", "call_id": "c1", "output": "18C"},
        ],
        tools=tools,
    )
    assert follow.output_text == "18C."
    assert mock.last.body["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": [{"type": "text", "text": "18C"}],
    }


def test_responses_image_json_reasoning_stream_and_errors(co: Stack, mock: MockCohere) -> None:
    client = co.openai()
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    mock.queue(Reply(reasoning="One dot.", text='{"n": 1}', input_tokens=30, output_tokens=6))
    events = list(
        client.responses.create(
            model="co-think",
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "How many dots?"},
                        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                    ],
                }
            ],
            text={"format": {"type": "json_schema", "name": "count", "schema": schema}},
            reasoning={"effort": "medium"},
            stream=True,
        )
    )
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert json.loads(text) == {"n": 1}
    done = [e for e in events if e.type == "response.completed"][0].response
    assert done.usage.input_tokens == 30 and done.usage.output_tokens == 6
    body = mock.last.body
    assert body["messages"][0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}"},
    }
    assert body["response_format"] == {"type": "json_object", "json_schema": schema}
    assert body["thinking"] == {"type": "enabled", "token_budget": 16384}

    mock.queue(failure(429, "trial key limited to 20 calls / minute"))
    with pytest.raises(openai.RateLimitError) as limited:
        client.responses.create(model=spare(), input="x")
    assert "20 calls / minute" in limited.value.message


# --- Anthropic Messages (the Claude Code path) ------------------------------------------------


def test_anthropic_text_with_system(co: Stack, mock: MockCohere) -> None:
    mock.queue(Reply(text="Hello, human.", input_tokens=20, output_tokens=4))
    message = co.anthropic().messages.create(
        model="co",
        max_tokens=300,
        system=[{"type": "text", "text": "You are Claude Code."}],
        messages=[{"role": "user", "content": "Hi"}],
        extra_body={"top_k": 30},
    )
    assert message.content[0].text == "Hello, human."
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 20 and message.usage.output_tokens == 4
    body = mock.last.body
    assert body["messages"][0] == {"role": "system", "content": "You are Claude Code."}
    assert body["max_tokens"] == 300 and body["k"] == 30
    assert_upstream_auth(mock)


def test_anthropic_cached_usage_and_the_stop_sequence_named(co: Stack, mock: MockCohere) -> None:
    """Cohere bills 5 uncached prompt tokens and reports 7 cached: an Anthropic client
    reads input_tokens 5 beside cache_read_input_tokens 7 (it read 0 before), and the
    one stop sequence asked for is named when Cohere says STOP_SEQUENCE."""
    mock.queue(
        Reply(text="1, 2, 3", input_tokens=5, output_tokens=4, cached_tokens=7,
              finish="STOP_SEQUENCE")
    )  # fmt: skip
    message = co.anthropic().messages.create(
        model="co",
        max_tokens=50,
        stop_sequences=[", 4"],
        messages=[{"role": "user", "content": "Count"}],
    )
    assert message.usage.input_tokens == 5 and message.usage.cache_read_input_tokens == 7
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == ", 4"
    assert mock.last.body["stop_sequences"] == [", 4"]
    mock.queue(Reply(text="Bonjour", input_tokens=5, output_tokens=2, cached_tokens=7))
    completion = co.openai().chat.completions.create(
        model="co", messages=[{"role": "user", "content": "Hi"}]
    )
    assert completion.usage.prompt_tokens == 12
    assert completion.usage.prompt_tokens_details.cached_tokens == 7


def test_anthropic_streamed_tool_use_round_trip(co: Stack, mock: MockCohere) -> None:
    mock.queue(
        CohereReply(
            tool_plan="I'll read the file.", tool_calls=[ToolUse("r1", "read", '{"path": "a.py"}')]
        )
    )
    tools = [
        {
            "name": "read",
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
        }
    ]
    client = co.anthropic()
    with client.messages.stream(
        model="co",
        max_tokens=1000,
        tools=tools,
        messages=[{"role": "user", "content": "Open a.py"}],
    ) as stream:
        final = stream.get_final_message()
    kinds = [block.type for block in final.content]
    assert kinds == ["thinking", "tool_use"]
    assert final.content[0].thinking == "I'll read the file."
    assert final.content[1].id == "r1" and final.content[1].input == {"path": "a.py"}
    assert final.stop_reason == "tool_use"

    mock.queue(Reply(text="It prints hello."))
    reply = client.messages.create(
        model="co",
        max_tokens=1000,
        tools=tools,
        messages=[
            {"role": "user", "content": "Open a.py"},
            {"role": "assistant", "content": [b.model_dump() for b in final.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "r1", "content": "print('hello')"},
                    {"type": "text", "text": "What does it do?"},
                ],
            },
        ],
    )
    assert reply.content[0].text == "It prints hello."
    sent = mock.last.body["messages"]
    assert sent[1]["tool_plan"] == "I'll read the file."  # the plan goes back as a plan
    assert sent[1]["tool_calls"][0]["id"] == "r1"
    assert sent[2] == {
        "role": "tool",
        "tool_call_id": "r1",
        "content": [{"type": "text", "text": "print('hello')"}],
    }
    assert sent[3] == {"role": "user", "content": "What does it do?"}


def test_anthropic_thinking_image_and_max_tokens(co: Stack, mock: MockCohere) -> None:
    mock.queue(Reply(reasoning="A one-pixel image.", text="A dot", finish="MAX_TOKENS"))
    with co.anthropic().messages.stream(
        model="co-think",
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                    {"type": "text", "text": "Describe"},
                ],
            }
        ],
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "A one-pixel image."
    assert final.content[1].text == "A dot"
    assert final.stop_reason == "max_tokens"
    body = mock.last.body
    assert body["thinking"] == {"type": "enabled", "token_budget": 1024}
    assert body["messages"][0]["content"][0] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}"},
    }


def test_anthropic_errors_in_the_anthropic_envelope(co: Stack, mock: MockCohere) -> None:
    client = co.anthropic()
    ask = {"max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    mock.queue(failure(429, "trial token rate limit exceeded"))
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model=spare(), **ask)
    assert "trial token rate limit" in limited.value.message

    mock.queue(failure(503, "service unavailable"))
    with pytest.raises(anthropic.APIStatusError) as unavailable:
        client.messages.create(model=spare(), **ask)
    assert unavailable.value.status_code >= 500

    mock.queue(Reply(text="cut short here", cut_after=3))
    with pytest.raises(anthropic.APIError), client.messages.stream(model=spare(), **ask) as stream:
        stream.get_final_message()
    co.assert_clean_log()
