"""The official ``google-genai`` SDK against a real gateway serving the Gemini API, on
routes to an OpenAI-compatible upstream (``mock-gpt``), an Anthropic one
(``mock-claude``), both on ``mock_upstream.MockUpstream``, and a native Gemini one
(``gem`` on ``mock_gemini.MockGemini``, which rejects a signed function call sent back
without its exact thought signature). Each test asserts what the SDK got back and what
reached the upstream: plain text, system instruction, multi-turn, streaming, function
calling round trips (manual and the SDK's automatic calling), JSON output, thinking,
token counts, model lists and errors, on both API versions the SDK uses."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.live import MASTER_KEY, free_port, running_gateway

from .conftest import ANTHROPIC_SECRET, OPENAI_SECRET
from .conftest import setup_code as upstream_setup
from .mock_gemini import GReply, MockGemini
from .mock_gemini import _count as gemini_count
from .mock_upstream import MockUpstream, Reply, ToolUse

GEMINI_KEY = "AIza-mock-gemini-key-for-google-genai"
PNG_B64 = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)
TRANSLATED = ["mock-gpt", "mock-claude"]
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Current weather for a city",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
GEMINI_SETUP = f"""
from gateway.models import Deployment, Provider, Route

gem = Provider(name="mock-gemini", kind="gemini", base_url=GEMINI_URL)
gem.set_secret("{GEMINI_KEY}")
gem.save()
for name, model in [("gem", "gemini-2.5-pro"), ("gem3", "gemini-3-pro-preview"),
                    ("gemini/slashed", "gemini-2.5-pro")]:
    r = Route.objects.create(name=name, max_attempts=1)
    Deployment.objects.create(route=r, provider=gem, model=model, max_output_tokens=8192,
                              context_window=1000000, supports_reasoning=True)
