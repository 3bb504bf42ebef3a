"""The Gemini codec's client half: what Gemini CLI and google-genai send (golden bodies
under tests/fixtures/gemini/inbound, written from the API reference, in camelCase and
snake_case) to canonical, and canonical answers, streams, errors, model lists and token
counts back in Google's shapes. The two halves agree: a Gemini client's history goes
to a Gemini upstream with its thought signatures, and a rendered stream parses back
(through the upstream half) to the answer it rendered."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.base.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.base.streaming import fold_events
from gateway.base.types import (
    ChatResponse,
    ErrorEvent,
    Finish,
    Image,
    ModelInfo,
    PartStart,
    PartStop,
    Reasoning,
    Start,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
    UsageEvent,
)
from gateway.codecs.base import ClientCodec, Target, WireEvent
from gateway.codecs.gemini import ids, inbound, outbound

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gemini" / "inbound"
SIG = "CpYBAdHt+im9/Lu=="
TARGET = Target(model="gemini-2.5-pro", supports_reasoning=True)


def fixture(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def parse(body: dict[str, Any], model: str = "models/gem", stream: bool = False):
    return inbound.parse_request({**body, "model": model, "stream": stream}, {})


def minimal(**more: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **more}


async def collect(chunks) -> list[bytes]:
    return [chunk async for chunk in chunks]


async def aiter_list(events):
    for event in events:
        yield event


def sse_payloads(chunks: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for chunk in chunks:
        assert chunk.startswith(b"data: ") and chunk.endswith(b"\n\n"), chunk
        out.append(orjson.loads(chunk[6:]))
    return out


def test_the_module_is_a_client_codec() -> None:
    assert isinstance(inbound, ClientCodec)
    assert inbound.name == "gemini"


# --- parse -----------------------------------------------------------------------------


def test_golden_request_parses_to_canonical() -> None:
    request = parse(fixture("request_camel.json"))
    assert request.model == "gem" and request.dialect == "gemini" and not request.stream
    assert [t.text for t in request.system] == ["You are terse.", "Answer in English."]
    assert [m.role for m in request.messages] == ["user", "assistant", "user", "assistant", "user"]
    first, calls, results, _answer, last = request.messages
    assert first.parts == [
        Text("What is the weather in Paris and Rome?"),
        Image(data="iVBORw0KGgo=", media_type="image/png"),
    ]
    thinking, paris, rome = calls.parts
    assert thinking == Thinking("Let me look.")
    assert (paris.name, paris.arguments) == ("get_weather", {"city": "Paris"})
    assert (rome.name, rome.arguments) == ("get_weather", {"city": "Rome"})
    assert ids.signature_of(paris.id) == SIG  # the signature rides in the id
    assert ids.signature_of(rome.id) is None and paris.id != rome.id
    # responses by name, in order: the first answers Paris, the second (an error) Rome
    assert results.parts == [
        ToolResult(call_id=paris.id, content=[Text("18C, cloudy")]),
        ToolResult(call_id=rome.id, content=[Text("station offline")], is_error=True),
    ]
    assert last.parts[1] == Image(
        url="https://example.com/report.pdf", media_type="application/pdf"
    )
    (tool,) = request.tools
    assert tool.name == "get_weather" and tool.description == "Current weather for a city"
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": ["string", "null"], "enum": ["c", "f"]},
        },
        "required": ["city"],
    }
    assert request.tool_choice == ToolChoice("tool", name="get_weather")
    assert (request.temperature, request.top_p, request.top_k) == (0.2, 0.9, 40)
    assert (request.max_tokens, request.n, request.stop) == (512, 1, ["END"])
    assert request.reasoning == Reasoning(budget_tokens=1024)
    assert request.response_format is not None
    assert request.response_format.type == "json_schema"
    assert request.response_format.schema == {
        "type": "object",
        "properties": {"summary": {"type": "string"}},
        "required": ["summary"],
    }
    assert request.unmapped == ["googleSearch", "generationConfig.seed", "safetySettings"]
    assert request.extra["generationConfig"] == {"seed": 7}
    assert request.extra["safetySettings"][0]["threshold"] == "BLOCK_NONE"


def test_snake_case_fields_parse_the_same() -> None:
    camel = parse(fixture("request_camel.json"))
    snake = parse(fixture("request_snake.json"))
    camel.extra.pop("tools"), snake.extra.pop("tools")  # the client's own spelling, kept
    assert snake == camel


def test_signed_history_reaches_a_gemini_upstream_with_its_signature() -> None:
    request = parse(fixture("request_camel.json"))
    body = outbound.build_request(request, TARGET)
    model_turn = body["contents"][1]
    assert model_turn["role"] == "model"
    calls = [p for p in model_turn["parts"] if "functionCall" in p]
    assert calls[0]["thoughtSignature"] == SIG and "thoughtSignature" not in calls[1]
    responses = [p["functionResponse"] for p in body["contents"][2]["parts"]]
    assert responses == [
        {"name": "get_weather", "response": {"result": "18C, cloudy"}},
        {"name": "get_weather", "response": {"error": "station offline"}},
    ]
    # Gemini's own fields go on as the client wrote them
    assert body["safetySettings"] == fixture("request_camel.json")["safetySettings"]
    assert body["tools"] == fixture("request_camel.json")["tools"]
    assert body["generationConfig"]["seed"] == 7
    assert body["generationConfig"]["maxOutputTokens"] == 512
    assert body["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingBudget": 1024,
    }
    assert body["systemInstruction"] == {
        "parts": [{"text": "You are terse."}, {"text": "Answer in English."}]
    }


def test_call_ids_are_stable_and_responses_match_by_id_first() -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "go"}]},
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"id": "call_A", "name": "f", "args": {}}},
                    {"functionCall": {"id": "call_B", "name": "f", "args": {"x": 1}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"id": "call_B", "name": "f", "response": {"r": 2}}},
                    {"functionResponse": {"id": "call_A", "name": "f", "response": {"r": 1}}},
                ],
            },
        ]
    }
    request = parse(body)
    assert [p.id for p in request.messages[1].parts] == ["call_A", "call_B"]
    results = request.messages[2].parts
    assert [(r.call_id, r.content) for r in results] == [
        ("call_B", [Text('{"r":2}')]),
        ("call_A", [Text('{"r":1}')]),
    ]
    without_ids = copy.deepcopy(body)
    for turn in without_ids["contents"][1:]:
        for part in turn["parts"]:
            next(iter(part.values())).pop("id")
    again, once_more = parse(without_ids), parse(without_ids)
    made = [p.id for p in again.messages[1].parts]
    assert made == [p.id for p in once_more.messages[1].parts]  # deterministic
    assert len(set(made)) == 2
    assert [r.call_id for r in again.messages[2].parts] == made  # in order, by name


def test_our_signed_id_echoed_back_keeps_its_signature() -> None:
    signed = ids.call_id("resp-9", 0, "f", SIG)
    body = minimal()
    body["contents"] += [
        {
            "role": "model",
            "parts": [
                {"functionCall": {"id": signed, "name": "f", "args": {}}, "thoughtSignature": SIG}
            ],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"id": signed, "name": "f", "response": {}}}],
        },
    ]
    request = parse(body)
    assert request.messages[1].parts[0].id == signed
    assert request.messages[2].parts[0].call_id == signed
    # google-genai sends the signature back in URL-safe base64: still the same one
    urlsafe = SIG.replace("+", "-").replace("/", "_")
    body["contents"][1]["parts"][0]["thoughtSignature"] = urlsafe
    assert parse(body).messages[1].parts[0].id == signed
    # a client id that cannot carry the signature gets one of ours, answers still match
    body["contents"][1]["parts"][0]["thoughtSignature"] = SIG
    body["contents"][1]["parts"][0]["functionCall"]["id"] = "client-7"
    body["contents"][2]["parts"][0]["functionResponse"]["id"] = "client-7"
    request = parse(body)
    made = request.messages[1].parts[0].id
    assert ids.signature_of(made) == SIG
    assert request.messages[2].parts[0].call_id == made


def test_the_placeholder_signature_keeps_the_clients_id() -> None:
    """Gemini CLI marks calls it got without a signature with Google's placeholder: the
    upstream's id stays (the Gemini upstream half adds the placeholder where needed)."""
    body = minimal()
    body["contents"] += [
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"id": "toolu_1", "name": "f", "args": {}},
                    "thoughtSignature": outbound.PLACEHOLDER_SIGNATURE,
                }
            ],
        },
        {"role": "user", "parts": [{"functionResponse": {"id": "toolu_1", "name": "f"}}]},
    ]
    request = parse(body)
    assert request.messages[1].parts[0].id == "toolu_1"
    assert request.messages[2].parts[0].call_id == "toolu_1"


