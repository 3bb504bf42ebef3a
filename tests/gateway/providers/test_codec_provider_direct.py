"""The shared HTTP path straight on the pooled transport (``http.pooled``): against a
scripted server on 127.0.0.1, the same request on the wire, the same answers, streams
and errors as through httpx's client; a test's transport or tracing's hooks take the
client path instead."""

from __future__ import annotations

import asyncio
import gzip

import httpx
import orjson
import pytest

from gateway.base import errors, http
from gateway.base.entries import ProviderEntry
from gateway.base.streaming import fold_events
from gateway.providers.base import Exchange
from tests.gateway.base.test_pooled_transport import Server, reply

from ..entries import deployment
from .test_codec_provider import REQUEST, STREAM, ToyProvider


def _provider(base: str) -> tuple[ToyProvider, object]:
    entry = ProviderEntry(7, "toy", "toy", base, "", {}, "", None)
    return ToyProvider(entry), deployment("r", "m1", provider=entry)


async def test_complete_writes_one_request_with_the_clients_headers_and_reuses_it() -> None:
    async def answer(reader, writer, head, body):
        writer.write(reply(b'{"id": "x", "model": "m1", "text": "hey"}'))
        return True

    server = Server(answer)
    async with server as base:
        provider, target = _provider(base)
        for _ in range(2):
            exchange = Exchange()
            assert (await provider.complete(REQUEST, target, exchange)).text() == "hey"
            assert exchange.status == 200 and exchange.usage.input_tokens == 3
    assert server.connections == 1
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /m1/call HTTP/1.1"
    fields = dict(line.split(b": ", 1) for line in lines[1:])
    assert fields[b"host"] == base.removeprefix("http://").encode()
    assert fields[b"accept"] == b"application/json"  # the provider's, not httpx's */*
    assert fields[b"content-type"] == b"application/json"
    assert fields[b"x-signed"] == b"POST %d" % len(body)
    assert fields[b"content-length"] == b"%d" % len(body)
    assert fields[b"user-agent"].startswith(b"python-httpx/")
    assert orjson.loads(body) == {"model": "m1", "say": ["hi"]}
    assert len([name for name in fields if name.lower() == b"accept"]) == 1


async def test_stream_is_read_as_it_arrives_and_the_connection_is_reused() -> None:
    async def answer(reader, writer, head, body):
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for piece in (STREAM[:7], STREAM[7:60], STREAM[60:]):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0)
        writer.write(b"0\r\n\r\n")
        return True

    server = Server(answer)
    async with server as base:
        provider, target = _provider(base)
        for _ in range(2):
            exchange = Exchange()
            events = [e async for e in provider.stream(REQUEST, target, exchange)]
            assert fold_events(events).text() == "hello"
            assert exchange.response_body == STREAM and exchange.usage.output_tokens == 2
    assert server.connections == 1


async def test_errors_gzip_and_a_dead_upstream_read_as_through_the_client() -> None:
    async def answer(reader, writer, head, body):
        if b"/zipped/stream" in head:
            writer.write(reply(gzip.compress(STREAM), b"content-encoding: gzip"))
        elif b"/stream" in head:
            writer.write(
                b"HTTP/1.1 429 Too Many\r\nretry-after: 2\r\ncontent-length: 16\r\n\r\n"
                b'{"oops": "slow"}'
            )
        else:
            packed = gzip.compress(b'{"id": "x", "model": "m1", "text": "zip"}')
            writer.write(reply(packed, b"content-encoding: gzip"))
        return True

    async with Server(answer) as base:
        provider, target = _provider(base)
        assert (await provider.complete(REQUEST, target, Exchange())).text() == "zip"
        with pytest.raises(errors.UpstreamError) as caught:
            [e async for e in provider.stream(REQUEST, target, Exchange())]
        zipped = deployment("r", "zipped", provider=target.provider)
        events = [e async for e in provider.stream(REQUEST, zipped, Exchange())]
        assert fold_events(events).text() == "hello"  # decoded by httpx on the way
        assert caught.value.status == 429 and caught.value.retry_after == 2
    provider, target = _provider("http://127.0.0.1:1")
    with pytest.raises(errors.UpstreamConnectionError):
        await provider.complete(REQUEST, target, Exchange())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-extra", "a\r\nx-injected: 1"),
        ("x-extra", "a\nb"),
        ("x-extra", "a\rb"),
        ("x-extra", "a\0b"),
        ("x-bad\r\nx-injected", "v"),
    ],
)
async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(
    name: str, value: str
) -> None:
    async def answer(reader, writer, head, body):
        writer.write(reply(b"{}"))
        return True

    server = Server(answer)
    async with server as base:
        with pytest.raises(httpx.LocalProtocolError, match="x-bad" if "bad" in name else "x-extra"):
            headers = {"x-fine": "ok", name: value, "x-after": "ok"}
            await http.pooled().post(base + "/x", headers, b"{}", httpx.Timeout(5.0))
    assert server.requests == []