"""


@dataclass
class Live:
    url: str
    mock: MockUpstream
    gemini: MockGemini
    log: Any
    spares: Iterator[int] = field(default_factory=lambda: iter(range(12)))
    clients: dict[tuple[str | None, str], genai.Client] = field(default_factory=dict)

    def client(self, version: str | None = "v1beta", key: str = MASTER_KEY) -> genai.Client:
        """A client kept for the module (a ``genai.Client`` closes its connections when
        collected, which ``live.client().models...`` would do mid-call)."""
        cached = self.clients.get((version, key))
        if cached is None:
            cached = self.clients[(version, key)] = self._new_client(version, key)
        return cached

    def _new_client(self, version: str | None, key: str) -> genai.Client:
        options = types.HttpOptions(
            base_url=self.url, retry_options=types.HttpRetryOptions(attempts=1)
        )
        if version:
            options.api_version = version
        return genai.Client(api_key=key, http_options=options)

    def spare(self, upstream: str) -> str:
        return f"mock-{upstream}-x{next(self.spares)}"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    mock = MockUpstream().start()
    gemini = MockGemini(api_key=GEMINI_KEY).start()
    dead = f"http://127.0.0.1:{free_port()}"
    setup = [
        ["shell", "-c", upstream_setup(mock.url, dead)],
        ["shell", "-c", f"GEMINI_URL = {gemini.url!r}\n" + GEMINI_SETUP],
    ]
    try:
        with running_gateway(tmp_path_factory.mktemp("genai"), setup=setup) as gw:
            yield Live(gw.url, mock, gemini, gw.log)
            log = gw.log()
            assert "Traceback" not in log, log[-4000:]
            for secret in (GEMINI_KEY, OPENAI_SECRET, ANTHROPIC_SECRET, MASTER_KEY):
                assert secret not in log
    finally:
        mock.stop()
        gemini.stop()


@pytest.fixture
def mock(live: Live) -> Iterator[MockUpstream]:
    live.mock.reset()
    live.gemini.reset()
    yield live.mock


def upstream_messages(mock: MockUpstream, route: str) -> list[dict[str, Any]]:
    body = mock.last.body
    return body["messages"]


def system_of(mock: MockUpstream, route: str) -> str:
    body = mock.last.body
    if route == "mock-claude":
        system = body.get("system")
        return system if isinstance(system, str) else "".join(b["text"] for b in system)
    first = body["messages"][0]
    assert first["role"] in ("system", "developer")
    return first["content"] if isinstance(first["content"], str) else first["content"][0]["text"]


# --- plain, system, multi-turn ------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1beta", None])  # None: the SDK's default (/v1/)
@pytest.mark.parametrize("route", TRANSLATED)
def test_plain_text_with_system_instruction(
    live: Live, mock: MockUpstream, route: str, version: str | None
) -> None:
    mock.queue(Reply(text="Bonjour!", input_tokens=30, output_tokens=3, cached_tokens=10))
    response = live.client(version).models.generate_content(
        model=route,
        contents="Hello",
        config=types.GenerateContentConfig(
            system_instruction="Answer in French.", temperature=0.2, max_output_tokens=100
        ),
    )
    assert response.text == "Bonjour!"
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.model_version == route
    usage = response.usage_metadata
    assert usage.prompt_token_count == 40  # Gemini counts cached tokens in the prompt
    assert usage.cached_content_token_count == 10 and usage.candidates_token_count == 3
    assert usage.total_token_count == 43
    seen = mock.last
    assert seen.path == ("/v1/messages" if route == "mock-claude" else "/v1/chat/completions")
    assert system_of(mock, route) == "Answer in French."
    assert seen.body["temperature"] == 0.2
    sent_max = seen.body.get("max_tokens") or seen.body.get("max_completion_tokens")
    assert sent_max == 100
    assert MASTER_KEY not in json.dumps(seen.headers)


@pytest.mark.parametrize("route", TRANSLATED)
def test_multi_turn_history(live: Live, mock: MockUpstream, route: str) -> None:
    mock.queue(Reply(text="You said your name is Ada."))
    chat = live.client().chats.create(
        model=route,
        history=[
            types.Content(role="user", parts=[types.Part(text="My name is Ada.")]),
            types.Content(role="model", parts=[types.Part(text="Nice to meet you, Ada.")]),
        ],
    )
    assert chat.send_message("What is my name?").text == "You said your name is Ada."
    messages = [m for m in upstream_messages(mock, route) if m["role"] != "system"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    flat = json.dumps(messages)
    assert "My name is Ada." in flat and "Nice to meet you, Ada." in flat
    assert "What is my name?" in flat


# --- streaming ------------------------------------------------------------------------------


@pytest.mark.parametrize("route", TRANSLATED)
def test_stream(live: Live, mock: MockUpstream, route: str) -> None:
    mock.queue(Reply(text="One two three four five.", reasoning="Counting.", output_tokens=6))
    chunks = list(
        live.client().models.generate_content_stream(
            model=route,
            contents="Count to five",
            config=types.GenerateContentConfig(
                thinking_config=types.ThinkingConfig(thinking_budget=2048, include_thoughts=True)
            ),
        )
    )
    assert len(chunks) > 3  # streamed, not one answer at the end
    parts = [p for c in chunks if c.candidates for p in c.candidates[0].content.parts or []]
    text = "".join(p.text or "" for p in parts if not p.thought)
    thoughts = "".join(p.text or "" for p in parts if p.thought)
    assert text == "One two three four five." and thoughts == "Counting."
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert (
        chunks[-1].usage_metadata.candidates_token_count
        + (chunks[-1].usage_metadata.thoughts_token_count or 0)
        == 6
    )
    assert mock.last.body["stream"] is True
    if route == "mock-claude":
        assert mock.last.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_stream_error_after_it_began_raises_in_the_sdk(live: Live, mock: MockUpstream) -> None:
    mock.queue(
        Reply(
            text="a long answer cut short",
            error_after=3,
            error={"error": {"message": "upstream overloaded", "type": "server_error"}},
        )
    )
    received = []
    with pytest.raises(errors.APIError) as caught:
        for chunk in live.client().models.generate_content_stream(
            model=live.spare("gpt"), contents="go"
        ):
            received.append(chunk.text)
    assert received  # text arrived before the error
    assert caught.value.code == 502 and caught.value.status == "UNAVAILABLE"


# --- function calling -----------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("route", TRANSLATED)
def test_function_calling_round_trip(
    live: Live, mock: MockUpstream, route: str, stream: bool
) -> None:
    client = live.client()
    mock.queue(
        Reply(
            text="",
            tool_calls=[
                ToolUse("call_paris_1", "get_weather", '{"city": "Paris"}'),
                ToolUse("call_rome_2", "get_weather", '{"city": "Rome"}'),
            ],
        ),
        Reply(text="Paris 18C, Rome 25C."),
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.AUTO
            )
        ),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    question = types.Content(role="user", parts=[types.Part(text="Weather in Paris and Rome?")])
    if stream:
        chunks = list(
            client.models.generate_content_stream(model=route, contents=[question], config=config)
        )
        calls = [fc for c in chunks for fc in (c.function_calls or [])]
        model_turn = types.Content(
            role="model", parts=[types.Part(function_call=call) for call in calls]
        )
    else:
        response = client.models.generate_content(model=route, contents=[question], config=config)
        calls = response.function_calls
        model_turn = response.candidates[0].content
    assert [(c.name, c.args) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome"}),
    ]
    assert [c.id for c in calls] == ["call_paris_1", "call_rome_2"]  # the upstream's ids
    first = mock.last.body
    tools = first["tools"]
    names = [t.get("name") or t["function"]["name"] for t in tools]
    assert names == ["get_weather"]
    # the client answers by name only, as google-genai's helper does
    answers = types.Content(
        role="user",
        parts=[
            types.Part.from_function_response(name="get_weather", response={"output": "18C"}),
            types.Part.from_function_response(name="get_weather", response={"output": "25C"}),
        ],
    )
    final = client.models.generate_content(
        model=route, contents=[question, model_turn, answers], config=config
    )
    assert final.text == "Paris 18C, Rome 25C."
    messages = mock.last.body["messages"]
    if route == "mock-claude":
        uses = [b for b in messages[1]["content"] if b["type"] == "tool_use"]
        results = [b for b in messages[2]["content"] if b["type"] == "tool_result"]
        assert [u["id"] for u in uses] == ["call_paris_1", "call_rome_2"]
        assert [r["tool_use_id"] for r in results] == ["call_paris_1", "call_rome_2"]
        assert [
            r["content"] if isinstance(r["content"], str) else r["content"][0]["text"]
            for r in results
        ] == ["18C", "25C"]
    else:
        assert [c["id"] for c in messages[1]["tool_calls"]] == ["call_paris_1", "call_rome_2"]
        tool_messages = [m for m in messages if m["role"] == "tool"]
        assert [(m["tool_call_id"], m["content"]) for m in tool_messages] == [
            ("call_paris_1", "18C"),
            ("call_rome_2", "25C"),
        ]


def test_automatic_function_calling_with_a_python_function(live: Live, mock: MockUpstream) -> None:
    calls: list[str] = []

    def get_weather(city: str) -> str:
        """Current weather for a city."""
        calls.append(city)
        return f"{city}: 18C"

    mock.queue(
        Reply(tool_calls=[ToolUse("call_auto_1", "get_weather", '{"city": "Oslo"}')]),
        Reply(text="It is 18C in Oslo."),
    )
    response = live.client().models.generate_content(
        model="mock-gpt",
        contents="Weather in Oslo?",
        config=types.GenerateContentConfig(tools=[get_weather]),
    )
    assert response.text == "It is 18C in Oslo." and calls == ["Oslo"]
    first, second = mock.chat_requests()
    schema = first.body["tools"][0]["function"]["parameters"]
    assert schema["type"] == "object" and schema["properties"]["city"]["type"] == "string"
    tool_message = [m for m in second.body["messages"] if m["role"] == "tool"][0]
    assert tool_message["tool_call_id"] == "call_auto_1"
    assert "Oslo: 18C" in tool_message["content"]


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_upstream_keeps_the_clients_thought_signature(
    live: Live, mock: MockUpstream, stream: bool
) -> None:
    """Gemini -> gateway -> Gemini: the signed call comes back with its signature (the
    mock answers 400 otherwise), and the signature reaches the client as Gemini's."""
    gemini = live.gemini
    gemini.queue(
        GReply(calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]),
        GReply(text="Paris 18C, Rome 25C."),
    )
    client = live.client()
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        safety_settings=[
            types.SafetySetting(
                category=types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                threshold=types.HarmBlockThreshold.BLOCK_NONE,
            )
        ],
    )
    question = types.Content(role="user", parts=[types.Part(text="Paris and Rome?")])
    if stream:
        chunks = list(
            client.models.generate_content_stream(model="gem3", contents=[question], config=config)
        )
        parts = [p for c in chunks if c.candidates for p in c.candidates[0].content.parts or []]
        model_turn = types.Content(role="model", parts=[p for p in parts if p.function_call])
    else:
        response = client.models.generate_content(model="gem3", contents=[question], config=config)
        model_turn = response.candidates[0].content
    signed = [p for p in model_turn.parts if p.thought_signature]
    assert len(signed) == 1 and signed[0].function_call.args == {"city": "Paris"}
    issued = gemini.last.body  # what went up: Gemini's own fields kept
    assert issued["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
    ]
    answers = types.Content(
        role="user",
        parts=[
            types.Part.from_function_response(name="get_weather", response={"output": "18C"}),
            types.Part.from_function_response(name="get_weather", response={"output": "25C"}),
        ],
    )
    final = client.models.generate_content(
        model="gem3", contents=[question, model_turn, answers], config=config
    )
    assert final.text == "Paris 18C, Rome 25C."
    history = gemini.last.body["contents"]
    calls = [p for p in history[1]["parts"] if "functionCall" in p]
    # the SDK holds the signature as bytes (base64-decoded): the very ones came back
    assert base64.b64decode(calls[0]["thoughtSignature"]) == signed[0].thought_signature
    assert "thoughtSignature" not in calls[1]
    assert [p["functionResponse"]["name"] for p in history[2]["parts"]] == ["get_weather"] * 2