def test_a_response_to_no_call_is_a_clear_400() -> None:
    body = minimal()
    body["contents"].append(
        {"role": "user", "parts": [{"functionResponse": {"name": "nope", "response": {}}}]}
    )
    with pytest.raises(InvalidRequest, match="answers no earlier functionCall.*'nope'"):
        parse(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"contents": "hi"}, "contents must be a list"),
        ({"contents": []}, "at least one part"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "role must be"),
        ({"contents": [{"parts": [{"text": 5}]}]}, r"parts\[0\].text must be a string"),
        ({"contents": [{"parts": [{}]}]}, "is empty"),
        (minimal(generationConfig={"temperature": "hot"}), "temperature must be a number"),
        (minimal(generationConfig={"maxOutputTokens": 1.5}), "must be an integer"),
        (minimal(generationConfig={"stopSequences": "END"}), "list of strings"),
        (minimal(generationConfig={"responseMimeType": "text/x.enum"}), "not supported"),
        (minimal(toolConfig={"functionCallingConfig": {"mode": "SOMETIMES"}}), "not one of"),
        (minimal(tools=[{"functionDeclarations": [{"description": "x"}]}]), "name must be"),
        (
            {"contents": [{"parts": [{"functionCall": {"name": "f", "args": [1]}}]}]},
            "args must be an object",
        ),
        ({"contents": [{"parts": [{"inlineData": {"mimeType": "image/png"}}]}]}, "base64"),
    ],
)
def test_bad_fields_are_invalid_argument(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse(body)


def test_missing_model_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="model"):
        inbound.parse_request(minimal(), {})


