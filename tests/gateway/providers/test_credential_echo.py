"""An upstream that echoes any credential configured for its provider (an extra header
value, the user info or a query secret of the base URL, a deployment's credential
param) hands none of them to the caller or to the request log: in the error answer,
in a stream's error event, and in the journaled row and bodies."""

from __future__ import annotations

import dataclasses

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER, ProviderEntry, Snapshot
from gateway.base.errors import UpstreamError
from gateway.base.secrets import provider_credentials
from gateway.core import service
from gateway.core.service import Caller, StreamReply
from gateway.telemetry.redaction import configured_secrets

from ..entries import deployment, route

HEADER_SECRET = "org-header-secret-987"
URL_PASSWORD = "url-pass-4321xyz"
QUERY_SECRET = "query-secret-555abc"
PARAM_SECRET = "deployment-param-secret-2468"
ECHOED = (HEADER_SECRET, URL_PASSWORD, QUERY_SECRET)

PROVIDER = ProviderEntry(
    7,
    "corp-llm",
    "openai",
    f"http://svc-user:{URL_PASSWORD}@up.example/v1?api-key={QUERY_SECRET}&api-version=1",
    "sk-provider-secret-123456",
    {"X-Org-Token": HEADER_SECRET},
    "",
    None,
)


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch, snapshot_reset) -> list[journal.Record]:
    seen: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", seen.append)
    corp = route("corp", "m", max_attempts=1, provider=PROVIDER)
    registry.install(Snapshot(version=1, routes={"corp": corp}, providers={"corp-llm": PROVIDER}))
    return seen


def echoing(message: str, status: int = 400):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": {"message": message, "type": "invalid"}})

    return httpx.MockTransport(handler)


def echoing_mid_stream(message: str):
    """A 200 stream that sends one delta, then an error event quoting ``message``."""

    def handler(request: httpx.Request) -> httpx.Response:
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "he"}}],
        }
        error = {"error": {"message": message, "type": "server_error"}}
        body = b"data: " + orjson.dumps(chunk) + b"\n\ndata: " + orjson.dumps(error) + b"\n\n"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return httpx.MockTransport(handler)


async def call(dialect: str, stream: bool) -> tuple[int, str]:
    payload = {"model": "corp", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    if dialect == "anthropic":
        payload["max_tokens"] = 16
    reply = await service.handle("chat", dialect, orjson.dumps(payload), {}, Caller(key=MASTER))
    if isinstance(reply, StreamReply):
        data = b"".join([chunk async for chunk in reply.chunks])
    else:
        data = reply.body
    return reply.status, data.decode()


def journaled(rec: journal.Record) -> str:
    """What the journal writer stores for ``rec``: the row's error and its bodies."""
    secrets = configured_secrets()
    values, _ = journal.log_values(rec, secrets, lambda t: t, lambda j: j)
    bodies = journal.body_values(rec, 1_000_000, secrets) or ()
    return "\n".join(str(v) for v in (*values, *bodies))


@pytest.mark.parametrize("secret", ECHOED)
@pytest.mark.parametrize("dialect", ["openai", "anthropic"])  # passed through, translated
@pytest.mark.parametrize("stream", [False, True])
async def test_an_echoed_credential_reaches_neither_caller_nor_journal(
    records, secret: str, dialect: str, stream: bool
) -> None:
    http.use_transport(echoing(f"bad credential {secret} for this model"))
    status, text = await call(dialect, stream)
    assert status == 400 or "error" in text, text
    assert "bad credential" in text and secret not in text
    assert "[provider secret]" in text
    (rec,) = records
    stored = journaled(rec)
    assert "bad credential" in stored and secret not in stored


@pytest.mark.parametrize("secret", ECHOED)
@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
async def test_an_error_event_mid_stream_is_scrubbed_too(
    records, secret: str, dialect: str
) -> None:
    http.use_transport(echoing_mid_stream(f"upstream broke, sent {secret}"))
    status, text = await call(dialect, True)
    assert status == 200 and "upstream broke" in text, text
    assert secret not in text
    (rec,) = records
    assert secret not in journaled(rec)


def test_a_deployment_credential_param_and_a_provider_setting_are_scrubbed(snapshot_reset) -> None:
    """Credentials a deployment adds (AWS session token, a service account's private
    key) are the provider's credentials too, wherever the error was built."""
    account = orjson.dumps({"type": "service_account", "private_key": "pk-text-secret-24680"})
    provider = dataclasses.replace(
        PROVIDER,
        settings={"aws_secret_access_key": "aws-setting-secret-77",
                  "vertex_credentials": account.decode()},
    )  # fmt: skip
    bedrock = deployment("corp", "m", provider=provider,
                         params={"aws_session_token": PARAM_SECRET,
                                 "vertex_credentials": {"private_key": "pk-secret-value-13579"},
                                 "max_tokens": 12345678})  # fmt: skip
    corp = dataclasses.replace(route("corp", "m", provider=provider), deployments=(bedrock,))
    registry.install(Snapshot(version=1, routes={"corp": corp}, providers={"corp-llm": provider}))
    error = UpstreamError(
        f"denied {PARAM_SECRET} pk-secret-value-13579 aws-setting-secret-77 (12345678)"
        " pk-text-secret-24680 service_account",
        detail=f"raw {PARAM_SECRET}",
    )
    provider_credentials.scrub(error, provider)
    assert error.message == (
        "denied [provider secret] [provider secret] [provider secret] (12345678)"
        " [provider secret] service_account"
    )
    assert error.detail == "raw [provider secret]" and str(error) == error.message
