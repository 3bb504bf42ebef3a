"""The routes features register (``hooks.api_routes``) in the edge's route table: the
table composes them after its own rows, and the edge does everything but the answer
(the caller's key refused in the route's dialect before the body is read, a POST's
JSON body capped and checked, the answer written as JSON, a reply or a followed
stream, every one with a request id, an error in the route's dialect)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from gateway.access import registry
from gateway.base import hooks, lifecycle
from gateway.base.errors import InvalidRequest
from gateway.core.call import Reply, StreamReply
from gateway.edge import endpoints
from tests.gateway.entries import route, snapshot
from tests.gateway.limits.test_limits import key

LIVE = "sy-feature-route-key-0000"
BODY_LIMIT = 64


async def serve(request: hooks.ApiRequest, found: Any) -> Any:
    what = found
    if what == "json":
        return {"method": request.method, "body": request.body, "query": dict(request.query)}
    if what == "refuse":
        raise InvalidRequest("refused by the feature", param="x")
    if what == "reply":
        return Reply(201, b"raw bytes", [(b"content-type", b"text/plain")])

    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        yield b"data: 2\n\n"

    return StreamReply(200, [(b"content-type", b"text/event-stream")], chunks())


def match(method: str, path: str) -> str | None:
    return path.removeprefix("/v1/toy/") if path.startswith("/v1/toy/") else None


TOY = hooks.ApiRoute("toy", match, serve, "anthropic", ("toy",), body_limit=BODY_LIMIT)


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, snapshot_reset) -> endpoints.GatewayApp:
    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    snap = snapshot(route("echo", "echo-1"))
    snap.keys[hashlib.sha256(LIVE.encode()).hexdigest()] = key()
    registry.install(snap)
    monkeypatch.setattr(hooks.api_routes, "_entries", [*hooks.api_routes, TOY])
    return endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]


async def call(
    app: endpoints.GatewayApp, path: str, token: str = LIVE, method: str = "GET", body: bytes = b""
) -> tuple[int, dict[str, str], bytes, int]:
    sent: list[dict] = []
    reads = 0

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": body, "more_body": False}

    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode(),
        "headers": [(b"authorization", f"Bearer {token}".encode())],
    }
    await app(scope, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:]), reads


def test_the_table_composes_the_features_routes_before_the_catch_alls(app) -> None:
    table = endpoints.routes()
    own = [row for row in endpoints.ROUTES if not row.catch_all]
    catch_alls = [row for row in endpoints.ROUTES if row.catch_all]
    assert catch_alls and list(table[: len(own)]) == own
    assert list(table[-len(catch_alls) :]) == catch_alls
    names = [row.name for row in table]
    assert {"stored response", "conversations", "stored interaction", "toy"} <= set(names)
    # a feature's path under a vendor prefix is the feature's, not passthrough's
    for path in ("/openai/v1/responses/resp_1", "/openai/v1/conversations/conv_1"):
        row, _ = endpoints.route_for({"headers": []}, "DELETE", path)
        assert row is not None and row.name in ("stored response", "conversations"), path
    row, found = endpoints.route_for({"headers": []}, "GET", "/v1/toy/json")
    assert row is not None and row.name == "toy" and found == (TOY, "json")
    assert row.serves() == {"toy"}


async def test_a_payload_is_answered_as_json_with_a_request_id(app) -> None:
    body = orjson.dumps({"a": 1})
    status, headers, raw, _ = await call(app, "/v1/toy/json?x=1", method="POST", body=body)
    assert status == 200 and headers["x-request-id"] and headers["request-id"]  # anthropic's
    assert orjson.loads(raw) == {"method": "POST", "body": {"a": 1}, "query": {"x": "1"}}


async def test_a_reply_and_a_stream_go_out_as_the_feature_made_them(app) -> None:
    status, headers, raw, _ = await call(app, "/v1/toy/reply")
    assert (status, raw, headers["content-type"]) == (201, b"raw bytes", "text/plain")
    assert headers["x-request-id"]
    status, headers, raw, _ = await call(app, "/v1/toy/stream")
    assert status == 200 and raw == b"data: 1\n\ndata: 2\n\n" and headers["x-request-id"]


async def test_a_bad_key_is_refused_in_the_routes_dialect_before_the_body_is_read(app) -> None:
    status, _, raw, reads = await call(app, "/v1/toy/json", "sy-nobody", "POST", b"{}")
    error = orjson.loads(raw)
    assert status == 401 and error["type"] == "error"  # Anthropic's envelope
    assert error["error"]["type"] == "authentication_error" and reads == 0


async def test_a_body_past_the_cap_or_not_an_object_is_refused(app) -> None:
    status, _, raw, _ = await call(app, "/v1/toy/json", method="POST", body=b"[" * BODY_LIMIT * 2)
    assert status == 413 and orjson.loads(raw)["type"] == "error"
    status, _, raw, _ = await call(app, "/v1/toy/json", method="POST", body=b"[1]")
    assert status == 400 and "JSON object" in orjson.loads(raw)["error"]["message"]


async def test_a_feature_error_is_rendered_in_the_routes_dialect(app) -> None:
    status, headers, raw, _ = await call(app, "/v1/toy/refuse")
    assert status == 400 and headers["x-request-id"]
    assert orjson.loads(raw)["error"] == {
        "type": "invalid_request_error",
        "message": "refused by the feature",
    }


async def test_what_the_url_conf_loads_is_loaded_off_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Django resolves a path in the event loop: what the URL conf says a path needs
    loaded first (``gateway.server.urls.loader_for``: an /api resource, the console's
    URL conf) the edge runs in a thread; once it is loaded, nothing is run."""

    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    loop_thread, imported_in, asked, reached = threading.current_thread(), [], [], []

    def loader_for(path: str) -> Any:
        asked.append(path)
        return None if imported_in else lambda: imported_in.append(threading.current_thread())

    async def django_app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    gateway = endpoints.GatewayApp(django_app=django_app, role="all")
    gateway.urls = SimpleNamespace(loader_for=loader_for)  # type: ignore[assignment]
    for path in ("/api/keys/", "/api/keys/", "/ui/"):
        scope = {"type": "http", "method": "GET", "path": path, "headers": []}
        await gateway(scope, None, None)  # type: ignore[arg-type]
    assert asked == ["/api/keys/", "/api/keys/", "/ui/"]  # every path Django resolves
    assert len(imported_in) == 1 and imported_in[0] is not loop_thread
    assert reached == ["/api/keys/", "/api/keys/", "/ui/"]