# --- images ----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", TRANSLATED)
def test_inline_image(live: Live, mock: MockUpstream, route: str) -> None:
    mock.queue(Reply(text="A single pixel."))
    png = base64.b64decode(PNG_B64)
    response = live.client().models.generate_content(
        model=route,
        contents=[
            types.Content(
                role="user",
                parts=[
                    types.Part(text="What is this?"),
                    types.Part.from_bytes(data=png, mime_type="image/png"),
                ],
            )
        ],
    )
    assert response.text == "A single pixel."
    content = mock.last.body["messages"][-1]["content"]
    if route == "mock-gpt":
        urls = [c["image_url"]["url"] for c in content if c["type"] == "image_url"]
        assert [base64.b64decode(u.split(",", 1)[1]) for u in urls] == [png]
        assert urls[0].startswith("data:image/png;base64,")
    else:
        images = [c for c in content if c["type"] == "image"]
        assert images[0]["source"]["media_type"] == "image/png"
        assert base64.b64decode(images[0]["source"]["data"]) == png


# --- JSON output, thinking -------------------------------------------------------------------


@pytest.mark.parametrize("route", TRANSLATED)
def test_json_schema_output(live: Live, mock: MockUpstream, route: str) -> None:
    mock.queue(Reply(text='{"city": "Paris", "temp": 18}'))
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp": {"type": "integer"}},
        "required": ["city", "temp"],
    }
    response = live.client().models.generate_content(
        model=route,
        contents="Weather as JSON",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_json_schema=schema
        ),
    )
    assert response.parsed == {"city": "Paris", "temp": 18}
    body = mock.last.body
    if route == "mock-gpt":
        assert body["response_format"]["type"] == "json_schema"
        assert (
            body["response_format"]["json_schema"]["schema"]["properties"] == schema["properties"]
        )
    else:
        sent = json.dumps(body)
        assert '"temp"' in sent and "integer" in sent  # the schema reached Claude


