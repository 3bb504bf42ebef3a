"""Credentials a caller sends for its own MCP servers (Anthropic ``mcp_servers[]``
``authorization_token``, a Responses ``mcp`` tool's ``headers``, a token in the server
URL's query or user info) are used for the call but stored nowhere a viewer reads: the
request log's bodies hold the fields with their values redacted. HTTP client loggers
never write the URLs they call."""

from __future__ import annotations

import logging

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.core import service
from gateway.core.service import Caller, StreamReply
from gateway.telemetry.caller_credentials import redact_caller_credentials
from gateway.telemetry.redaction import configured_secrets
from tests.gateway.entries import route, snapshot

TOKEN = "caller-mcp-token-0451"
HEADER_TOKEN = "caller-header-token-8812"
QUERY_TOKEN = "caller-query-token-3307"
USER_PASSWORD = "caller-url-pass-6620"
SECRETS = (TOKEN, HEADER_TOKEN, QUERY_TOKEN, USER_PASSWORD)
# nothing listens on port 9 (discard): the MCP connection fails at once, the request
# and its journal row go on
SERVER = f"http://mcp-user:{USER_PASSWORD}@127.0.0.1:9/mcp?access_token={QUERY_TOKEN}&v=2"


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch, snapshot_reset, settings) -> list[journal.Record]:
    settings.SWITCHYARD_LOG_BODIES = True
    seen: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", seen.append)
    registry.install(snapshot(route("corp", "m", max_attempts=1)))

    def upstream(request: httpx.Request) -> httpx.Response:
        answer = {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],  # fmt: skip
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return httpx.Response(200, json=answer)

    http.use_transport(httpx.MockTransport(upstream))
    yield seen
    http.use_transport(None)


def stored_bodies(rec: journal.Record) -> str:
    """The RequestBody texts the journal writer stores for ``rec``."""
    values = journal.body_values(rec, 1_000_000, configured_secrets())
    assert values is not None
    return "\n".join(str(v) for v in values)


async def send(dialect: str, body: dict) -> None:
    reply = await service.handle("chat", dialect, orjson.dumps(body), {}, Caller(key=MASTER))
    if isinstance(reply, StreamReply):
        [chunk async for chunk in reply.chunks]


async def test_an_anthropic_mcp_servers_token_is_not_in_the_request_log(records) -> None:
    body = {
        "model": "corp",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
        "mcp_servers": [
            {"type": "url", "url": SERVER, "name": "mine", "authorization_token": TOKEN}
        ],
    }
    await send("anthropic", body)
    (rec,) = records
    stored = stored_bodies(rec)
    assert '"authorization_token":"[redacted]"' in stored.replace(" ", "")
    assert "127.0.0.1:9/mcp" in stored and "mcp_servers" in stored
    for secret in SECRETS:
        assert secret not in stored, (secret, stored)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_responses_mcp_tools_headers_are_not_in_the_request_log(
    records, stream: bool
) -> None:
    tool = {
        "type": "mcp",
        "server_label": "mine",
        "server_url": SERVER,
        "headers": {"X-Api-Token": HEADER_TOKEN, "X-Tenant": f"tenant {TOKEN}"},
        "require_approval": "never",
    }
    body = {"model": "corp", "input": "hi", "tools": [tool], "store": False, "stream": stream}
    await send("responses", body)
    (rec,) = records
    stored = stored_bodies(rec)
    assert '"X-Api-Token":"[redacted]"' in stored.replace(" ", "")
    for secret in SECRETS:
        assert secret not in stored, (secret, stored)
    if rec.mcp_calls:  # the failed connection's note quotes no credential either
        values, _ = journal.log_values(rec, configured_secrets(), str, orjson.dumps)
        for secret in SECRETS:
            assert secret not in str(values)


def test_redaction_keeps_the_fields_and_works_on_a_body_cut_short() -> None:
    text = orjson.dumps(
        {"tools": [{"headers": {"A": 'x"y}', "B": "two"}, "server_url": SERVER}]}
    ).decode()
    out = redact_caller_credentials(text)
    assert orjson.loads(out)["tools"][0]["headers"] == {"A": "[redacted]", "B": "[redacted]"}
    assert orjson.loads(out)["tools"][0]["server_url"] == (
        "http://***@127.0.0.1:9/mcp?access_token=***&v=2"
    )
    cut = f'{{"mcp_servers":[{{"url":"{SERVER}","authorization_token":"{TOKEN}"'
    assert all(s not in redact_caller_credentials(cut) for s in SECRETS)


def test_http_client_loggers_do_not_write_the_urls_they_call(caplog) -> None:
    """httpx2 (the MCP client's) and httpx log each request's URL at INFO; the gateway
    keeps them at WARNING, and its log handler masks any URL a line quotes."""
    from django.conf import settings

    levels = {name: settings.LOGGING["loggers"].get(name, {}).get("level") for name in
              ("httpx", "httpcore", "httpx2", "httpcore2")}  # fmt: skip
    assert levels == dict.fromkeys(levels, "WARNING")
    handler = logging.getLogger().handlers[0] if logging.getLogger().handlers else None
    assert handler is not None and any(
        type(f).__name__ == "MaskUrlSecrets" for f in handler.filters
    ), "the console handler masks URLs"
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "GET %s", (SERVER,), None)
    for f in handler.filters:
        f.filter(record)  # type: ignore[union-attr]
    assert all(secret not in record.getMessage() for secret in SECRETS)
    assert "127.0.0.1:9/mcp" in record.getMessage()
