"""serve --role: each role serves its plane's paths and answers the other's with a 421
naming the role that serves them; every role serves the probes and /metrics. Through
the edge's ASGI app in process (Django stood in for by a recorder), and the WebSocket
dispatcher of gateway.server.asgi."""

from __future__ import annotations

import orjson
import pytest

from gateway.edge import endpoints

pytestmark = pytest.mark.django_db(transaction=True)

INFERENCE = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/chat/completions"),
    ("POST", "/v1/messages"),
    ("POST", "/anthropic/v1/messages"),
    ("POST", "/v1beta/models/gemini-pro:generateContent"),
    ("GET", "/v1/models"),
    ("GET", "/v1/files"),
    ("POST", "/mcp"),
    ("GET", "/v1/no-such-endpoint"),
]
CONSOLE = [
    ("GET", "/"),
    ("GET", "/logs/"),
    ("GET", "/api/keys"),
    ("POST", "/api/routes"),
    ("GET", "/admin/"),
    ("GET", "/static/console.css"),
]
COMMON = [
    ("GET", "/health/liveliness"),
    ("GET", "/health/readiness"),
    ("GET", "/health"),
    ("GET", "/metrics"),
]


class Django:
    """Stands in for Django: records what reached it and answers 299."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def call(app, method: str, path: str) -> tuple[int, dict, dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}
    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    try:
        payload = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        payload = {}
    return start["status"], headers, payload


@pytest.mark.parametrize("role", ["api", "console", "worker", "all"])
async def test_each_role_serves_its_paths_and_refuses_the_others(role) -> None:
    django = Django()
    app = endpoints.GatewayApp(django, role=role)
    serves = {
        "api": INFERENCE + COMMON,
        "console": CONSOLE + COMMON,
        "worker": COMMON,
        "all": INFERENCE + CONSOLE + COMMON,
    }[role]
    for method, path in INFERENCE + CONSOLE + COMMON:
        status, headers, payload = await call(app, method, path)
        if (method, path) in serves:
            assert status != 421, (role, path)
        else:
            assert status == 421, (role, path, status)
            assert headers["content-type"] == "application/json"
            assert headers["x-switchyard-role"] == role
            wanted = "api" if (method, path) in INFERENCE else "console"
            assert payload["served_by"] == wanted and payload["role"] == role
            assert payload["error"]["code"] == "wrong_role"
            assert f"{method} {path}" in payload["error"]["message"]
    # the probes are the edge's own (they never load the URL conf); /health is Django's
    console_paths = {p for m, p in CONSOLE} | {"/health"}
    reached = set(django.paths)
    if role in ("console", "all"):
        assert reached == console_paths
    else:  # nothing of the console's reaches Django here
        assert reached == {"/health"}
    status, _, payload = await call(app, "GET", "/health/liveliness")
    assert (status, payload) == (200, {"status": "alive"})


async def test_inference_paths_served_by_the_api_role_answer_as_they_always_do() -> None:
    app = endpoints.GatewayApp(Django(), role="api")
    status, _, payload = await call(app, "POST", "/v1/chat/completions")
    assert status == 401 and payload["error"]["type"] == "invalid_api_key"  # no key sent
    status, _, payload = await call(app, "GET", "/v1/no-such-endpoint")
    assert status == 404 and payload["error"]["code"] == "unknown_url"
    status, _, _ = await call(app, "GET", "/metrics")
    assert status == 200


def test_the_role_comes_from_the_setting_and_a_bad_one_is_refused() -> None:
    from gateway.base import process_role

    assert process_role.parse("") == "all"
    assert process_role.parse(" API ") == "api"
    with pytest.raises(ValueError, match="api, console, worker, all"):
        process_role.parse("inference")
    assert process_role.runs(process_role.WORKER, "all")
    assert process_role.runs(process_role.WORKER, "worker")
    assert not process_role.runs(process_role.WORKER, "api")
    assert not process_role.runs(process_role.WORKER, "console")
