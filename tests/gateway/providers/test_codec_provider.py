"""The shared HTTP path of codec-driven providers: body from the codec, signing, the
exchange recorded, errors through the codec, streams de-framed and parsed."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import orjson
import pytest

from gateway.base import errors, http
from gateway.base.entries import ProviderEntry
from gateway.base.streaming import fold_events
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    ErrorEvent,
    Finish,
    Message,
    PartStart,
    PartStop,
    Start,
    Text,
    TextDelta,
    Usage,
    UsageEvent,
)
from gateway.codecs.base import DONE, Target, WireEvent
from gateway.providers.base import Exchange
from gateway.providers.codec_provider import DEFRAMERS, CodecProvider, sse_events

from ..entries import deployment


class EchoWireParser:
    def __init__(self) -> None:
        self.index = -1

    def feed(self, event: WireEvent) -> list:
        data = event.data
        if event.event == "start":
            return [Start(id=data["id"], model=data["model"])]
        if event.event == "text":
            out = []
            if self.index < 0:
                self.index = 0
                out.append(PartStart(0, "text"))
            return [*out, TextDelta(0, data["t"])]
        if event.event == "end":
            return [PartStop(0), UsageEvent(Usage(3, 2)), Finish("stop")]
        if event.event == "error":
            return [ErrorEvent(errors.UpstreamError(data["message"], status=500))]
        return []

    def finish(self) -> list:
        return []


class ToyCodec:
    """A wire format of our own: {"say": [...]} in, {"id", "model", "text"} out."""

    name = "toy"
    framing = "sse"

    def build_request(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        return {"model": target.model, "say": [m.text() for m in request.messages]}

    def parse_response(self, data: Any) -> ChatResponse:
        return ChatResponse(
            id=data["id"], model=data["model"], parts=[Text(data["text"])], usage=Usage(3, 2)
        )

    def stream_parser(self) -> EchoWireParser:
        return EchoWireParser()

    def parse_error(self, status: int, body: bytes) -> errors.UpstreamError:
        return errors.UpstreamError(f"toy says {orjson.loads(body)['oops']}", status=status)


class ToyProvider(CodecProvider):
    kind = "toy"
    codec = ToyCodec()

    def endpoint(self, deployment, stream: bool) -> str:
        return f"{self.provider.base_url}/{deployment.model}/{'stream' if stream else 'call'}"

    async def sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        headers["x-signed"] = f"{method} {len(body)}"


PROVIDER = ProviderEntry(7, "toy", "toy", "http://toy.test", "", {}, "", None)
DEPLOYMENT = deployment("r", "m1", provider=PROVIDER)
REQUEST = ChatRequest(model="r", messages=[Message("user", [Text("hi")])])

STREAM = (
    b'event: start\ndata: {"id": "s1", "model": "m1"}\n\n'
    b'event: text\ndata: {"t": "hel"}\n\n'
    b": keep-alive\n\n"
    b'event: text\ndata: {"t": "lo"}\n\n'
    b"event: end\ndata: {}\n\n"
)


def _serve(handler) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http.use_transport(httpx.MockTransport(record))
    return seen


async def test_complete_posts_the_codecs_body_signed_and_records_the_exchange() -> None:
    seen = _serve(lambda r: httpx.Response(200, json={"id": "x", "model": "m1", "text": "hey"}))
    exchange = Exchange()
    response = await ToyProvider(PROVIDER).complete(REQUEST, DEPLOYMENT, exchange)
    assert response.text() == "hey"
    assert str(seen[0].url) == "http://toy.test/m1/call"
    assert orjson.loads(seen[0].content) == {"model": "m1", "say": ["hi"]}
    assert seen[0].headers["x-signed"] == f"POST {len(seen[0].content)}"
    assert exchange.status == 200 and exchange.usage.input_tokens == 3
    assert exchange.request_body == seen[0].content and b"hey" in exchange.response_body


async def test_upstream_error_goes_through_the_codec_with_retry_after() -> None:
    _serve(lambda r: httpx.Response(429, json={"oops": "slow down"}, headers={"retry-after": "2"}))
    with pytest.raises(errors.UpstreamError) as caught:
        await ToyProvider(PROVIDER).complete(REQUEST, DEPLOYMENT, Exchange())
    assert caught.value.status == 429 and "slow down" in caught.value.message
    assert caught.value.retry_after == 2


async def test_stream_is_deframed_parsed_and_folds_to_the_answer() -> None:
    seen = _serve(lambda r: httpx.Response(200, content=STREAM))
    exchange = Exchange()
    events = [e async for e in ToyProvider(PROVIDER).stream(REQUEST, DEPLOYMENT, exchange)]
    assert str(seen[0].url) == "http://toy.test/m1/stream"
    folded = fold_events(events)
    assert folded.text() == "hello" and folded.finish_reason == "stop"
    assert exchange.usage.output_tokens == 2 and exchange.response_body == STREAM


async def test_error_before_the_first_event_raises_after_it_is_an_error_event() -> None:
    _serve(lambda r: httpx.Response(200, content=b'event: error\ndata: {"message": "boom"}\n\n'))
    with pytest.raises(errors.UpstreamError, match="boom"):
        [e async for e in ToyProvider(PROVIDER).stream(REQUEST, DEPLOYMENT, Exchange())]

    late = STREAM.replace(b"event: end\ndata: {}\n\n", b'event: error\ndata: {"message": "x"}\n\n')
    _serve(lambda r: httpx.Response(200, content=late))
    events = [e async for e in ToyProvider(PROVIDER).stream(REQUEST, DEPLOYMENT, Exchange())]
    assert isinstance(events[-1], ErrorEvent)


async def test_transport_failure_is_an_upstream_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    _serve(refuse)
    with pytest.raises(errors.UpstreamConnectionError):
        await ToyProvider(PROVIDER).complete(REQUEST, DEPLOYMENT, Exchange())


async def test_sse_events_skip_done_and_noise_and_join_split_chunks() -> None:
    async def chunks():
        yield b'data: {"a"'
        yield b": 1}\n\ndata: not json\n\ndata: [DONE]\n\n"

    batches = [list(b) async for b in sse_events(chunks())]
    assert batches == [[], [WireEvent(None, {"a": 1})], []]  # the second chunk completed it


async def test_sse_done_framing_hands_done_and_noise_to_the_parser() -> None:
    """Opt-in (the OpenAI family): the parser sees ``[DONE]`` and a passthrough can
    forward every message as sent."""

    async def chunks():
        yield b'data: {"a": 1}\n\ndata: not json\n\ndata: [DONE]\n\n'

    batches = [list(b) async for b in DEFRAMERS["sse+done"](chunks())]
    assert len(batches) == 2 and batches[1] == []  # one chunk, one batch (and the end's)
    events = batches[0]
    assert events == [WireEvent(None, {"a": 1}), WireEvent(None, None), WireEvent(None, DONE)]
    assert [e.text for e in events] == ['{"a": 1}', "not json", "[DONE]"]
    plain = [list(b) async for b in DEFRAMERS["sse"](chunks())]
    assert plain == [[WireEvent(None, {"a": 1})], []]


@pytest.mark.parametrize("framing", ["sse", "sse+done"])
async def test_sse_deframers_hand_each_raw_chunk_to_on_chunk_as_it_arrives(framing) -> None:
    """The exchange records the upstream's bytes through ``on_chunk``: every chunk, as
    received (a split multi-byte character too), before the events it completes."""
    sent = [b'data: {"t": "\xc3', b'\xa9"}\n', b"\ndata: [DONE]\n\n", b": tail"]
    seen: list[bytes] = []

    async def chunks():
        for chunk in sent:
            yield chunk

    async for batch in DEFRAMERS[framing](chunks(), seen.append):
        for event in batch:
            if event.data != DONE:
                assert event.data == {"t": "\u00e9"} and seen == sent[:3]
    assert seen == sent


class EventStreamToyProvider(ToyProvider):
    kind = "toy-event-stream"
    stream_accept = "text/event-stream"


@pytest.mark.parametrize(
    ("adapter", "streamed"),
    [(ToyProvider, "application/json"), (EventStreamToyProvider, "text/event-stream")],
)
async def test_the_accept_header_of_a_stream_is_the_provider_classs(adapter, streamed) -> None:
    seen = _serve(
        lambda r: (
            httpx.Response(200, content=STREAM)
            if r.url.path.endswith("/stream")
            else httpx.Response(200, json={"id": "x", "model": "m1", "text": "hey"})
        )
    )
    [e async for e in adapter(PROVIDER).stream(REQUEST, DEPLOYMENT, Exchange())]
    await adapter(PROVIDER).complete(REQUEST, DEPLOYMENT, Exchange())
    assert seen[0].headers["accept"] == streamed
    assert seen[1].headers["accept"] == "application/json"


async def test_a_stream_ends_at_its_first_error_event() -> None:
    after = STREAM.replace(
        b"event: end\ndata: {}\n\n",
        b'event: error\ndata: {"message": "x"}\n\nevent: text\ndata: {"t": "more"}\n\n',
    )
    _serve(lambda r: httpx.Response(200, content=after))
    events = [e async for e in ToyProvider(PROVIDER).stream(REQUEST, DEPLOYMENT, Exchange())]
    assert isinstance(events[-1], ErrorEvent)
    assert "more" not in [getattr(e, "text", None) for e in events]


class HostToyProvider(ToyProvider):
    kind = "toy-host"

    def target(self, deployment) -> Target:
        return dataclasses.replace(super().target(deployment), model="from-the-hook")


async def test_the_codec_gets_the_target_the_provider_builds() -> None:
    seen = _serve(lambda r: httpx.Response(200, json={"id": "x", "model": "m1", "text": "hey"}))
    await HostToyProvider(PROVIDER).complete(REQUEST, DEPLOYMENT, Exchange())
    assert orjson.loads(seen[0].content)["model"] == "from-the-hook"


def test_passthrough_takes_the_forwarded_caller_headers_unless_told_otherwise() -> None:
    class Forwarding(ToyProvider):
        kind = "toy-forwarding"

        def forwarded(self, caller):
            return {"x-version": caller.get("x-version", "1")}

    adapter = Forwarding(PROVIDER)
    assert adapter.relayed({"x-version": "2"}) == adapter.forwarded({"x-version": "2"})


def test_a_deployments_params_the_model_refuses_are_left_out_and_noted() -> None:
    """Gemini's OpenAI-compatible endpoint (kind ``openai``) serving a model that fixes
    its sampling: a LiteLLM config's temperature went into the chat body (a 400)."""
    from gateway.catalog import entry_for
    from gateway.catalog.matching import KindVendor
    from gateway.codecs.openai_chat import outbound
    from gateway.providers.base import adapter_for
    from gateway.providers.codec_provider import target_of

    base = "https://generativelanguage.googleapis.com/v1beta/openai"
    catalog = entry_for(KindVendor(by_name="openai"), base, "gemini-3.7-flash")
    assert catalog is not None and "temperature" in catalog.rejects
    up = ProviderEntry(5, "gem-openai", "openai", base, "k", {}, "", None)
    entry = deployment(
        "r",
        "gemini-3.7-flash",
        provider=up,
        catalog=catalog,
        params={"temperature": 0.2, "seed": 1},
    )
    target = target_of(entry)
    assert dict(target.params) == {"seed": 1}
    request = ChatRequest(model="r", messages=[Message("user", [Text("hi")])])
    body = outbound.build_body(request, adapter_for(up).target(entry))
    assert "temperature" not in body and body["seed"] == 1
    assert adapter_for(up).dropped_params(entry) == [
        ("temperature (deployment params)", "dropped", "the model refuses it")
    ]
    # control: a model that takes it keeps it, and nothing is noted
    taking = dataclasses.replace(entry, model="gemini-2.5-flash", catalog=None)
    assert dict(target_of(taking).params) == {"temperature": 0.2, "seed": 1}
    assert adapter_for(up).dropped_params(taking) == []