@pytest.mark.parametrize(
    ("config", "choice"),
    [
        ({"mode": "AUTO"}, ToolChoice("auto")),
        ({"mode": "NONE"}, ToolChoice("none")),
        ({"mode": "ANY"}, ToolChoice("required")),
        ({"mode": "ANY", "allowedFunctionNames": ["a", "b"]}, ToolChoice("required")),
        ({"mode": "VALIDATED", "allowedFunctionNames": ["a"]}, ToolChoice("tool", name="a")),
        ({"mode": "MODE_UNSPECIFIED"}, None),
    ],
)
def test_tool_config_modes(config: dict[str, Any], choice: ToolChoice | None) -> None:
    request = parse(minimal(tool_config={"function_calling_config": config}))
    assert request.tool_choice == choice


@pytest.mark.parametrize(
    ("thinking", "reasoning"),
    [
        ({"thinkingBudget": 0}, None),
        ({"thinkingBudget": -1}, Reasoning(effort="medium")),
        ({"thinkingBudget": 2048}, Reasoning(budget_tokens=2048)),
        ({"thinkingLevel": "HIGH"}, Reasoning(effort="high")),
        ({"thinking_level": "low"}, Reasoning(effort="low")),
        ({"includeThoughts": True}, Reasoning(effort="medium")),
        ({}, None),
    ],
)
def test_thinking_config(thinking: dict[str, Any], reasoning: Reasoning | None) -> None:
    request = parse(minimal(generationConfig={"thinkingConfig": thinking}))
    assert request.reasoning == reasoning


