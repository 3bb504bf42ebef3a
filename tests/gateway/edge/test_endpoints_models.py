"""GET /v1/models and the endpoint-level errors: an expired or revoked key is refused
like on every other endpoint, and every reply carries a request id."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from gateway.access import registry
from gateway.base import lifecycle
from gateway.edge import endpoints
from tests.gateway.entries import route, snapshot
from tests.gateway.limits.test_limits import key

LIVE, EXPIRED, REVOKED = "sy-live-key-000000", "sy-expired-key-0000", "sy-revoked-key-0000"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, snapshot_reset) -> endpoints.GatewayApp:
    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    snap = snapshot(route("echo", "echo-1"))
    past = datetime.now(UTC) - timedelta(minutes=1)
    for raw, entry in (
        (LIVE, key()),
        (EXPIRED, key(expires_at=past)),
        (REVOKED, key(revoked=True)),
    ):
        snap.keys[hashlib.sha256(raw.encode()).hexdigest()] = entry
    registry.install(snap)
    return endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]


async def get(app, path: str, token: str, method: str = "GET") -> tuple[int, dict, dict]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"authorization", f"Bearer {token}".encode())],
    }
    await app(scope, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], headers, orjson.loads(sent[1]["body"])


async def test_models_are_listed_for_a_live_key_with_a_request_id(app) -> None:
    status, headers, body = await get(app, "/v1/models", LIVE)
    assert status == 200 and [m["id"] for m in body["data"]] == ["echo"]
    assert len(headers["x-request-id"]) == 32
    status, headers, body = await get(app, "/v1/models/echo", LIVE)
    assert status == 200 and body["id"] == "echo" and headers["x-request-id"]


@pytest.mark.parametrize("token", [EXPIRED, REVOKED, "sy-unknown-key-000"])
async def test_models_refuse_expired_revoked_and_unknown_keys(app, token) -> None:
    status, headers, body = await get(app, "/v1/models", token)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    assert headers["x-request-id"]


async def test_an_unknown_api_path_is_a_404_with_a_request_id(app) -> None:
    status, headers, body = await get(app, "/v1/nope", LIVE, method="POST")
    assert status == 404 and "no such endpoint" in body["error"]["message"]
    assert headers["x-request-id"]