def test_response_schema_in_googles_openapi_subset(live: Live, mock: MockUpstream) -> None:
    mock.queue(Reply(text='{"names": ["a", "b"]}'))
    response = live.client().models.generate_content(
        model="mock-gpt",
        contents="Two names",
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema=types.Schema(
                type=types.Type.OBJECT,
                properties={
                    "names": types.Schema(
                        type=types.Type.ARRAY, items=types.Schema(type=types.Type.STRING)
                    )
                },
                required=["names"],
            ),
        ),
    )
    assert json.loads(response.text) == {"names": ["a", "b"]}
    schema = mock.last.body["response_format"]["json_schema"]["schema"]
    assert schema["type"] == "object"
    assert schema["properties"]["names"] == {"type": "array", "items": {"type": "string"}}


@pytest.mark.parametrize("route", TRANSLATED)
def test_thinking_comes_back_as_thought_parts(live: Live, mock: MockUpstream, route: str) -> None:
    mock.queue(Reply(text="42.", reasoning="Six times seven.", output_tokens=9))
    response = live.client().models.generate_content(
        model=route,
        contents="6 x 7?",
        config=types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(thinking_budget=1024, include_thoughts=True)
        ),
    )
    parts = response.candidates[0].content.parts
    assert [(p.thought or False, p.text) for p in parts] == [
        (True, "Six times seven."),
        (False, "42."),
    ]
    assert response.text == "42."


# --- counting, models ------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["mock-gpt", "mock-claude", "gem"])
def test_count_tokens(live: Live, mock: MockUpstream, route: str) -> None:
    mock.token_count = 77
    result = live.client().models.count_tokens(model=route, contents="How many tokens is this?")
    if route == "mock-claude":
        assert result.total_tokens == 77  # Anthropic's own count_tokens
        assert mock.seen[-1].path == "/v1/messages/count_tokens"
    elif route == "gem":
        seen = live.gemini.seen[-1]
        assert seen.path == "/v1beta/models/gemini-2.5-pro:countTokens"
        counted = seen.body["generateContentRequest"]
        assert result.total_tokens == gemini_count(counted)  # Gemini's own countTokens
    else:
        assert 3 <= result.total_tokens <= 20  # the gateway's own estimate