def test_json_mime_type_alone_is_json_object_and_json_schema_passes_through() -> None:
    request = parse(minimal(generationConfig={"responseMimeType": "application/json"}))
    assert request.response_format is not None and request.response_format.type == "json_object"
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    request = parse(
        minimal(
            generation_config={
                "response_mime_type": "application/json",
                "response_json_schema": schema,
            }
        )
    )
    assert request.response_format is not None
    assert request.response_format.schema == schema


def test_route_defaults_fill_only_what_the_client_left_unset() -> None:
    body = minimal(generationConfig={"temperature": 0.1})
    body.update({"temperature": 0.9, "max_tokens": 64, "top_p": 0.5, "stop": "X"})
    request = parse(body)
    assert (request.temperature, request.max_tokens, request.top_p) == (0.1, 64, 0.5)
    assert request.stop == ["X"] and request.unmapped == []


def test_string_system_instruction_and_single_content_object() -> None:
    request = parse({"contents": {"parts": [{"text": "hi"}]}, "system_instruction": "Be brief"})
    assert request.system == [Text("Be brief")]
    assert request.messages[0].parts == [Text("hi")]


def test_count_tokens_body_wrapped_in_generate_content_request() -> None:
    body = {"generateContentRequest": {"model": "models/x", **minimal(systemInstruction="S")}}
    request = parse(body)
    assert request.model == "gem" and request.system == [Text("S")]
    assert request.messages[0].parts == [Text("hi")]


# --- render ----------------------------------------------------------------------------


def answer() -> ChatResponse:
    return ChatResponse(
        id="resp-1",
        model="upstream-model",
        parts=[
            Thinking("Weather needs a lookup."),
            Text("Checking."),
            ToolCall(id="toolu_01ABC", name="get_weather", arguments={"city": "Paris"}),
            ToolCall(
                id=ids.call_id("r", 1, "get_weather", SIG),
                name="get_weather",
                raw_arguments='{"city": "Rome"}',
            ),
        ],
        finish_reason="tool_calls",
        usage=Usage(input_tokens=20, output_tokens=15, cache_read_tokens=4, reasoning_tokens=5),
    )


def test_golden_response() -> None:
    request = parse(minimal())
    assert inbound.render_response(answer(), request) == fixture("response_tools.json")


def test_a_response_without_id_gets_one() -> None:
    rendered = inbound.render_response(ChatResponse(id="", model="m"), parse(minimal()))
    assert rendered["responseId"].startswith("resp_") and len(rendered["responseId"]) > 10
    assert rendered["candidates"][0]["finishReason"] == "STOP"


def stream_events() -> list[Any]:
    signed = ids.call_id("r", 1, "get_weather", SIG)
    return [
        Start(id="resp-1", model="upstream-model"),
        PartStart(0, "thinking"),
        ThinkingDelta(0, "Weather needs "),
        ThinkingDelta(0, "a lookup.", signature="anthropic-sig"),
        PartStop(0),
        PartStart(1, "text"),
        TextDelta(1, "Check"),
        TextDelta(1, "ing."),
        PartStop(1),
        PartStart(2, "tool_call", tool_id="toolu_01ABC", tool_name="get_weather"),
        ToolArgsDelta(2, '{"city"'),
        ToolArgsDelta(2, ': "Paris"}'),
        PartStop(2),
        PartStart(3, "tool_call", tool_id=signed, tool_name="get_weather"),
        ToolArgsDelta(3, '{"city": "Rome"}'),
        PartStop(3),
        Finish("tool_calls"),
        UsageEvent(
            Usage(input_tokens=20, output_tokens=15, cache_read_tokens=4, reasoning_tokens=5)
        ),
    ]


