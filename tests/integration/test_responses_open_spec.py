"""The Responses API against the Open Responses specification (2026-04-24), end to end:
a real gateway, the official ``openai`` SDK and raw HTTP / WebSocket clients, routes on
a mock OpenAI-compatible upstream (``mock-gpt``), a mock Anthropic upstream
(``mock-claude``), a mock OpenAI Responses upstream (``resp``, passed through), the mock
Gemini API (``gem``) and a mock Bedrock runtime (``bed``, SigV4 verified).

Every body the gateway answers (JSON, each SSE event and the response it embeds, each
WebSocket frame, the compaction object) is validated against the spec's schemas
(``tests/openresponses.py``). Also: ``POST /v1/responses/compact`` (summarised by the
route's model, or the upstream's own), ``previous_response_not_found``, a failed
WebSocket continuation evicting a ``store: false`` response, and the gateway's own check
that each ``function_call_output`` answers a call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.aws import ACCESS_KEY, REGION, SECRET_KEY
from tests.live import MASTER_KEY, free_port, running_gateway
from tests.openresponses import assert_valid, assert_valid_event

from .bedrock_upstream import BedrockReply, MockBedrock
from .bedrock_upstream import ToolUse as BedrockToolUse
from .conftest import Stack, setup_code
from .mock_gemini import GReply, MockGemini
from .mock_responses_upstream import (
    NATIVE_COMPACTION,
    FunctionCall,
    MockResponsesUpstream,
    ResponsesReply,
)
from .mock_upstream import MockUpstream, Reply, ToolUse

RESPONSES_SETUP = """
from gateway.models import Deployment, Provider, Route
p = Provider(name="mock-responses", kind="openai_responses", base_url="{url}/v1")
p.set_secret("sk-upstream-responses-0123456789")
p.save()
r = Route.objects.create(name="resp", max_attempts=1)
Deployment.objects.create(route=r, provider=p, model="gpt-4.1", max_output_tokens=8192,
    context_window=200000)
g = Provider(name="mock-gemini", kind="gemini", base_url="{gemini}")
g.set_secret("{gemini_key}")
g.save()
r = Route.objects.create(name="gem", max_attempts=1)
Deployment.objects.create(route=r, provider=g, model="gemini-2.5-flash")
b = Provider(name="mock-bedrock", kind="bedrock", base_url="{bedrock}")
b.set_secret("{aws_secret}")
b.save()
r = Route.objects.create(name="bed", max_attempts=1)
Deployment.objects.create(route=r, provider=b, model="anthropic.claude-sonnet-4",
    params={{"aws_access_key_id": "{aws_key}", "aws_region_name": "{region}"}})
"""
ROUTES = ["mock-gpt", "mock-claude", "resp", "gem", "bed"]
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


class Upstreams:
    def __init__(
        self,
        chat: MockUpstream,
        responses: MockResponsesUpstream,
        gemini: MockGemini,
        bedrock: MockBedrock,
    ) -> None:
        self.chat, self.responses, self.gemini, self.bedrock = chat, responses, gemini, bedrock

    def reset(self) -> None:
        self.chat.reset()
        self.responses.reset()
        self.gemini.reset()
        self.bedrock.reset()

    def text(self, route: str, text: str) -> None:
        if route == "resp":
            self.responses.queue(ResponsesReply(text=text))
        elif route == "gem":
            self.gemini.queue(GReply(text=text))
        elif route == "bed":
            self.bedrock.queue(BedrockReply(text=text))
        else:
            self.chat.queue(Reply(text=text))

    def call(self, route: str, call_id: str) -> None:
        """A function call (Gemini's has no id: the gateway names it)."""
        args = '{"city": "Oslo"}'
        if route == "resp":
            self.responses.queue(
                ResponsesReply(text="", calls=[FunctionCall(call_id, "get_weather", args)])
            )
        elif route == "gem":
            self.gemini.queue(GReply(calls=[("get_weather", {"city": "Oslo"})]))
        elif route == "bed":
            self.bedrock.queue(
                BedrockReply(tool_calls=[BedrockToolUse(call_id, "get_weather", {"city": "Oslo"})])
            )
        else:
            self.chat.queue(Reply(tool_calls=[ToolUse(call_id, "get_weather", args)]))

    def requests(self, route: str) -> list[Any]:
        if route == "resp":
            return [s for s in self.responses.seen if s.path.endswith("/responses")]
        if route == "gem":
            return self.gemini.chats
        if route == "bed":
            return [s for s in self.bedrock.seen if "/converse" in s.path]
        return self.chat.chat_requests()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Upstreams]]:
    chat, responses = MockUpstream().start(), MockResponsesUpstream().start()
    gemini, bedrock = MockGemini().start(), MockBedrock().start()
    dead = f"http://127.0.0.1:{free_port()}"
    more = RESPONSES_SETUP.format(
        url=responses.url,
        gemini=gemini.url,
        gemini_key=gemini.api_key,
        bedrock=bedrock.url,
        aws_key=ACCESS_KEY,
        aws_secret=SECRET_KEY,
        region=REGION,
    )
    try:
        with running_gateway(
            tmp_path_factory.mktemp("gateway"),
            setup=[["shell", "-c", setup_code(chat.url, dead)], ["shell", "-c", more]],
        ) as gw:
            running = Stack(gw=gw, mock=chat)
            yield running, Upstreams(chat, responses, gemini, bedrock)
            running.assert_clean_log()
            assert bedrock.rejected == []  # every Bedrock call's signature verified
    finally:
        chat.stop()
        responses.stop()
        gemini.stop()
        bedrock.stop()


