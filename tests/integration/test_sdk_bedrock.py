"""The official ``openai`` and ``anthropic`` SDKs against a real gateway whose routes
point at a mock Bedrock runtime (``bedrock_upstream.MockBedrock``) that checks every
SigV4 signature and streams binary event-stream frames. Each client dialect in (OpenAI
chat, Responses, Anthropic Messages) -> Converse out: text, system, multi-turn,
streaming, tools with a tool-result round trip, images, JSON output, reasoning, usage,
stop reasons and errors. Every test asserts what the SDK got and what reached Bedrock."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anthropic
import httpx
import openai
import pytest

from tests.aws import ACCESS_KEY, REGION, SECRET_KEY
from tests.live import MASTER_KEY, Gateway, running_gateway

from .bedrock_upstream import BedrockReply, MockBedrock, ToolUse

ARN = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0"
NOVA = "amazon.nova-pro-v1:0"
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
SPARE = 12
WEATHER_FN = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": WEATHER_FN["function"]["parameters"],
}


def setup_code(mock_url: str) -> str:
    keys = {"aws_access_key_id": "os.environ/BEDROCK_TEST_KEY_ID", "aws_region_name": REGION}
    return f"""
from gateway.models import Deployment, Provider, Route

def provider(name, secret):
    p = Provider(name=name, kind="bedrock", base_url="{mock_url}")
    p.set_secret(secret)
    p.save()
    return p

def route(name, provider, model, params, fallbacks=()):
    r = Route.objects.create(name=name, max_attempts=1, fallbacks=list(fallbacks))
    Deployment.objects.create(
        route=r, provider=provider, model=model, max_output_tokens=8192,
        context_window=200000, supports_reasoning=True, params=params,
    )

aws = provider("aws-mock", "{SECRET_KEY}")
keys = {keys!r}
route("bedrock-claude", aws, "{ARN}", keys)
route("bedrock-nova", aws, "{NOVA}", {{**keys, "temperature": 0.25}})
route("bedrock-bad-secret", provider("aws-wrong", "not-the-secret"), "{ARN}", keys)
route("bedrock-unset-env", aws, "{ARN}", {{**keys, "aws_session_token": "os.environ/NOT_SET_X"}})
unset = {{**keys, "aws_session_token": "os.environ/NOT_SET_X"}}
route("bedrock-config-then-nova", aws, "{ARN}", unset, ["bedrock-nova"])
route("bedrock-throttled-then-nova", aws, "{ARN}", keys, ["bedrock-nova"])
for n in range({SPARE}):
    route(f"bedrock-x{{n}}", aws, "{ARN}", keys)