async def test_golden_stream() -> None:
    chunks = await collect(inbound.render_stream(aiter_list(stream_events()), parse(minimal())))
    expected = (FIXTURES / "stream_tools.sse").read_bytes()
    assert b"".join(chunks) == expected


async def test_rendered_stream_parses_back_to_the_whole_answer() -> None:
    """The upstream half reads what the client half writes: streamed and whole agree."""
    request = parse(minimal())
    chunks = await collect(inbound.render_stream(aiter_list(stream_events()), request))
    parser = outbound.StreamParser()
    events = []
    for payload in sse_payloads(chunks):
        events.extend(parser.feed(WireEvent(None, payload)))
    events.extend(parser.finish())
    streamed = fold_events(events)
    whole = outbound.parse_response(inbound.render_response(answer(), request))
    assert streamed.parts == whole.parts
    assert ids.signature_of(streamed.tool_calls()[1].id) == SIG  # the signature survives
    assert streamed.finish_reason == whole.finish_reason == "tool_calls"
    assert (
        streamed.usage
        == whole.usage
        == Usage(input_tokens=20, output_tokens=15, cache_read_tokens=4, reasoning_tokens=5)
    )


async def test_stream_error_ends_the_stream_with_the_envelope() -> None:
    events = [
        Start(id="r", model="m"),
        PartStart(0, "text"),
        TextDelta(0, "par"),
        ErrorEvent(UpstreamError("upstream fell over", status=503)),
        TextDelta(0, "never sent"),
    ]
    chunks = await collect(inbound.render_stream(aiter_list(events), parse(minimal())))
    payloads = sse_payloads(chunks)
    assert payloads[0]["candidates"][0]["content"]["parts"] == [{"text": "par"}]
    assert payloads[-1] == {
        "error": {"code": 502, "message": "upstream fell over", "status": "UNAVAILABLE"}
    }
    assert len(payloads) == 2


async def test_a_call_the_upstream_never_closed_is_still_sent() -> None:
    events = [
        Start(id="r", model="m"),
        PartStart(0, "tool_call", tool_id="c1", tool_name="f"),
        ToolArgsDelta(0, '{"a": 1}'),
        Finish("tool_calls"),
    ]
    payloads = sse_payloads(
        await collect(inbound.render_stream(aiter_list(events), parse(minimal())))
    )
    assert payloads[0]["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"id": "c1", "name": "f", "args": {"a": 1}}}
    ]
    assert payloads[-1]["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (InvalidRequest("bad"), 400, "INVALID_ARGUMENT"),
        (AuthenticationFailed("invalid API key"), 401, "UNAUTHENTICATED"),
        (PermissionDenied("not this model"), 403, "PERMISSION_DENIED"),
        (ModelNotFound("model 'x' not found"), 404, "NOT_FOUND"),
        (RateLimited("slow down"), 429, "RESOURCE_EXHAUSTED"),
        (UpstreamError("upstream 500", status=500), 502, "UNAVAILABLE"),
        (UpstreamError("upstream 429", status=429), 429, "RESOURCE_EXHAUSTED"),
        (UpstreamTimeout("slow upstream"), 504, "DEADLINE_EXCEEDED"),
        (GatewayError("internal error (KeyError)"), 500, "INTERNAL"),
    ],
)
def test_errors_in_googles_envelope(error: GatewayError, code: int, status: str) -> None:
    assert inbound.render_error(error) == {
        "error": {"code": code, "message": error.message, "status": status}
    }


def test_models_and_token_counts() -> None:
    listing = inbound.render_models([ModelInfo(id="gem"), ModelInfo(id="gemini/flash")])
    names = [m["name"] for m in listing["models"]]
    assert names == ["models/gem", "models/gemini/flash"]
    assert "generateContent" in listing["models"][0]["supportedGenerationMethods"]
    assert inbound.render_count_tokens(42) == {"totalTokens": 42}