@pytest.fixture
def gw(stack: tuple[Stack, Upstreams]) -> Stack:
    return stack[0]


@pytest.fixture
def up(stack: tuple[Stack, Upstreams]) -> Iterator[Upstreams]:
    stack[1].reset()
    yield stack[1]
    stack[1].reset()


def post(gw: Stack, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    return httpx.post(gw.url + path, json=body, headers=headers, timeout=30)


def sse_events(raw: str) -> tuple[list[dict[str, Any]], bool]:
    """The events of an SSE body (``event:`` checked against ``type``), and whether it
    ended with ``[DONE]``."""
    events, done = [], False
    for block in raw.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        if fields.get("data") == "[DONE]":
            done = True
        elif "data" in fields:
            event = json.loads(fields["data"])
            assert fields.get("event") == event["type"]
            events.append(event)
    return events, done


def raw_socket(gw: Stack):  # type: ignore[no-untyped-def]
    from websockets.sync.client import connect

    url = gw.url.replace("http://", "ws://") + "/v1/responses"
    return connect(url, additional_headers={"Authorization": f"Bearer {MASTER_KEY}"})


def turn(socket: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Send one response.create; the frames until its terminal event, each validated."""
    socket.send(json.dumps({"type": "response.create", **body}))
    events = []
    while True:
        event = json.loads(socket.recv(timeout=20))
        assert_valid_event(event, websocket=True)
        if "response" in event:
            assert_valid(event["response"], "ResponseResource")
        events.append(event)
        if event["type"] in ("response.completed", "response.failed", "error"):
            return events


# --- every body validates -------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_json_sse_and_websocket_bodies_validate_against_the_spec(
    gw: Stack, up: Upstreams, route: str
) -> None:
    up.call(route, "call_v1")
    created = post(gw, "/v1/responses", {"model": route, "input": "Weather?", "tools": [WEATHER]})
    assert created.status_code == 200, created.text
    assert_valid(created.json(), "ResponseResource")
    body = created.json()
    assert body["completed_at"] is not None and body["store"] is True
    assert isinstance(body["temperature"], float) and isinstance(body["top_p"], float)
    [call] = [item for item in body["output"] if item["type"] == "function_call"]

    up.text(route, "Sunny in Oslo.")
    streamed = post(
        gw,
        "/v1/responses",
        {
            "model": route,
            "stream": True,
            "previous_response_id": body["id"],
            "tools": [WEATHER],
            "input": [
                {"type": "function_call_output", "call_id": call["call_id"], "output": "20C"}
            ],
        },
    )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events, done = sse_events(streamed.text)
    assert done or route == "resp"  # a passed-through stream ends as its upstream's does
    for event in events:
        assert_valid_event(event)
        if "response" in event:
            assert_valid(event["response"], "ResponseResource")
    final = events[-1]["response"]
    assert final["status"] == "completed" and final["previous_response_id"] == body["id"]
    assert final["store"] is True  # the gateway stored it, whatever the upstream said

    stored = httpx.get(
        f"{gw.url}/v1/responses/{final['id']}", headers={"authorization": f"Bearer {MASTER_KEY}"}
    )
    assert_valid(stored.json(), "ResponseResource")

    up.text(route, "Socket answer.")
    with raw_socket(gw) as socket:
        events = turn(socket, {"model": route, "store": False, "input": "hi"})
    assert events[-1]["type"] == "response.completed"
    # and the official SDK reads the same bodies
    sdk = gw.openai()
    up.text(route, "SDK answer.")
    assert sdk.responses.create(model=route, input="hi").output_text == "SDK answer."


# A 1x1 PNG, as the Open Responses compliance suite's image-input case sends one.
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
WEATHER_IN_SF = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a location",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}


@pytest.mark.parametrize("route", ROUTES)
def test_the_compliance_suites_cases(gw: Stack, up: Upstreams, route: str) -> None:
    """The requests of the Open Responses compliance suite (its ``compliance-tests``
    templates: system prompt, image input, multi-turn history, a streamed tool call),
    each answer validated and checked as that suite checks it."""
    cases = [
        [
            {"type": "message", "role": "system", "content": "You are a pirate."},
            {"type": "message", "role": "user", "content": "Say hello."},
        ],
        [
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What do you see?"},
                    {"type": "input_image", "image_url": PIXEL},
                ],
            }
        ],
        [
            {"type": "message", "role": "user", "content": "My name is Alice."},
            {"type": "message", "role": "assistant", "content": "Hello Alice!"},
            {"type": "message", "role": "user", "content": "What is my name?"},
        ],
    ]
    for items in cases:
        up.text(route, "Ahoy.")
        answer = post(gw, "/v1/responses", {"model": route, "input": items})
        assert answer.status_code == 200, answer.text
        assert_valid(answer.json(), "ResponseResource")
        assert answer.json()["status"] == "completed" and answer.json()["output"]
    up.call(route, "call_sf")
    ask = {"type": "message", "role": "user", "content": "Weather in San Francisco?"}
    streamed = post(
        gw,
        "/v1/responses",
        {"model": route, "input": [ask], "tools": [WEATHER_IN_SF], "stream": True},
    )
    events, _done = sse_events(streamed.text)
    for event in events:
        assert_valid_event(event)
    kinds = [e["type"] for e in events]
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    for kind in ("response.output_item.added", "response.output_item.done"):
        assert any(e["type"] == kind and e["item"]["type"] == "function_call" for e in events)
    assert_valid(events[-1]["response"], "ResponseResource")


def test_error_events_validate(gw: Stack, up: Upstreams) -> None:
    up.chat.queue(Reply(text="partial answer", error_after=3, error={"error": {"message": "x"}}))
    streamed = post(gw, "/v1/responses", {"model": "mock-gpt", "stream": True, "input": "hi"})
    events, done = sse_events(streamed.text)
    assert done and [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    for event in events:
        assert_valid_event(event)


# --- error codes ----------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_unknown_previous_response_id_is_previous_response_not_found(
    gw: Stack, up: Upstreams, route: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gw.openai().responses.create(model=route, input="x", previous_response_id="resp_nope")
    assert caught.value.status_code == 400
    assert caught.value.body["code"] == "previous_response_not_found"
    assert caught.value.body["param"] == "previous_response_id"
    with raw_socket(gw) as socket:
        [error] = turn(socket, {"model": route, "input": "x", "previous_response_id": "resp_no"})
    assert (error["status"], error["error"]["code"]) == (400, "previous_response_not_found")
    assert up.requests(route) == []


@pytest.mark.parametrize("route", ROUTES)
def test_store_false_is_never_continuable_over_http(gw: Stack, up: Upstreams, route: str) -> None:
    up.text(route, "Forget me.")
    first = gw.openai().responses.create(model=route, input="hi", store=False)
    with pytest.raises(openai.BadRequestError) as caught:
        gw.openai().responses.create(model=route, input="x", previous_response_id=first.id)
    assert caught.value.body["code"] == "previous_response_not_found"


@pytest.mark.parametrize("route", ROUTES)
def test_a_function_call_output_must_answer_a_call(gw: Stack, up: Upstreams, route: str) -> None:
    stray = {"type": "function_call_output", "call_id": "call_nobody_made", "output": "x"}
    with pytest.raises(openai.BadRequestError) as caught:
        gw.openai().responses.create(model=route, input=[stray])
    assert caught.value.body["param"] == "input[0].call_id"
    assert "call_nobody_made" in caught.value.message
    assert up.requests(route) == []  # refused by the gateway, on every upstream


@pytest.mark.parametrize("route", ROUTES)
def test_a_failed_websocket_continuation_evicts_a_store_false_response(
    gw: Stack, up: Upstreams, route: str
) -> None:
    """The spec's scenario: continue a store:false response with a tool output that
    answers no call (refused), then continue the same id again: it is gone."""
    up.text(route, "OK.")
    up.text(route, "Still here.")
    with raw_socket(gw) as socket:
        first = turn(socket, {"model": route, "store": False, "input": "Remember: ember."})
        first_id = first[-1]["response"]["id"]
        stray = {"type": "function_call_output", "call_id": "call_missing", "output": "x"}
        [failed] = turn(
            socket,
            {"model": route, "store": False, "previous_response_id": first_id, "input": [stray]},
        )
        assert failed["type"] == "error" and failed["status"] == 400
        [evicted] = turn(
            socket,
            {"model": route, "store": False, "previous_response_id": first_id, "input": "again"},
        )
        assert evicted["error"]["code"] == "previous_response_not_found"
        # a successful continuation keeps working (nothing else was forgotten)
        second = turn(socket, {"model": route, "store": False, "input": "new chain"})
        assert second[-1]["type"] == "response.completed"
    assert len(up.requests(route)) == 2


# --- compaction -----------------------------------------------------------------------------

CONVERSATION = [
    {"type": "message", "role": "user", "content": "We launch on Tuesday; notify support."},
    {"type": "message", "role": "assistant", "content": "Understood: Tuesday, support first."},
    {"type": "function_call", "call_id": "call_c1", "name": "get_weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_c1", "output": "rain"},
    {"type": "message", "role": "user", "content": "Compact this for later."},
]


@pytest.mark.parametrize("route", ["mock-gpt", "mock-claude"])
def test_compact_summarises_with_the_routes_model(gw: Stack, up: Upstreams, route: str) -> None:
    up.chat.queue(
        Reply(text="Launch Tuesday; support notified first; weather: rain."),
        Reply(text="A second summary."),
    )
    sdk = gw.openai()
    compacted = sdk.responses.compact(
        model=route, input=CONVERSATION, instructions="Be a launch planner."
    )
    assert compacted.object == "response.compaction"
    kinds = [(item.type, getattr(item, "role", None)) for item in compacted.output]
    assert kinds == [("message", "user"), ("message", "user"), ("compaction", None)]
    assert compacted.usage.output_tokens == 7
    raw = post(gw, "/v1/responses/compact", {"model": route, "input": CONVERSATION[:2]})
    assert_valid(raw.json(), "CompactResource")
    # the summary call saw the whole conversation, tool call and result included
    asked = json.dumps(up.chat.chat_requests()[0].body)
    assert "Tuesday" in asked and "rain" in asked and "launch planner" in asked

    # the window goes back as the next input, over HTTP and over a socket
    window = [item.model_dump(exclude_none=True) for item in compacted.output]
    up.chat.reset()
    up.chat.queue(Reply(text="On it."), Reply(text="Still on it."))
    follow = [*window, {"type": "message", "role": "user", "content": "Status?"}]
    answer = sdk.responses.create(model=route, input=follow)
    assert answer.output_text == "On it."
    sent = json.dumps(up.chat.last.body)
    assert "Launch Tuesday; support notified first" in sent  # the sealed summary, opened
    assert "Compact this for later." in sent  # the user messages kept
    with raw_socket(gw) as socket:
        events = turn(socket, {"model": route, "store": False, "input": follow})
    assert events[-1]["type"] == "response.completed"
    missing = post(gw, "/v1/responses/compact", {"input": "x"})  # the model is required
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "model"


@pytest.mark.parametrize("route", ["gem", "bed"])
def test_compact_on_gemini_and_bedrock_is_summarised_by_the_routes_model(
    gw: Stack, up: Upstreams, route: str
) -> None:
    up.text(route, "Launch Tuesday; weather: rain.")
    compacted = gw.openai().responses.compact(model=route, input=CONVERSATION)
    assert [item.type for item in compacted.output] == ["message", "message", "compaction"]
    [asked] = up.requests(route)
    assert "Tuesday" in json.dumps(asked.body) and "rain" in json.dumps(asked.body)
    up.text(route, "Second summary.")
    raw = post(gw, "/v1/responses/compact", {"model": route, "input": CONVERSATION[:2]})
    assert_valid(raw.json(), "CompactResource")
    up.text(route, "On it.")  # the window continues on the same upstream
    window = [item.model_dump(exclude_none=True) for item in compacted.output]
    follow = [*window, {"type": "message", "role": "user", "content": "Status?"}]
    assert gw.openai().responses.create(model=route, input=follow).output_text == "On it."
    assert "Launch Tuesday; weather: rain." in json.dumps(up.requests(route)[-1].body)


def test_compact_on_a_responses_upstream_is_its_own(gw: Stack, up: Upstreams) -> None:
    up.chat.queue(Reply(text="Stored."))
    first = gw.openai().responses.create(model="mock-gpt", input="Remember: slate.")
    compacted = gw.openai().responses.compact(model="resp", previous_response_id=first.id)
    [seen] = [s for s in up.responses.seen if s.path.endswith("/responses/compact")]
    assert seen.path == "/v1/responses/compact" and seen.body["model"] == "gpt-4.1"
    assert "previous_response_id" not in seen.body  # resolved here: the chain's items
    texts = json.dumps(seen.body["input"])
    assert "Remember: slate." in texts and "Stored." in texts
    assert compacted.output[-1].type == "compaction"
    assert compacted.output[-1].encrypted_content == NATIVE_COMPACTION
    raw = post(gw, "/v1/responses/compact", {"model": "resp", "input": "x"})
    assert_valid(raw.json(), "CompactResource")
    # the upstream's sealed item goes back to it unchanged
    up.responses.queue(ResponsesReply(text="Continued."))
    window = [item.model_dump(exclude_none=True) for item in compacted.output]
    answer = gw.openai().responses.create(
        model="resp", input=[*window, {"role": "user", "content": "go on"}]
    )
    assert answer.output_text == "Continued."
    assert NATIVE_COMPACTION in json.dumps(up.responses.seen[-1].body["input"])


def test_compact_on_a_responses_upstream_without_compaction_is_summarised(
    gw: Stack, up: Upstreams
) -> None:
    """A Responses API server without /responses/compact (vLLM's, Ollama's): the
    route's model writes the summary instead of the 404 reaching the client."""
    up.responses.compacts = False
    up.responses.queue(ResponsesReply(text="Launch Tuesday; weather: rain."))
    compacted = gw.openai().responses.compact(model="resp", input=CONVERSATION)
    assert [item.type for item in compacted.output] == ["message", "message", "compaction"]
    assert compacted.output[-1].encrypted_content.startswith("switchyard-compaction:")
    tried, summarised = up.responses.seen
    assert tried.path == "/v1/responses/compact" and summarised.path == "/v1/responses"
    assert "Tuesday" in json.dumps(summarised.body["input"])


def test_compactions_are_journaled_and_priced_like_calls(gw: Stack) -> None:
    code = (
        "from gateway.models import RequestLog; "
        "print(RequestLog.objects.filter(endpoint='compact', status=200).count())"
    )
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if int(gw.gw.shell(code).strip().splitlines()[-1]) >= 1:
            return
        time.sleep(0.5)
    raise AssertionError("no compaction in the journal")