"""


class Stack:
    def __init__(self, gw: Gateway, mock: MockBedrock) -> None:
        self.gw, self.mock = gw, mock
        self._spare = iter(range(SPARE))

    def spare(self) -> str:
        return f"bedrock-x{next(self._spare)}"

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)

    def anthropic(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.gw.url, api_key=MASTER_KEY, max_retries=0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    mock = MockBedrock().start()
    env = {
        "BEDROCK_TEST_KEY_ID": ACCESS_KEY,
        "AWS_EC2_METADATA_DISABLED": "true",  # never look for an instance role
        # the media server of the URL tests runs on loopback, refused unless listed
        "SWITCHYARD_URL_FETCH_ALLOW": "127.0.0.1",
    }
    try:
        with running_gateway(
            tmp_path_factory.mktemp("bedrock"),
            env=env,
            setup=[["shell", "-c", setup_code(mock.url)]],
        ) as gw:
            yield Stack(gw, mock)
    finally:
        mock.stop()


@pytest.fixture
def mock(stack: Stack) -> Iterator[MockBedrock]:
    stack.mock.reset()
    yield stack.mock
    stack.mock.reset()


def assert_no_secret(response: httpx.Response) -> None:
    flat = json.dumps(dict(response.headers)) + response.text
    assert SECRET_KEY not in flat and "not-the-secret" not in flat


# --- OpenAI chat completions in --------------------------------------------------------


def test_openai_text_system_multi_turn_signed_to_the_encoded_arn(
    stack: Stack, mock: MockBedrock
) -> None:
    mock.queue(BedrockReply(text="Bonjour !", input_tokens=30, output_tokens=4, cache_read=8))
    completion = stack.openai().chat.completions.create(
        model="bedrock-claude",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Say hello in French"},
        ],
        max_tokens=50,
        temperature=0.5,
        stop=["END"],
    )
    assert completion.choices[0].message.content == "Bonjour !"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "bedrock-claude"
    assert completion.usage.prompt_tokens == 38 and completion.usage.completion_tokens == 4
    seen = mock.last
    assert seen.model_id == ARN and seen.path.count("%3A") == 6 and not seen.stream
    assert seen.body == {
        "messages": [
            {"role": "user", "content": [{"text": "Hi"}]},
            {"role": "assistant", "content": [{"text": "Hello."}]},
            {"role": "user", "content": [{"text": "Say hello in French"}]},
        ],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 50, "temperature": 0.5, "stopSequences": ["END"]},
        # Claude tells which stop sequence matched only when asked
        "additionalModelResponseFieldPaths": ["/stop_sequence"],
    }
    assert MASTER_KEY not in json.dumps(seen.headers) and mock.rejected == []


def test_openai_stream_text_with_usage_from_event_stream_frames(
    stack: Stack, mock: MockBedrock
) -> None:
    mock.queue(BedrockReply(text="Streaming from the Converse API, frame by frame.", piece=3))
    chunks = list(
        stack.openai().chat.completions.create(
            model="bedrock-nova",
            messages=[{"role": "user", "content": "Stream please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streaming from the Converse API, frame by frame."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert usage.prompt_tokens == 21 and usage.completion_tokens == 9
    assert mock.last.stream and mock.last.model_id == NOVA
    assert mock.last.body["inferenceConfig"] == {"maxTokens": 8192, "temperature": 0.25}


@pytest.mark.parametrize("stream", [False, True])
def test_openai_tool_calls_and_the_tool_result_round_trip(
    stack: Stack, mock: MockBedrock, stream: bool
) -> None:
    mock.queue(
        BedrockReply(
            text="Checking both.",
            tool_calls=[
                ToolUse("tooluse_paris01", "get_weather", {"city": "Paris", "note": 'été "hot"'}),
                ToolUse("tooluse_tokyo02", "get_weather", {"city": "Tokyo"}),
            ],
            piece=2,
        ),
        BedrockReply(text="Paris 24°C, Tokyo 18°C."),
    )
    client = stack.openai()
    question = [{"role": "user", "content": "Weather in Paris and Tokyo?"}]
    if stream:
        calls: dict[int, dict] = {}
        reasons = []
        for chunk in client.chat.completions.create(
            model="bedrock-claude", messages=question, tools=[WEATHER_FN], stream=True
        ):
            if not chunk.choices:
                continue
            reasons.append(chunk.choices[0].finish_reason)
            for call in chunk.choices[0].delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": None, "name": None, "args": ""})
                entry["id"] = entry["id"] or call.id
                entry["name"] = entry["name"] or (call.function.name if call.function else None)
                entry["args"] += (call.function.arguments or "") if call.function else ""
        got = [(c["id"], c["name"], json.loads(c["args"])) for c in calls.values()]
        assert reasons[-1] == "tool_calls"
    else:
        completion = client.chat.completions.create(
            model="bedrock-claude", messages=question, tools=[WEATHER_FN], tool_choice="required"
        )
        message = completion.choices[0].message
        got = [
            (c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls
        ]
        assert completion.choices[0].finish_reason == "tool_calls"
        assert mock.last.body["toolConfig"]["toolChoice"] == {"any": {}}
    assert got == [
        ("tooluse_paris01", "get_weather", {"city": "Paris", "note": 'été "hot"'}),
        ("tooluse_tokyo02", "get_weather", {"city": "Tokyo"}),
    ]
    assert mock.last.body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {
        "json": WEATHER_FN["function"]["parameters"]
    }
    follow_up = client.chat.completions.create(
        model="bedrock-claude",
        tools=[WEATHER_FN],
        messages=[
            *question,
            {
                "role": "assistant",
                "content": "Checking both.",
                "tool_calls": [
                    {
                        "id": i,
                        "type": "function",
                        "function": {"name": n, "arguments": json.dumps(a)},
                    }
                    for i, n, a in got
                ],
            },
            {"role": "tool", "tool_call_id": "tooluse_paris01", "content": "24°C"},
            {"role": "tool", "tool_call_id": "tooluse_tokyo02", "content": "18°C"},
        ],
    )
    assert follow_up.choices[0].message.content == "Paris 24°C, Tokyo 18°C."
    turns = mock.last.body["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"][1]["toolUse"] == {
        "toolUseId": "tooluse_paris01",
        "name": "get_weather",
        "input": {"city": "Paris", "note": 'été "hot"'},
    }
    assert turns[2]["content"] == [
        {"toolResult": {"toolUseId": "tooluse_paris01", "content": [{"text": "24°C"}]}},
        {"toolResult": {"toolUseId": "tooluse_tokyo02", "content": [{"text": "18°C"}]}},
    ]


@pytest.fixture(scope="module")
def media() -> Iterator[str]:
    """A media server on 127.0.0.1 (allowed through SWITCHYARD_URL_FETCH_ALLOW)."""
    png = base64.b64decode(PNG_B64)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_openai_images_as_bytes_and_by_url_fetched(
    stack: Stack, mock: MockBedrock, media: str
) -> None:
    client = stack.openai()
    client.chat.completions.create(
        model="bedrock-claude",
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
    expected = {"image": {"format": "png", "source": {"bytes": PNG_B64}}}
    assert mock.last.body["messages"][0]["content"][1] == expected
    # Bedrock takes no URL: the gateway fetches it and sends the bytes
    client.chat.completions.create(
        model="bedrock-claude",
        messages=[
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": f"{media}/a.png?k=1"}}],
            }
        ],
    )
    assert mock.last.body["messages"][0]["content"][0] == expected
    count = len(mock.seen)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="bedrock-claude",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": "http://169.254.169.254/latest/meta-data?t=x"},
                        }
                    ],
                }
            ],
        )
    message = caught.value.body["message"]
    assert "169.254.169.254" in message and "meta-data" not in message
    assert caught.value.body["type"] == "invalid_request_error"
    assert len(mock.seen) == count  # refused before anything was sent


def test_openai_json_output_through_a_forced_tool(stack: Stack, mock: MockBedrock) -> None:
    answer = {"city": "Paris", "temp": 24}
    mock.queue(
        BedrockReply(tool_calls=[ToolUse("tooluse_json", "switchyard_json", answer)]),
        BedrockReply(tool_calls=[ToolUse("tooluse_json", "switchyard_json", answer)], piece=3),
    )
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp": {"type": "integer"}},
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "weather", "schema": schema}}
    client = stack.openai()
    ask = [{"role": "user", "content": "Weather as JSON"}]
    completion = client.chat.completions.create(
        model="bedrock-claude", messages=ask, response_format=fmt
    )
    assert json.loads(completion.choices[0].message.content) == answer
    assert (
        completion.choices[0].finish_reason == "stop"
        and not completion.choices[0].message.tool_calls
    )
    config = mock.last.body["toolConfig"]
    assert config["toolChoice"] == {"tool": {"name": "switchyard_json"}}
    assert config["tools"][0]["toolSpec"]["inputSchema"] == {"json": schema}
    chunks = list(
        client.chat.completions.create(
            model="bedrock-claude", messages=ask, response_format=fmt, stream=True
        )
    )
    assert (
        json.loads("".join(c.choices[0].delta.content or "" for c in chunks if c.choices)) == answer
    )


def test_openai_reasoning_effort_becomes_a_thinking_budget_and_back(
    stack: Stack, mock: MockBedrock
) -> None:
    mock.queue(
        BedrockReply(text="391", reasoning="17*23 = 340 + 51."),
        BedrockReply(text="391", reasoning="17*23 = 340 + 51.", piece=2),
    )
    client = stack.openai()
    ask = [{"role": "user", "content": "17*23?"}]
    completion = client.chat.completions.create(
        model="bedrock-claude", messages=ask, reasoning_effort="medium", max_tokens=1000
    )
    fields = mock.last.body["additionalModelRequestFields"]
    # medium is 8192 tokens of thinking; with the 1000 asked for the answer that passes
    # the deployment's 8192 ceiling, so the budget yields to stay below maxTokens
    assert fields == {"thinking": {"type": "enabled", "budget_tokens": 8191}}
    assert mock.last.body["inferenceConfig"] == {"maxTokens": 8192}
    assert completion.choices[0].message.content == "391"
    assert completion.choices[0].message.model_extra["reasoning_content"] == "17*23 = 340 + 51."
    chunks = list(
        client.chat.completions.create(
            model="bedrock-claude", messages=ask, reasoning_effort="low", stream=True
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas) == (
        "17*23 = 340 + 51."
    )


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [("max_tokens", "length"), ("content_filtered", "content_filter"), ("stop_sequence", "stop")],
)
def test_openai_stop_reasons(
    stack: Stack, mock: MockBedrock, stop_reason: str, finish: str
) -> None:
    mock.queue(BedrockReply(text="partial", stop_reason=stop_reason))
    completion = stack.openai().chat.completions.create(
        model="bedrock-claude", messages=[{"role": "user", "content": "go"}]
    )
    assert completion.choices[0].finish_reason == finish


@pytest.mark.parametrize("stream", [False, True])
def test_openai_throttling_is_429_with_retry_after(
    stack: Stack, mock: MockBedrock, stream: bool
) -> None:
    mock.queue(
        BedrockReply.failure(429, "ThrottlingException", "Too many requests", retry_after="4")
    )
    with pytest.raises(openai.RateLimitError) as caught:
        stack.openai().chat.completions.create(
            model=stack.spare(), messages=[{"role": "user", "content": "hi"}], stream=stream
        )
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "4"
    assert "Too many requests" in caught.value.message
    assert_no_secret(caught.value.response)


def test_configuration_error_and_throttling_fail_over_to_the_fallback(
    stack: Stack, mock: MockBedrock
) -> None:
    mock.queue(BedrockReply(text="from nova"))
    completion = stack.openai().chat.completions.create(
        model="bedrock-config-then-nova", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "from nova"
    assert [s.model_id for s in mock.seen] == [NOVA]  # the misconfigured one sent nothing

    mock.reset()
    mock.queue(
        BedrockReply.failure(429, "ThrottlingException", "Too many requests"),
        BedrockReply(text="from nova"),
    )
    completion = stack.openai().chat.completions.create(
        model="bedrock-throttled-then-nova", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "from nova"
    assert [s.model_id for s in mock.seen] == [ARN, NOVA]


def test_openai_validation_error_is_400(stack: Stack, mock: MockBedrock) -> None:
    mock.queue(
        BedrockReply.failure(400, "ValidationException", "messages: final turn must be user")
    )
    with pytest.raises(openai.BadRequestError) as caught:
        stack.openai().chat.completions.create(
            model=stack.spare(), messages=[{"role": "user", "content": "hi"}]
        )
    assert "final turn must be user" in caught.value.body["message"]


def test_wrong_secret_is_rejected_by_the_signature_check_and_is_502(
    stack: Stack, mock: MockBedrock
) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        stack.openai().chat.completions.create(
            model="bedrock-bad-secret", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 502  # the gateway's credentials, not the caller's
    assert mock.rejected and "signature" in mock.rejected[0] and mock.seen == []
    assert_no_secret(caught.value.response)


def test_unset_credential_variable_is_a_configuration_error_with_no_request(
    stack: Stack, mock: MockBedrock
) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        stack.openai().chat.completions.create(
            model="bedrock-unset-env", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 500 and "NOT_SET_X" in caught.value.body["message"]
    assert mock.seen == [] and mock.rejected == []


@pytest.mark.parametrize("how", ["exception_after", "cut_after"])
def test_openai_mid_stream_failure_raises_in_the_sdk(
    stack: Stack, mock: MockBedrock, how: str
) -> None:
    mock.queue(BedrockReply(text="This answer will not finish because Bedrock fails", **{how: 5}))
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stack.openai().chat.completions.create(
            model=stack.spare(), messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert (
        "".join(received)
        and "".join(received) != "This answer will not finish because Bedrock fails"
    )


# --- OpenAI Responses in ---------------------------------------------------------------


def test_responses_api_text_stream_and_function_call(stack: Stack, mock: MockBedrock) -> None:
    mock.queue(
        BedrockReply(text="Hi from Converse."),
        BedrockReply(text="Streamed answer.", piece=2),
        BedrockReply(tool_calls=[ToolUse("tooluse_r1", "get_weather", {"city": "Oslo"})]),
    )
    client = stack.openai()
    response = client.responses.create(
        model="bedrock-claude", instructions="Be kind.", input="Hello"
    )
    assert response.output_text == "Hi from Converse."
    assert response.usage.input_tokens == 21 and response.usage.output_tokens == 9
    assert mock.last.body["system"] == [{"text": "Be kind."}]
    events = list(client.responses.create(model="bedrock-claude", input="Hello", stream=True))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Streamed answer." and events[-1].type == "response.completed"
    tool = {
        "type": "function",
        "name": "get_weather",
        "parameters": WEATHER_FN["function"]["parameters"],
    }
    called = client.responses.create(model="bedrock-claude", input="Weather in Oslo?", tools=[tool])
    call = next(item for item in called.output if item.type == "function_call")
    assert (call.call_id, call.name, json.loads(call.arguments)) == (
        "tooluse_r1",
        "get_weather",
        {"city": "Oslo"},
    )
    mock.queue(BedrockReply(text="Oslo: 3°C."))
    answered = client.responses.create(
        model="bedrock-claude",
        tools=[tool],
        input=[
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "3°C"},
        ],
    )
    assert answered.output_text == "Oslo: 3°C."
    turns = mock.last.body["messages"]
    assert turns[1]["content"] == [
        {"toolUse": {"toolUseId": "tooluse_r1", "name": "get_weather", "input": {"city": "Oslo"}}}
    ]
    assert turns[2]["content"] == [
        {"toolResult": {"toolUseId": "tooluse_r1", "content": [{"text": "3°C"}]}}
    ]


# --- Anthropic Messages in (the Claude Code path) --------------------------------------


def test_anthropic_stream_text_system_multi_turn(stack: Stack, mock: MockBedrock) -> None:
    mock.queue(
        BedrockReply(text="Hello, Claude Code user!", input_tokens=40, output_tokens=6, piece=3)
    )
    with stack.anthropic().messages.stream(
        model="bedrock-claude",
        max_tokens=300,
        system="You are a coding agent.",
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "greet me"},
        ],
    ) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == "Hello, Claude Code user!"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 40 and message.usage.output_tokens == 6
    body = mock.last.body
    assert body["system"] == [{"text": "You are a coding agent."}]
    assert body["inferenceConfig"] == {"maxTokens": 300}
    assert len(body["messages"]) == 3 and mock.last.stream


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_tool_use_round_trip(stack: Stack, mock: MockBedrock, stream: bool) -> None:
    mock.queue(
        BedrockReply(
            text="Let me check.",
            tool_calls=[ToolUse("tooluse_cc01", "get_weather", {"city": "Lyon"})],
            piece=2,
        ),
        BedrockReply(text="Lyon is sunny."),
    )
    client = stack.anthropic()
    ask = [{"role": "user", "content": "Weather in Lyon?"}]
    if stream:
        with client.messages.stream(
            model="bedrock-claude", max_tokens=500, messages=ask, tools=[WEATHER_TOOL]
        ) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(
            model="bedrock-claude", max_tokens=500, messages=ask, tools=[WEATHER_TOOL]
        )
    assert message.stop_reason == "tool_use"
    use = next(block for block in message.content if block.type == "tool_use")
    assert (use.id, use.name, use.input) == ("tooluse_cc01", "get_weather", {"city": "Lyon"})
    final = client.messages.create(
        model="bedrock-claude",
        max_tokens=500,
        tools=[WEATHER_TOOL],
        messages=[
            *ask,
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in message.content],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "tooluse_cc01",
                        "content": "sunny",
                        "is_error": False,
                    },
                    {"type": "text", "text": "and?"},
                ],
            },
        ],
    )
    assert final.content[0].text == "Lyon is sunny."
    last_turn = mock.last.body["messages"][-1]
    assert last_turn["content"][0] == {
        "toolResult": {"toolUseId": "tooluse_cc01", "content": [{"text": "sunny"}]}
    }


def test_anthropic_thinking_with_signature_round_trip(stack: Stack, mock: MockBedrock) -> None:
    mock.queue(
        BedrockReply(text="391", reasoning="17*23: 340 + 51.", signature="sig-A", piece=3),
        BedrockReply(text="Yes."),
    )
    client = stack.anthropic()
    ask = [{"role": "user", "content": "17*23?"}]
    with client.messages.stream(
        model="bedrock-claude",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=ask,
    ) as stream:
        message = stream.get_final_message()
    assert mock.last.body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2000}
    }
    thinking = message.content[0]
    assert thinking.type == "thinking" and thinking.thinking == "17*23: 340 + 51."
    assert thinking.signature == "sig-A" and message.content[1].text == "391"
    client.messages.create(
        model="bedrock-claude",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[
            *ask,
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in message.content],
            },
            {"role": "user", "content": "Sure?"},
        ],
    )
    assert mock.last.body["messages"][1]["content"][0] == {
        "reasoningContent": {"reasoningText": {"text": "17*23: 340 + 51.", "signature": "sig-A"}}
    }


def test_anthropic_image_and_max_tokens_stop(stack: Stack, mock: MockBedrock) -> None:
    mock.queue(BedrockReply(text="A pixel", stop_reason="max_tokens"))
    message = stack.anthropic().messages.create(
        model="bedrock-claude",
        max_tokens=2,
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
    assert mock.last.body["messages"][0]["content"][0] == {
        "image": {"format": "png", "source": {"bytes": PNG_B64}}
    }


def test_anthropic_errors_in_anthropic_shape(stack: Stack, mock: MockBedrock) -> None:
    mock.queue(BedrockReply.failure(429, "ThrottlingException", "Rate exceeded"))
    with pytest.raises(anthropic.RateLimitError) as caught:
        stack.anthropic().messages.create(
            model=stack.spare(), max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert "Rate exceeded" in caught.value.body["error"]["message"]
    mock.queue(BedrockReply(text="will break half way through", exception_after=4))
    with (
        pytest.raises(anthropic.APIError),
        stack.anthropic().messages.stream(
            model=stack.spare(), max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        "".join(stream.text_stream)


def test_anthropic_count_tokens_is_estimated_locally(stack: Stack, mock: MockBedrock) -> None:
    """Claude Code counts tokens before sending; Bedrock routes answer from the local
    tokenizer (nothing is sent upstream)."""
    raw = stack.anthropic().messages.with_raw_response.count_tokens(
        model="bedrock-claude", messages=[{"role": "user", "content": "How many tokens is this?"}]
    )
    assert raw.parse().input_tokens > 0
    assert raw.headers["x-switchyard-token-count"] == "estimate"
    assert mock.seen == []


def test_server_log_has_no_traceback(stack: Stack) -> None:
    assert "Traceback" not in stack.gw.log(), stack.gw.log()[-4000:]