@pytest.mark.parametrize("version", ["v1beta", None])
def test_models_list_and_get(live: Live, version: str | None) -> None:
    client = live.client(version)
    names = [m.name for m in client.models.list()]
    assert "models/mock-gpt" in names and "models/gem" in names and "models/gemini/slashed" in names
    model = client.models.get(model="mock-claude")
    assert model.name == "models/mock-claude"
    assert "generateContent" in model.supported_actions
    with pytest.raises(errors.ClientError) as caught:
        client.models.get(model="no-such-route")
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"


def test_v1_models_is_openais_without_a_google_key(live: Live) -> None:
    openai_list = httpx.get(
        live.url + "/v1/models", headers={"Authorization": f"Bearer {MASTER_KEY}"}
    ).json()
    assert openai_list["object"] == "list" and "data" in openai_list
    gemini_list = httpx.get(live.url + "/v1/models", params={"key": MASTER_KEY}).json()
    assert "models" in gemini_list and "data" not in gemini_list


def test_route_name_with_a_slash(live: Live, mock: MockUpstream) -> None:
    live.gemini.queue(GReply(text="slashed ok"))
    response = live.client().models.generate_content(model="gemini/slashed", contents="hi")
    assert response.text == "slashed ok"
    encoded = httpx.post(
        live.url + "/v1beta/models/gemini%2Fslashed:generateContent",
        params={"key": MASTER_KEY},
        json={"contents": [{"parts": [{"text": "hi"}]}]},
    )
    assert encoded.status_code == 200, encoded.text
    assert encoded.json()["modelVersion"] == "gemini/slashed"


# --- errors ----------------------------------------------------------------------------------


def test_unknown_model_is_not_found(live: Live) -> None:
    with pytest.raises(errors.ClientError) as caught:
        live.client().models.generate_content(model="no-such-route", contents="hi")
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"
    assert "no-such-route" in caught.value.message


def test_bad_key_is_unauthenticated(live: Live, mock: MockUpstream) -> None:
    with pytest.raises(errors.ClientError) as caught:
        live.client(key="sy-wrong-key").models.generate_content(model="mock-gpt", contents="hi")
    assert caught.value.code == 401 and caught.value.status == "UNAUTHENTICATED"
    assert "sy-wrong-key" not in caught.value.message
    assert not mock.chat_requests()


def test_key_in_query_and_bad_json(live: Live) -> None:
    url = live.url + "/v1beta/models/mock-gpt:generateContent"
    bad = httpx.post(url, params={"key": MASTER_KEY}, content=b"{not json")
    assert bad.status_code == 400
    assert bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert bad.json()["error"]["code"] == 400
    missing = httpx.post(url, json={"contents": [{"parts": [{"text": "hi"}]}]})
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
    unknown = httpx.post(
        live.url + "/v1beta/models/mock-gpt:embedContent", params={"key": MASTER_KEY}, json={}
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("status", "body", "code", "name", "kind"),
    [
        (
            429,
            {"error": {"message": "slow down", "type": "rate_limit"}},
            429,
            "RESOURCE_EXHAUSTED",
            errors.ClientError,
        ),
        (
            500,
            {"error": {"message": "boom", "type": "server_error"}},
            502,
            "UNAVAILABLE",
            errors.ServerError,
        ),
    ],
)
@pytest.mark.parametrize("upstream", ["gpt", "claude"])
def test_upstream_failures(
    live: Live,
    mock: MockUpstream,
    upstream: str,
    status: int,
    body: dict,
    code: int,
    name: str,
    kind: type,
) -> None:
    mock.queue(Reply.failure(status, body))
    with pytest.raises(kind) as caught:
        live.client().models.generate_content(model=live.spare(upstream), contents="hi")
    assert caught.value.code == code and caught.value.status == name
    assert OPENAI_SECRET not in str(caught.value) and ANTHROPIC_SECRET not in str(caught.value)


def test_invalid_argument_from_a_bad_body(live: Live) -> None:
    with pytest.raises(errors.ClientError) as caught:
        live.client().models.generate_content(
            model="mock-gpt",
            contents="hi",
            config=types.GenerateContentConfig(response_mime_type="text/x.enum"),
        )
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
