"""The official ``openai`` and ``anthropic`` SDKs against a real gateway whose routes
point at the mock Gemini API (``gem``: kind ``gemini``, API key) and the mock Vertex AI
(``vtx``: kind ``vertex_ai``, a service account whose JWT the mock's token endpoint
verifies). Each test asserts what the SDK got back and what reached the upstream: text,
system prompt, multi-turn, streaming, tool loops through Gemini's thought signatures
(the mock rejects a call sent back without its signature), images, JSON output,
reasoning, usage, stop reasons and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.live import MASTER_KEY, Gateway, running_gateway

from .mock_gemini import GReply, MockGemini

KEY = "AIza-mock-gemini-key-for-the-sdk-tests"
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)
OPENAI_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
ANTHROPIC_WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": OPENAI_WEATHER["function"]["parameters"],
}
SPARES = 6


def setup_code(mock_url: str, key_file: str) -> str:
    return f"""
from gateway.models import Deployment, Provider, Route

def provider(name, kind, secret, base_url="{mock_url}"):
    p = Provider(name=name, kind=kind, base_url=base_url)
    p.set_secret(secret)
    p.save()
    return p

def route(name, provider, model, **params):
    r = Route.objects.create(name=name, max_attempts=1)
    Deployment.objects.create(
        route=r, provider=provider, model=model, max_output_tokens=8192,
        context_window=1000000, supports_reasoning=True, params=params,
    )

gem = provider("mock-gemini", "gemini", "{KEY}")
vtx = provider("mock-vertex", "vertex_ai", "")
wrong = provider("mock-gemini-wrong-key", "gemini", "AIza-not-the-key")
route("gem", gem, "gemini-2.5-pro")
route("gem3", gem, "gemini-3-pro-preview")
route("vtx", vtx, "gemini-2.5-flash", vertex_project="proj-live",
      vertex_location="us-east5", vertex_credentials="{key_file}")
route("gem-wrong-key", wrong, "gemini-2.5-pro")
# a model that fixes its sampling (the catalog's rejects; the mock answers 400 to them)
route("gem37", gem, "gemini-3.7-flash", temperature=0.2, top_k=40, seed=3)
route("vtx37", vtx, "gemini-3.7-flash", vertex_project="proj-live",
      vertex_location="us-east5", vertex_credentials="{key_file}", topK=40, seed=3)
route("vtx-broken", vtx, "gemini-2.5-flash", vertex_credentials="/nonexistent/sa.json")
Route.objects.filter(name="vtx-broken").update(fallbacks=["gem"])
for n in range({SPARES}):
    route(f"gem-x{{n}}", gem, "gemini-2.5-pro")
