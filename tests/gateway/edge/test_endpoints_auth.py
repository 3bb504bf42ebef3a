"""A /v1 request without a usable key (none, unknown, revoked) is answered 401 in its
dialect from the headers alone: the body is never read (and the refusal is journaled)."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base.entries import MASTER, Snapshot
from gateway.edge import endpoints
from tests.gateway.entries import snapshot

KEY = "sy-valid-but-revoked-key-0123456789"


@pytest.fixture
def revoked_key(snapshot_reset) -> None:
    import hashlib

    entry = dataclasses.replace(MASTER, id=5, name="old", prefix="sy-valid", revoked=True)
    base: Snapshot = snapshot()
    base.keys = {hashlib.sha256(KEY.encode()).hexdigest(): entry}
    registry.install(base)


@pytest.mark.parametrize(
    "headers, message",
    [
        ([], "no API key given"),
        ([(b"x-api-key", b"sy-unknown")], "invalid API key"),
        ([(b"authorization", b"Bearer " + KEY.encode())], "revoked"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
async def test_the_body_is_never_read_without_a_usable_key(
    monkeypatch, revoked_key, headers, message, path
) -> None:
    recorded: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", recorded.append)
    sent: list[dict] = []

    async def receive() -> dict:
        raise AssertionError("the body was read")

    async def send(msg: dict) -> None:
        sent.append(msg)

    endpoint, dialect = endpoints.POST_ROUTES[path]
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    await app.api(scope, receive, send, endpoint, dialect)
    assert sent[0]["status"] == 401
    body = orjson.loads(sent[1]["body"])
    error = body["error"]
    assert message in error["message"]
    if dialect == "anthropic":
        assert body["type"] == "error" and error["type"] == "authentication_error"
    else:
        assert error["code"] == "invalid_api_key"
    # a retry cannot fix a key: Claude Code retried 401s for minutes without this
    assert (b"x-should-retry", b"false") in sent[0]["headers"]
    (rec,) = recorded
    assert rec.status == 401 and rec.inbound_request in (b"", None)
    if message == "revoked":
        assert rec.key_name == "old"
