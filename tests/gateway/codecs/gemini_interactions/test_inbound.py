"""The Interactions client half against golden shapes (tests/fixtures/gemini_interactions,
written from Google's documentation and checked here against the ``google-genai`` SDK's
own models): create bodies parsed into canonical requests, answers rendered as
resources, streams as events with an ``event_id`` each ending with ``[DONE]``, a stream
folded back into the resource's steps, and errors in the envelope the SDK reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.genai import interactions as sdk
from pydantic import TypeAdapter

from gateway.base.errors import InvalidRequest, ModelNotFound, RateLimited, UpstreamError
from gateway.base.types import (
    ChatResponse,
    Finish,
    PartStart,
    PartStop,
    Start,
    StreamEvent,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
    ToolResult,
    Usage,
    UsageEvent,
)
from gateway.codecs.gemini_interactions import inbound, maps

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gemini_interactions"
EVENTS = TypeAdapter(sdk.InteractionSSEEvent)


def fixture(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def sse(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# --- the fixtures are what the SDK reads ----------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.request.json")))
def test_request_fixtures_are_valid_create_bodies(name: str) -> None:
    sdk.CreateModelInteraction.model_validate(fixture(name))


@pytest.mark.parametrize("name", ["interaction_text.json", "interaction_function_call.json"])
def test_resource_fixtures_are_valid_interactions(name: str) -> None:
    parsed = sdk.Interaction.model_validate(fixture(name))
    assert parsed.steps and not any(getattr(s, "is_unknown", False) for s in parsed.steps)


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_function_call.sse"])
def test_stream_fixtures_are_valid_events_each_with_an_id(name: str) -> None:
    raw = sse(name)
    assert raw.rstrip().endswith(b"data: [DONE]")
    for payload in inbound.parse_sse(raw):
        event = EVENTS.validate_python(payload)
        assert not getattr(event, "is_unknown", False), payload
        assert event.event_id


def test_the_error_fixture_is_the_sdks_error_model() -> None:
    from google.genai._gaos.errors.createinteraction import CreateInteractionClientErrorData

    CreateInteractionClientErrorData.model_validate(fixture("error_not_found.json"))


# --- requests ------------------------------------------------------------------------------


def test_a_text_create_with_generation_config() -> None:
    request = inbound.parse_request(fixture("create_text.request.json"), {})
    assert request.model == "gemini-3-flash-preview"
    assert [m.role for m in request.messages] == ["user"]
    assert request.messages[0].parts == [Text("Tell me a short joke about programming.")]
    assert request.system == [Text("You are a terse comedian.")]
    assert (request.temperature, request.top_p, request.max_tokens) == (0.7, 0.9, 256)
    assert request.stop == ["END"] and request.reasoning is not None
    assert request.reasoning.effort == "low"
    assert request.unmapped == [] and request.stream is False


def test_flat_function_tools_and_tool_choice() -> None:
    request = inbound.parse_request(fixture("create_tools.request.json"), {})
    (tool,) = request.tools
    assert tool.name == "get_weather" and tool.parameters["required"] == ["city"]
    assert request.tool_choice is not None and request.tool_choice.mode == "auto"


def test_a_stateless_history_of_steps_becomes_paired_turns() -> None:
    request = inbound.parse_request(fixture("create_steps.request.json"), {})
    roles = [m.role for m in request.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    thought, call = request.messages[1].parts
    assert isinstance(thought, Thinking) and thought.signature == "dGhvdWdodC1zaWduYXR1cmU="
    assert call == ToolCall("call_paris_1", "get_weather", {"city": "Paris"})
    (result,) = request.messages[2].parts
    assert isinstance(result, ToolResult) and result.call_id == "call_paris_1"
    assert result.content == [Text("21C and sunny")] and not result.is_error
    assert request.messages[4].parts == [Text("And tomorrow?")]


def test_an_object_result_is_sent_as_its_json() -> None:
    body = fixture("create_function_result.request.json")
    call = {"type": "function_call", "id": "call_paris_1", "name": "get_weather", "arguments": {}}
    body["input"] = [call, *body["input"]]
    request = inbound.parse_request(body, {})
    (result,) = request.messages[-1].parts
    assert isinstance(result, ToolResult)
    assert orjson.loads(result.content[0].text) == {"temperature_c": 21, "sky": "sunny"}  # type: ignore[union-attr]
    assert request.echo == {"previous_interaction_id": "int_aaaaaaaaaaaaaaaaaaaaaaaa"}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"input": [{"type": "function_result", "call_id": "x", "result": "r"}]}, "answers no"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "flat"),
        ({"tools": [{"type": "google_search"}]}, "google_search"),
        ({"input": [{"type": "google_search_call"}]}, "google_search_call"),
        ({"response_modalities": ["image"]}, "text only"),
        ({"model": None}, "model"),
        ({"input": None}, "input"),
        ({"generation_config": {"tool_choice": "sometimes"}}, "tool_choice"),
    ],
)
def test_what_the_gateway_cannot_carry_is_refused(change: dict[str, Any], words: str) -> None:
    body = {**fixture("create_text.request.json"), **change}
    with pytest.raises(InvalidRequest, match=words):
        inbound.parse_request(body, {})


def test_input_as_the_timeline_shows_it() -> None:
    assert inbound.input_steps("hi") == [
        {"type": "user_input", "content": [{"type": "text", "text": "hi"}]}
    ]
    contents = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert inbound.input_steps(contents) == [{"type": "user_input", "content": contents}]
    steps = fixture("create_steps.request.json")["input"]
    assert inbound.input_steps(steps) == steps


# --- answers -------------------------------------------------------------------------------

USAGE = Usage(input_tokens=17, output_tokens=20, cache_read_tokens=4, reasoning_tokens=8)


def test_an_answer_renders_as_the_golden_resource() -> None:
    request = inbound.parse_request(fixture("create_text.request.json"), {})
    golden = fixture("interaction_text.json")
    text = golden["steps"][1]["content"][0]["text"]
    signature = golden["steps"][0]["signature"]
    parts = [Thinking("A pun about bugs.", signature=signature), Text(text)]
    response = ChatResponse("chatcmpl-9", "up-1", parts=parts, usage=USAGE)
    rendered = inbound.render_response(response, request)
    sdk.Interaction.model_validate(rendered)
    assert rendered["id"].startswith("int_")
    same = ("object", "model", "status", "steps", "usage")
    assert {k: rendered[k] for k in same} == {k: golden[k] for k in same}


def test_a_function_call_answer_requires_action() -> None:
    request = inbound.parse_request(fixture("create_tools.request.json"), {})
    golden = fixture("interaction_function_call.json")
    parts = [
        Thinking("", signature="dGhvdWdodC1zaWduYXR1cmU="),
        ToolCall("call_paris_1", "get_weather", {"city": "Paris"}),
    ]
    usage = Usage(input_tokens=40, output_tokens=9)
    response = ChatResponse("x", "up", parts=parts, finish_reason="tool_calls", usage=usage)
    rendered = inbound.render_response(response, request)
    same = ("status", "steps", "usage")
    assert {k: rendered[k] for k in same} == {k: golden[k] for k in same}


# --- streams -------------------------------------------------------------------------------


async def events(*items: StreamEvent) -> AsyncIterator[StreamEvent]:
    for item in items:
        yield item


async def rendered(request: Any, *items: StreamEvent) -> bytes:
    return b"".join([c async for c in inbound.render_stream(events(*items), request)])


def shape(payloads: list[dict[str, Any]]) -> list[Any]:
    """Events without what differs between runs (ids, timestamps)."""
    out = []
    for p in payloads:
        p = {k: v for k, v in p.items() if k != "event_id"}
        if "interaction" in p:
            drop = ("id", "created", "updated")
            p["interaction"] = {k: v for k, v in p["interaction"].items() if k not in drop}
        out.append(p)
    return out


async def test_a_text_stream_renders_as_the_golden_events() -> None:
    request = inbound.parse_request(fixture("create_text.request.json"), {})
    out = await rendered(
        request,
        Start("chatcmpl-1", "up-1"),
        PartStart(0, "thinking"),
        ThinkingDelta(0, "A pun about bugs."),
        ThinkingDelta(0, signature="c2lnbmF0dXJlLW9mLXRoZS10aG91Z2h0"),
        PartStop(0),
        PartStart(1, "text"),
        TextDelta(1, "Why do programmers prefer dark mode? "),
        TextDelta(1, "Light attracts bugs."),
        PartStop(1),
        Finish("stop"),
        UsageEvent(USAGE),
    )
    assert out.endswith(b"\n\ndata: [DONE]\n\n")
    ours, golden = inbound.parse_sse(out), inbound.parse_sse(sse("stream_text.sse"))
    assert shape(ours) == shape(golden)
    ids = [p["event_id"] for p in ours]
    assert len(set(ids)) == len(ids)
    for payload in ours:
        EVENTS.validate_python(payload)


async def test_a_function_call_stream_streams_its_arguments() -> None:
    request = inbound.parse_request(fixture("create_tools.request.json"), {})
    out = await rendered(
        request,
        Start("c", "up"),
        PartStart(0, "tool_call", tool_id="call_paris_1", tool_name="get_weather"),
        ToolArgsDelta(0, '{"city":'),
        ToolArgsDelta(0, '"Paris"}'),
        PartStop(0),
        Finish("tool_calls"),
        UsageEvent(Usage(input_tokens=40, output_tokens=9)),
    )
    golden = inbound.parse_sse(sse("stream_function_call.sse"))
    assert shape(inbound.parse_sse(out)) == shape(golden)


@pytest.mark.parametrize(
    ("stream", "resource"),
    [
        ("stream_text.sse", "interaction_text.json"),
        ("stream_function_call.sse", "interaction_function_call.json"),
    ],
)
def test_a_stream_folds_into_the_resources_steps(stream: str, resource: str) -> None:
    steps = inbound.fold_steps(inbound.parse_sse(sse(stream)))
    expected = fixture(resource)["steps"]
    if stream == "stream_function_call.sse":  # its fixture streams no thought
        expected = expected[1:]
    assert steps == expected


def test_a_resource_replays_as_a_stream_that_folds_back() -> None:
    resource = fixture("interaction_text.json")
    payloads = inbound.replay_events(resource)
    for payload in payloads:
        EVENTS.validate_python(payload)
    assert inbound.fold_steps(payloads) == resource["steps"]
    stream = inbound.sse_events(payloads)
    numbered = inbound.parse_sse(stream)
    after = inbound.sse_events(numbered, numbered[2]["event_id"])
    assert inbound.parse_sse(after) == numbered[3:]
    assert after.endswith(maps.DONE)


async def test_an_upstream_failure_mid_stream_is_an_error_event_then_done() -> None:
    from gateway.base.types import ErrorEvent

    request = inbound.parse_request(fixture("create_text.request.json"), {})
    failure = UpstreamError("the model crashed", status=500)
    out = await rendered(request, Start("c", "up"), PartStart(0, "text"), ErrorEvent(failure))
    payloads = inbound.parse_sse(out)
    assert payloads[-1]["event_type"] == "error" and payloads[-1]["event_id"]
    assert payloads[-1]["error"] == {"code": "unavailable", "message": "the model crashed"}
    assert out.endswith(maps.DONE)
    EVENTS.validate_python(payloads[-1])


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidRequest("bad"), 400, "invalid_argument"),
        (ModelNotFound("gone"), 404, "not_found"),
        (RateLimited("slow down"), 429, "resource_exhausted"),
        (UpstreamError("boom", status=503), 502, "unavailable"),
        (UpstreamError("late", status=504), 504, "deadline_exceeded"),
    ],
)
def test_errors_in_googles_envelope_with_string_codes(error: Any, status: int, code: str) -> None:
    from google.genai._gaos.errors.createinteraction import CreateInteractionClientErrorData

    assert inbound.client_status(error) == status
    body = inbound.render_error(error)
    assert body == {"error": {"code": code, "message": error.message}}
    CreateInteractionClientErrorData.model_validate(body)
    tail = inbound.render_stream_error(error)
    assert tail.startswith(b"event: error\n") and tail.endswith(maps.DONE)
