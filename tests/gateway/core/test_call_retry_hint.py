"""Error replies say ``x-should-retry: false`` when a retry cannot help (bad request,
wrong key, unknown model...), which the OpenAI and Anthropic SDKs and Claude Code obey
over their own status rules; retryable answers (429, 5xx) carry no such hint."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.core import service
from tests.gateway.entries import route, snapshot


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    monkeypatch.setattr(journal, "record", lambda record: None)
    registry.install(snapshot(route("up", "up-1", max_attempts=1)))
    answer: dict[str, httpx.Response] = {}
    http.use_transport(httpx.MockTransport(lambda request: answer["response"]))
    yield answer
    http.use_transport(None)


async def call(body: dict, dialect: str = "openai") -> service.Reply:
    raw = orjson.dumps({"max_tokens": 10, "messages": [{"role": "user", "content": "x"}], **body})
    return await service.handle("chat", dialect, raw, {}, service.Caller(key=MASTER))


def hint(reply: service.Reply) -> bytes | None:
    return dict(reply.headers).get(b"x-should-retry")


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
async def test_errors_a_retry_cannot_fix_say_so(gateway, dialect) -> None:
    unknown = await call({"model": "no-such-route"}, dialect)
    assert unknown.status == 404 and hint(unknown) == b"false"
    invalid = await call({"model": "up", "temperature": "hot"}, dialect)
    assert invalid.status == 400 and hint(invalid) == b"false"


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_retryable_answers_carry_no_hint(gateway, status) -> None:
    gateway["response"] = httpx.Response(
        status, json={"error": {"message": "busy", "type": "server_error"}}
    )
    reply = await call({"model": "up"})
    assert reply.status >= 429 and hint(reply) is None


def test_the_hint_by_status() -> None:
    assert service.retry_headers(401) == [(b"x-should-retry", b"false")]
    assert all(service.retry_headers(s) == [] for s in (200, 408, 409, 429, 500, 502, 529))
