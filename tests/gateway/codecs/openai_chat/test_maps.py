"""The OpenAI chat maps are one copy: finish reasons read the same whole and streamed,
and an error (a timeout among them) renders the same in a body, in a translated stream
and in a passed-through stream."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway.base import http
from gateway.base.entries import ProviderEntry
from gateway.base.errors import RateLimited, UpstreamError, UpstreamTimeout
from gateway.base.types import ChatRequest, ErrorEvent, Finish, Message, Text
from gateway.codecs.base import Target, UpstreamCodec, WireEvent
from gateway.codecs.openai_chat import codec, inbound, maps, outbound
from gateway.core import service
from gateway.providers.base import Exchange
from gateway.providers.openai_compatible import OpenAICompatibleProvider
from tests.gateway import entries


def _answer(finish: str, calls: bool = False) -> dict:
    message: dict = {"role": "assistant", "content": "hi"}
    if calls:
        message["tool_calls"] = [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ]
    return {"id": "c1", "model": "m", "choices": [{"message": message, "finish_reason": finish}]}


@pytest.mark.parametrize(
    ("raw", "calls", "finish"),
    [
        ("stop", False, "stop"),
        ("stop", True, "tool_calls"),
        ("function_call", False, "tool_calls"),
        ("length", False, "length"),
        ("content_filter", False, "content_filter"),
        ("something_new", False, "stop"),
    ],
)
def test_finish_reasons_read_the_same_whole_and_streamed(raw, calls, finish):
    assert outbound.parse_response(_answer(raw, calls)).finish_reason == finish
    translator = outbound.ChunkTranslator()
    delta: dict = {"content": "hi"}
    if calls:
        delta["tool_calls"] = [{"index": 0, "id": "call_1", "function": {"name": "f"}}]
    events = translator.feed({"choices": [{"delta": delta, "finish_reason": raw}]})
    events += translator.finish()
    assert [e for e in events if isinstance(e, Finish)] == [Finish(finish)]


def test_every_canonical_finish_renders_as_an_openai_finish_reason():
    for finish in ("stop", "length", "tool_calls", "content_filter", "stop_sequence", "error"):
        assert maps.FINISH_OUT[finish] in maps.FINISH_REASONS


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (UpstreamTimeout("upstream took too long"), "api_error", "timeout"),
        (RateLimited("slow down"), "rate_limit_error", "rate_limit_exceeded"),
    ],
)
def test_errors_render_the_same_in_bodies_and_streams(error, kind, code):
    body = inbound.render_error(error)
    assert (body["error"]["type"], body["error"]["code"]) == (kind, code)
    raw = service.protocol("openai").render_stream_error(error)
    assert raw == maps.stream_error(error)
    assert orjson.loads(raw.removeprefix(b"data: ")) == body


@pytest.fixture
def stalled_upstream():
    async def stalled():
        yield b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
        raise httpx.ReadTimeout("read timed out")

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=stalled())

    http.use_transport(httpx.MockTransport(reply))
    yield
    http.use_transport(None)


async def test_a_passed_through_stream_reports_a_timeout_as_clients_see_it(stalled_upstream):
    provider = ProviderEntry(
        id=1,
        name="oai",
        kind="openai",
        base_url="https://api.example.test/v1",
        secret="sk-upstream",
        extra_headers={},
        api_version="",
        timeout=None,
    )
    deployment = entries.deployment("gpt", "gpt-4o", provider=provider)
    pairs = [
        pair
        async for pair in OpenAICompatibleProvider(provider).passthrough_stream(
            {"model": "gpt", "messages": [], "stream": True}, deployment, Exchange(), {}
        )
    ]
    raw, events = pairs[-1]
    [failure] = events
    assert isinstance(failure, ErrorEvent) and isinstance(failure.error, UpstreamTimeout)
    assert raw == inbound.render_stream_error(failure.error)
    assert orjson.loads(raw.removeprefix(b"data: "))["error"]["code"] == "timeout"


def test_the_codec_is_an_upstream_codec_and_asks_for_usage_when_streaming():
    assert isinstance(codec, UpstreamCodec)
    request = ChatRequest(model="gpt", messages=[Message("user", [Text("hi")])], stream=True)
    body = codec.build_request(request, Target(model="gpt-4o"))
    assert body["model"] == "gpt-4o" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_gemini_hosts_get_the_schema_subset_through_the_target():
    tool = {"type": "object", "additionalProperties": False, "properties": {}}
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": tool}}],
    }
    request = inbound.parse_request(body, {})
    plain = codec.build_request(request, Target(model="m"))
    gemini = codec.build_request(
        request, Target(model="m", host="generativelanguage.googleapis.com")
    )
    assert "additionalProperties" in plain["tools"][0]["function"]["parameters"]
    assert "additionalProperties" not in gemini["tools"][0]["function"]["parameters"]


def test_the_stream_parser_reports_a_stream_cut_before_its_finish_reason():
    parser = codec.stream_parser()
    chunk = {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    assert parser.feed(WireEvent(None, chunk))
    [cut] = parser.finish()
    assert isinstance(cut, ErrorEvent) and isinstance(cut.error, UpstreamError)
    parser = codec.stream_parser()
    parser.feed(WireEvent(None, {**chunk, "choices": [{"delta": {}, "finish_reason": "stop"}]}))
    assert [e for e in parser.finish() if isinstance(e, Finish)] == [Finish("stop")]