"""


class Live:
    def __init__(self, gw: Gateway, mock: MockGemini) -> None:
        self.gw, self.url, self.mock = gw, gw.url, mock
        self._spare = iter(range(SPARES))

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=MASTER_KEY, max_retries=0)

    def anthropic(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=MASTER_KEY, max_retries=0)

    def spare(self) -> str:
        return f"gem-x{next(self._spare)}"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    mock = MockGemini(api_key=KEY).start()
    folder = tmp_path_factory.mktemp("gemini-live")
    key_file = folder / "service-account.json"
    key_file.write_text(json.dumps(mock.service_account("proj-of-key")))
    try:
        with running_gateway(
            folder / "gw",
            # the mock stands in for Google's own hosts, where a key file's token may go
            env={"SWITCHYARD_AMBIENT_CREDENTIALS_ANY_ENDPOINT": "1"},
            setup=[["shell", "-c", setup_code(mock.url, str(key_file))]],
            seed=False,
        ) as gw:
            yield Live(gw, mock)
            assert "Traceback" not in gw.log(), gw.log()[-4000:]
            assert KEY not in gw.log()
    finally:
        mock.stop()


@pytest.fixture
def mock(live: Live) -> Iterator[MockGemini]:
    live.mock.reset()
    yield live.mock


def tool_turns(mock: MockGemini) -> list[dict]:
    return mock.last.body["contents"]


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()  # (the shell prints a banner first)
    return lines[-1] if lines else ""


def translation(live: Live, request_id: str) -> dict[str, tuple[str, str]]:
    """The request's "lost in translation" notes (its log row's, once the journal
    writer has flushed it), as field -> (action, why)."""
    out = live.gw.shell_until(
        "import json\nfrom gateway.models import RequestLog\n"
        f"row = RequestLog.objects.filter(request_id={request_id!r}).first()\n"
        "print(json.dumps(row.translation if row else None))",
        lambda text: _last_line(text) not in ("", "null"),
    )
    notes = json.loads(_last_line(out)) or []
    return {n["field"]: (n["action"], n["detail"]) for n in notes}


# --- OpenAI chat completions --------------------------------------------------------------


@pytest.mark.parametrize("route", ["gem", "vtx"])
def test_openai_text_with_system_prompt_and_usage(live: Live, mock: MockGemini, route: str) -> None:
    mock.queue(GReply(text="Bonjour!", prompt_tokens=40, cached_tokens=30, output_tokens=3))
    answer = live.openai().chat.completions.create(
        model=route,
        messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Salut."},
            {"role": "user", "content": "Again"},
        ],
        temperature=0.2,
    )
    choice = answer.choices[0]
    assert choice.message.content == "Bonjour!" and choice.finish_reason == "stop"
    assert answer.model == route
    assert answer.usage.prompt_tokens == 40 and answer.usage.completion_tokens == 3
    assert answer.usage.prompt_tokens_details.cached_tokens == 30
    body = mock.last.body
    assert body["systemInstruction"] == {"parts": [{"text": "Answer in French."}]}
    assert [t["role"] for t in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"]["temperature"] == 0.2
    if route == "vtx":
        assert mock.last.path == (
            "/v1/projects/proj-live/locations/us-east5/publishers/google/models/"
            "gemini-2.5-flash:generateContent"
        )
        assert mock.last.headers["authorization"].startswith("Bearer ya29.mock-")
    else:
        assert mock.last.headers["x-goog-api-key"] == KEY


@pytest.mark.parametrize("route", ["gem37", "vtx37"])
def test_openai_temperature_on_a_gemini_model_that_refuses_it_is_dropped_and_noted(
    live: Live, mock: MockGemini, route: str
) -> None:
    """gemini-3.7-flash answers 400 to temperature, top_p and top_k (the mock as Google):
    the caller's and the deployment's were sent as generationConfig, so every call to it
    failed; now they are left out and the log entry says so."""
    raw = live.openai().chat.completions.with_raw_response.create(
        model=route, messages=[{"role": "user", "content": "Hi"}], temperature=0.7, top_p=0.9
    )
    assert raw.parse().choices[0].message.content == "Hi from Gemini."
    assert mock.last.body["generationConfig"] == {"seed": 3}
    notes = translation(live, raw.headers["x-request-id"])
    refused = ("dropped", "the model refuses it")
    assert notes["top_k (deployment params)"] == refused
    assert notes["temperature"][0] == notes["top_p"][0] == "dropped"
    if route == "gem37":
        assert notes["temperature (deployment params)"] == refused


@pytest.mark.parametrize("route", ["gem", "vtx"])
def test_openai_stream(live: Live, mock: MockGemini, route: str) -> None:
    mock.queue(GReply(text="One two three four five.", output_tokens=6))
    stream = live.openai().chat.completions.create(
        model=route,
        messages=[{"role": "user", "content": "Count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "One two three four five."
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    assert chunks[-1].usage.completion_tokens == 6
    assert mock.last.path.endswith(":streamGenerateContent") and mock.last.query["alt"] == ["sse"]


@pytest.mark.parametrize("stream", [False, True])
def test_openai_tool_loop_round_trips_thought_signatures(
    live: Live, mock: MockGemini, stream: bool
) -> None:
    client = live.openai()
    mock.queue(
        GReply(calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Tokyo"})]),
        GReply(text="Paris 18C, Tokyo 22C."),
    )
    messages: list[dict] = [{"role": "user", "content": "Weather in Paris and Tokyo?"}]
    kwargs = {"model": "gem", "tools": [OPENAI_WEATHER], "tool_choice": "auto"}
    if stream:
        calls: dict[int, dict] = {}
        finish = None
        for chunk in client.chat.completions.create(messages=messages, stream=True, **kwargs):
            for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] = delta.id or entry["id"]
                entry["name"] = (delta.function.name or "") or entry["name"]
                entry["arguments"] += delta.function.arguments or ""
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
        tool_calls = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for _, c in sorted(calls.items())
        ]
    else:
        answer = client.chat.completions.create(messages=messages, **kwargs)
        finish = answer.choices[0].finish_reason
        tool_calls = [
            c.model_dump(include={"id", "type", "function"})
            for c in answer.choices[0].message.tool_calls
        ]
    assert finish == "tool_calls" and len(tool_calls) == 2
    assert json.loads(tool_calls[0]["function"]["arguments"]) == {"city": "Paris"}
    sent_tools = mock.last.body["tools"][0]["functionDeclarations"][0]
    assert sent_tools["name"] == "get_weather" and "parametersJsonSchema" in sent_tools
    messages.append({"role": "assistant", "content": None, "tool_calls": tool_calls})
    for call, result in zip(tool_calls, ["18C", "22C"], strict=True):
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    final = client.chat.completions.create(messages=messages, **kwargs)
    assert final.choices[0].message.content == "Paris 18C, Tokyo 22C."
    model_turn, results = tool_turns(mock)[1:3]
    assert model_turn["parts"][0]["thoughtSignature"] in mock.signatures
    assert [p["functionResponse"]["response"] for p in results["parts"]] == [
        {"result": "18C"},
        {"result": "22C"},
    ]


def test_openai_tool_call_without_its_signature_is_gemini_400(live: Live, mock: MockGemini) -> None:
    client = live.openai()
    mock.queue(GReply(calls=[("get_weather", {"city": "Oslo"})]))
    answer = client.chat.completions.create(
        model="gem", messages=[{"role": "user", "content": "Oslo?"}], tools=[OPENAI_WEATHER]
    )
    call = answer.choices[0].message.tool_calls[0]
    stripped = "call_oslo"  # a client that rewrote the id loses the signature
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gem",
            tools=[OPENAI_WEATHER],
            messages=[
                {"role": "user", "content": "Oslo?"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": stripped, "type": "function", "function": call.function.model_dump()}
                    ],
                },
                {"role": "tool", "tool_call_id": stripped, "content": "5C"},
            ],
        )
    assert "thought_signature" in str(caught.value)


def test_history_from_another_model_reaches_gemini_3(live: Live, mock: MockGemini) -> None:
    """Claude Code switching to Gemini mid-session: tool_use ids Gemini never signed."""
    mock.queue(GReply(text="Continuing."))
    message = live.anthropic().messages.create(
        model="gem3",
        max_tokens=128,
        tools=[ANTHROPIC_WEATHER],
        messages=[
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_01X",
                        "name": "get_weather",
                        "input": {"city": "Oslo"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_01X", "content": "5C"}],
            },
        ],
    )
    assert message.content[0].text == "Continuing."
    call = tool_turns(mock)[1]["parts"][0]
    assert call["thoughtSignature"] == "skip_thought_signature_validator"


def test_openai_image_json_output_and_reasoning(live: Live, mock: MockGemini) -> None:
    mock.queue(GReply(text='{"colour": "red"}', thinking="A single red pixel.", thought_tokens=12))
    answer = live.openai().chat.completions.create(
        model="gem",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Which colour?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "colour",
                "schema": {"type": "object", "properties": {"colour": {"type": "string"}}},
            },
        },
        reasoning_effort="high",
    )
    assert json.loads(answer.choices[0].message.content) == {"colour": "red"}
    assert answer.choices[0].message.model_extra["reasoning_content"] == "A single red pixel."
    assert answer.usage.completion_tokens == 9 + 12
    assert answer.usage.completion_tokens_details.reasoning_tokens == 12
    body = mock.last.body
    assert body["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": PNG}}
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["properties"] == {"colour": {"type": "string"}}
    assert config["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 24576}


def test_openai_reasoning_level_on_gemini_3_and_length_finish(live: Live, mock: MockGemini) -> None:
    mock.queue(GReply(text="Once upon", finish="MAX_TOKENS"))
    answer = live.openai().chat.completions.create(
        model="gem3",
        messages=[{"role": "user", "content": "Story"}],
        reasoning_effort="low",
        max_tokens=3,
    )
    assert answer.choices[0].finish_reason == "length"
    config = mock.last.body["generationConfig"]
    assert config["thinkingConfig"] == {"includeThoughts": True, "thinkingLevel": "low"}
    assert config["maxOutputTokens"] == 3


def test_openai_safety_block_is_content_filter(live: Live, mock: MockGemini) -> None:
    mock.queue(GReply(text="", finish="SAFETY"))
    answer = live.openai().chat.completions.create(
        model="gem", messages=[{"role": "user", "content": "x"}]
    )
    assert answer.choices[0].finish_reason == "content_filter"


@pytest.mark.parametrize(
    ("status", "name", "error"),
    [
        (429, "RESOURCE_EXHAUSTED", openai.RateLimitError),
        (400, "INVALID_ARGUMENT", openai.BadRequestError),
    ],
)
def test_openai_errors(live: Live, mock: MockGemini, status: int, name: str, error: type) -> None:
    mock.queue(
        GReply(status=status, error={"code": status, "message": f"mock {name}", "status": name})
    )
    with pytest.raises(error) as caught:
        live.openai().chat.completions.create(
            model=live.spare(), messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == status and f"mock {name}" in str(caught.value)


def test_a_refused_api_key_is_a_502_naming_no_key(live: Live) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        live.openai().chat.completions.create(
            model="gem-wrong-key", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 502
    assert "AIza" not in str(caught.value.response.text)


def test_responses_api_tool_loop(live: Live, mock: MockGemini) -> None:
    client = live.openai()
    tool = {
        "type": "function",
        "name": "get_weather",
        "parameters": OPENAI_WEATHER["function"]["parameters"],
    }
    mock.queue(GReply(calls=[("get_weather", {"city": "Lima"})]), GReply(text="Lima is 20C."))
    first = client.responses.create(model="gem", input="Weather in Lima?", tools=[tool])
    call = next(item for item in first.output if item.type == "function_call")
    assert json.loads(call.arguments) == {"city": "Lima"}
    final = client.responses.create(
        model="gem",
        tools=[tool],
        input=[
            {"role": "user", "content": "Weather in Lima?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "20C"},
        ],
    )
    assert final.output_text == "Lima is 20C."
    assert tool_turns(mock)[1]["parts"][0]["thoughtSignature"] in mock.signatures


# --- Anthropic Messages (Claude Code's dialect) ------------------------------------------


@pytest.mark.parametrize("route", ["gem", "vtx"])
def test_anthropic_text_system_and_usage(live: Live, mock: MockGemini, route: str) -> None:
    mock.queue(GReply(text="Hi there.", prompt_tokens=50, cached_tokens=20, output_tokens=4))
    message = live.anthropic().messages.create(
        model=route,
        max_tokens=256,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello"}],
    )
    assert message.content[0].text == "Hi there." and message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 30 and message.usage.cache_read_input_tokens == 20
    assert message.usage.output_tokens == 4
    assert mock.last.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert mock.last.body["generationConfig"]["maxOutputTokens"] == 256


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_tool_loop_with_thinking_round_trips_thought_signatures(
    live: Live, mock: MockGemini, stream: bool
) -> None:
    client = live.anthropic()
    mock.queue(
        GReply(
            thinking="Two cities: two calls.",
            calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})],
            thought_tokens=8,
        ),
        GReply(text="Paris 18C, Rome 25C."),
    )
    request = {
        "model": "gem",
        "max_tokens": 4096,
        "tools": [ANTHROPIC_WEATHER],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [{"role": "user", "content": "Weather in Paris and Rome?"}],
    }
    if stream:
        with client.messages.stream(**request) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**request)
    assert message.stop_reason == "tool_use"
    kinds = [block.type for block in message.content]
    assert kinds == ["thinking", "tool_use", "tool_use"]
    assert message.content[0].thinking == "Two cities: two calls."
    uses = [b for b in message.content if b.type == "tool_use"]
    assert uses[0].input == {"city": "Paris"} and uses[1].input == {"city": "Rome"}
    config = mock.last.body["generationConfig"]["thinkingConfig"]
    assert config == {"includeThoughts": True, "thinkingBudget": 2048}
    history = [
        *request["messages"],
        {
            "role": "assistant",
            "content": [b.model_dump(exclude_none=True) for b in message.content],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": uses[0].id, "content": "18C"},
                {"type": "tool_result", "tool_use_id": uses[1].id, "content": "25C"},
            ],
        },
    ]
    final = client.messages.create(**{**request, "messages": history})
    assert final.content[-1].text == "Paris 18C, Rome 25C." and final.stop_reason == "end_turn"
    model_turn = tool_turns(mock)[1]
    assert model_turn["parts"][0]["thoughtSignature"] in mock.signatures
    assert all("thought" not in part for part in model_turn["parts"])


def test_anthropic_stream_text_and_image(live: Live, mock: MockGemini) -> None:
    mock.queue(GReply(text="A red pixel, streamed in pieces.", output_tokens=8))
    with live.anthropic().messages.stream(
        model="gem",
        max_tokens=128,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                    {"type": "text", "text": "What is this?"},
                ],
            }
        ],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "A red pixel, streamed in pieces." and final.usage.output_tokens == 8
    assert mock.last.body["contents"][0]["parts"][0] == {
        "inlineData": {"mimeType": "image/png", "data": PNG}
    }


def test_anthropic_overload_and_midstream_error(live: Live, mock: MockGemini) -> None:
    client = live.anthropic()
    mock.queue(
        GReply(
            status=503,
            error={"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"},
        )
    )
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(
            model=live.spare(), max_tokens=64, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code in (503, 529)
    assert "overloaded" in str(caught.value).lower()
    mock.queue(GReply(text="This will be cut off soon", error_after=2))
    with (
        pytest.raises(anthropic.APIStatusError),
        client.messages.stream(
            model=live.spare(), max_tokens=64, messages=[{"role": "user", "content": "x"}]
        ) as stream,
    ):
        for _ in stream:
            pass


def test_anthropic_count_tokens_uses_gemini_count(live: Live, mock: MockGemini) -> None:
    raw = live.anthropic().messages.with_raw_response.count_tokens(
        model="gem", messages=[{"role": "user", "content": "count these words please"}]
    )
    counted = raw.parse()
    seen = [s for s in mock.seen if s.path.endswith(":countTokens")]
    assert seen and counted.input_tokens > 0
    assert raw.headers["x-switchyard-token-count"] == "upstream"
    assert seen[-1].body["generateContentRequest"]["contents"][0]["parts"] == [
        {"text": "count these words please"}
    ]


def test_vertex_token_fetched_once_across_requests(live: Live, mock: MockGemini) -> None:
    client = live.openai()
    for _ in range(3):
        client.chat.completions.create(model="vtx", messages=[{"role": "user", "content": "x"}])
    assert mock.token_requests == 0  # the token from the earlier tests is still cached
    assert len({s.headers["authorization"] for s in mock.chats}) == 1


def test_unusable_vertex_credentials_fail_over_without_retrying(
    live: Live, mock: MockGemini
) -> None:
    mock.queue(GReply(text="Answered by the fallback."))
    answer = live.openai().chat.completions.create(
        model="vtx-broken", messages=[{"role": "user", "content": "x"}]
    )
    assert answer.choices[0].message.content == "Answered by the fallback."
    assert mock.token_requests == 0 and len(mock.chats) == 1
    assert mock.last.path.startswith("/v1beta/models/gemini-2.5-pro:")


def test_responses_api_stream_with_reasoning(live: Live, mock: MockGemini) -> None:
    mock.queue(GReply(text="Streamed answer.", thinking="Thinking it over.", thought_tokens=4))
    events = list(
        live.openai().responses.create(
            model="gem", input="Think, then answer.", reasoning={"effort": "medium"}, stream=True
        )
    )
    kinds = [e.type for e in events]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Streamed answer." and kinds[-1] == "response.completed"
    completed = events[-1].response
    assert completed.usage.output_tokens == 9 + 4
    assert completed.usage.output_tokens_details.reasoning_tokens == 4
    assert mock.last.body["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingBudget": 8192,
    }


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("MAX_TOKENS", "max_tokens"), ("SAFETY", "refusal"), ("STOP", "end_turn")],
)
def test_anthropic_stop_reasons(
    live: Live, mock: MockGemini, finish: str, stop_reason: str
) -> None:
    mock.queue(GReply(text="Some", finish=finish))
    message = live.anthropic().messages.create(
        model="gem", max_tokens=2, messages=[{"role": "user", "content": "x"}]
    )
    assert message.stop_reason == stop_reason
