"""The Anthropic maps are one copy: ``pause_turn`` and ``timeout_error`` read and render
the same on every path (translated answer, translated stream, passthrough journal,
client error bodies, client stream errors, passed-through stream errors)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway.base.errors import UpstreamError, UpstreamTimeout
from gateway.base.types import ChatRequest, ErrorEvent, Finish, Message, Text
from gateway.codecs.anthropic import codec, inbound, maps, outbound
from gateway.codecs.base import Target, UpstreamCodec, WireEvent
from gateway.core import service
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import Exchange
from tests.gateway.providers.test_anthropic import (
    collect,
    make_deployment,
    make_provider,
    sse_response,
    transcript,
    upstream,  # noqa: F401 (fixture)
)


def _answer(stop_reason: str) -> dict:
    return {
        "id": "msg_1",
        "model": "claude",
        "content": [{"type": "text", "text": "searching"}],
        "stop_reason": stop_reason,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("pause_turn", "stop"),
        ("end_turn", "stop"),
        ("model_context_window_exceeded", "length"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
    ],
)
def test_stop_reasons_read_the_same_whole_streamed_and_passed_through(stop_reason, finish):
    assert outbound.parse_response(_answer(stop_reason)).finish_reason == finish
    translator = outbound.StreamTranslator()
    events = translator.feed({"type": "message_delta", "delta": {"stop_reason": stop_reason}})
    assert [e for e in events if isinstance(e, Finish)] == [Finish(finish, None)]
    assert service.protocol("anthropic").finish_reason_of(_answer(stop_reason)) == finish


def test_an_unknown_passed_through_stop_reason_is_journaled_as_sent():
    assert (
        service.protocol("anthropic").finish_reason_of(_answer("brand_new_reason"))
        == "brand_new_reason"
    )


def test_every_canonical_finish_has_an_anthropic_stop_reason():
    for finish in ("stop", "length", "tool_calls", "content_filter", "stop_sequence", "error"):
        assert maps.stop_reason(finish, False) in maps.FINISH_REASONS


def test_timeout_renders_as_timeout_error_in_bodies_and_streams():
    error = UpstreamTimeout("upstream took too long")
    assert inbound.render_error(error)["error"]["type"] == "timeout_error"
    assert service.protocol("anthropic").render_stream_error(error) == maps.stream_error(error)
    raw = maps.stream_error(error)
    assert raw.startswith(b"event: error\n")
    data = orjson.loads(raw.split(b"data: ", 1)[1])
    assert data == {
        "type": "error",
        "error": {"type": "timeout_error", "message": "upstream took too long"},
    }


def test_an_upstream_timeout_error_reads_back_as_a_504():
    body = orjson.dumps({"type": "error", "error": {"type": "timeout_error", "message": "slow"}})
    error = outbound.parse_error(504, body)
    assert error.status == 504 and error.message == "slow"
    assert outbound.error_from_body({"type": "timeout_error", "message": "slow"}).status == 504


async def test_a_passed_through_stream_reports_a_timeout_as_clients_see_it(upstream):  # noqa: F811
    head = transcript("text").split(b"event: content_block_stop")[0]

    async def stalled():
        yield head
        raise httpx.ReadTimeout("read timed out")

    upstream.reply = lambda r: sse_response(stalled())
    pairs = await collect(
        AnthropicProvider(make_provider()).passthrough_stream(
            {"model": "claude", "max_tokens": 10, "messages": [], "stream": True},
            make_deployment(),
            Exchange(),
            {},
        )
    )
    raw, events = pairs[-1]
    [failure] = events
    assert isinstance(failure, ErrorEvent) and isinstance(failure.error, UpstreamTimeout)
    assert raw == inbound.render_stream_error(failure.error)
    assert b'"type":"timeout_error"' in raw


# --- the codec object ---------------------------------------------------------------------


def test_the_codec_is_an_upstream_codec_and_asks_for_a_stream_when_streaming():
    assert isinstance(codec, UpstreamCodec)
    request = ChatRequest(model="claude", messages=[Message("user", [Text("hi")])], stream=True)
    body = codec.build_request(request, Target(model="claude-sonnet-4-5"))
    assert body["stream"] is True and body["model"] == "claude-sonnet-4-5"
    request.stream = False
    assert "stream" not in codec.build_request(request, Target(model="claude-sonnet-4-5"))


def test_the_stream_parser_reports_a_stream_cut_before_its_stop_reason():
    parser = codec.stream_parser()
    start = {"type": "message_start", "message": {"id": "msg_1", "model": "claude"}}
    assert parser.feed(WireEvent("message_start", start))
    [cut] = parser.finish()
    assert isinstance(cut, ErrorEvent) and isinstance(cut.error, UpstreamError)
    parser = codec.stream_parser()
    delta = {"type": "message_delta", "delta": {"stop_reason": "pause_turn"}}
    assert parser.feed(WireEvent("message_delta", delta)) == [Finish("stop", None)]
    assert parser.feed(WireEvent("message_stop", {"type": "message_stop"})) == []
    assert parser.finish() == []
