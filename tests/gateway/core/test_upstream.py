"""A connect error or timeout tells the caller which provider failed (its registry name)
and the request id, never the upstream's URL, host, port or credentials; the journal
and the server log keep the detail (credentials stripped)."""

from __future__ import annotations

import logging

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER, ProviderEntry
from gateway.core import service
from gateway.core.service import Caller, StreamReply
from tests.gateway.entries import route, snapshot

LEAKY_URL = "http://admin:hunter2-pass@llm-internal.corp.example:8443/v1?key=qs-secret"
SECRETS = ("hunter2-pass", "llm-internal", ":8443", "admin:", "qs-secret", "corp.example")
# the port with its colon: bare "8443" turns up in a random hex request id one time in ~1,600


def provider(kind: str) -> ProviderEntry:
    base = LEAKY_URL.replace("/v1?", "?") if kind == "anthropic" else LEAKY_URL
    return ProviderEntry(7, "corp-llm", kind, base, "sk-provider-secret-123456", {}, "", None)


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch, snapshot_reset) -> list[journal.Record]:
    seen: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", seen.append)
    return seen


def failing(exc: Exception):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


def body(dialect: str, stream: bool) -> bytes:
    payload = {"model": "corp", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    if dialect == "anthropic":
        payload["max_tokens"] = 16
    return orjson.dumps(payload)


async def call(dialect: str, stream: bool) -> tuple[int, bytes, str]:
    caller = Caller(key=MASTER)
    reply = await service.handle("chat", dialect, body(dialect, stream), {}, caller)
    if isinstance(reply, StreamReply):
        data = b"".join([chunk async for chunk in reply.chunks])
    else:
        data = reply.body
    return reply.status, data, caller.request_id


@pytest.mark.parametrize("upstream", ["openai", "anthropic"])
@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "exc, status, words",
    [
        (httpx.ConnectError("cannot connect to llm-internal.corp.example:8443"), 502, "reach"),
        (
            httpx.ConnectError(f"cannot connect to {LEAKY_URL} (llm-internal.corp.example:8443)"),
            502,
            "reach",
        ),  # fmt: skip
        (httpx.ReadTimeout("timed out reading llm-internal.corp.example:8443"), 504, "timed out"),
    ],
)
async def test_the_caller_learns_the_provider_name_and_request_id_not_its_address(
    records, caplog, upstream, dialect, stream, exc, status, words
) -> None:
    registry.install(snapshot(route("corp", "m", max_attempts=1, provider=provider(upstream))))
    http.use_transport(failing(exc))
    with caplog.at_level(logging.WARNING):
        got, data, rid = await call(dialect, stream)
    text = data.decode()
    assert got == status
    assert "'corp-llm'" in text and rid in text and words in text
    for secret in SECRETS:
        assert secret not in text, (secret, text)
    # the operator keeps the detail: journal and server log, credentials stripped
    (rec,) = records
    for where in (rec.error_message, rec.attempts[0].error, caplog.text):
        assert "llm-internal.corp.example:8443" in where and type(exc).__name__ in where
        assert "hunter2-pass" not in where and "qs-secret" not in where


async def test_a_transport_error_mid_stream_names_the_provider_only(records) -> None:
    """Once a stream began, the in-stream error event carries the same safe message."""
    sent = {"n": 0}

    class Breaking(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield (
                b'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":'
                b'[{"index":0,"delta":{"role":"assistant","content":"he"}}]}\n\n'
            )
            raise httpx.ReadError("connection to llm-internal.corp.example:8443 lost")

    def handler(request: httpx.Request) -> httpx.Response:
        sent["n"] += 1
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Breaking())

    registry.install(snapshot(route("corp", "m", max_attempts=1, provider=provider("openai"))))
    http.use_transport(httpx.MockTransport(handler))
    status, data, rid = await call("anthropic", True)
    text = data.decode()
    assert status == 200 and "event: error" in text
    assert "'corp-llm'" in text and rid in text
    for secret in SECRETS:
        assert secret not in text
    assert "llm-internal.corp.example:8443" in records[0].error_message


def echoing(status: int, message: str):
    """An upstream that answers every request with ``status`` and ``message``."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": {"message": message, "type": "auth"}})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("endpoint", "payload"),
    [
        ("chat", {"model": "corp", "messages": [{"role": "user", "content": "hi"}]}),
        ("rerank", {"model": "corp", "query": "q", "documents": ["a", "b"]}),
        ("image_generation", {"model": "corp", "prompt": "a cat"}),
        ("speech", {"model": "corp", "input": "hi", "voice": "alloy"}),
    ],
)
async def test_an_upstream_echoing_the_provider_secret_does_not_pass_it_on(
    records, endpoint: str, payload: dict
) -> None:
    """Some servers echo the key they were sent in a refusal ("key sk-... has no access
    to this model": a 401 is already answered in the gateway's words): the caller reads
    the upstream's message with the secret taken out, on every endpoint."""
    upstream = ProviderEntry(7, "corp-llm", "openai", "http://up.example/v1",
                             "sk-provider-secret-123456", {}, "", None)  # fmt: skip
    model = {"image_generation": "gpt-image-1", "speech": "tts-1"}.get(endpoint, "m")
    registry.install(snapshot(route("corp", model, max_attempts=1, provider=upstream)))
    http.use_transport(echoing(400, "key sk-provider-secret-123456 may not use this model"))
    reply = await service.handle(endpoint, "openai", orjson.dumps(payload), {}, Caller(key=MASTER))
    text = reply.body.decode()
    assert reply.status == 400, text
    assert "sk-provider-secret-123456" not in text
    assert "key [provider secret] may not use this model" in text
