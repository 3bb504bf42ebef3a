"""The ASGI entry point's WebSocket dispatch: a path the process's role does not serve
is closed before it is accepted; the others go to the feature serving the path, the
Realtime relay or the console's consumers, which load off the event loop when the first
console socket is opened."""

from __future__ import annotations

import pytest

from gateway.edge import role_gate


@pytest.mark.parametrize(
    ("role", "path", "refused"),
    [
        ("api", "/ws/logs/tail/", True),
        ("api", "/v1/responses", False),
        ("api", "/v1/realtime", False),
        ("console", "/v1/responses", True),
        ("console", "/v1/realtime", True),
        ("console", "/ws/logs/tail/", False),
        ("worker", "/ws/logs/tail/", True),
        ("worker", "/v1/responses", True),
    ],
)
async def test_websockets_are_refused_before_they_are_accepted(
    monkeypatch, role, path, refused
) -> None:
    from gateway.server import asgi

    reached: list[str] = []

    async def stand_in(scope, receive, send) -> None:
        reached.append(scope["path"])

    monkeypatch.setattr(asgi, "ROLE", role)
    monkeypatch.setattr(asgi, "console_sockets", stand_in)
    for feature_path in list(asgi.FEATURE_SOCKETS):
        monkeypatch.setitem(asgi.FEATURE_SOCKETS, feature_path, stand_in)
    monkeypatch.setattr(asgi.realtime_socket, "app", stand_in)
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    await asgi.websockets({"type": "websocket", "path": path, "headers": []}, receive, send)
    if refused:
        assert sent == [{"type": "websocket.close", "code": role_gate.CLOSE_MISDIRECTED}]
        assert reached == []
    else:
        assert reached == [path] and sent == []


async def test_each_socket_path_reaches_its_own_app_in_the_all_role(monkeypatch) -> None:
    from gateway.server import asgi

    reached: list[tuple[str, str]] = []

    def stand_in(name: str):
        async def app(scope, receive, send) -> None:
            reached.append((name, scope["path"]))

        return app

    monkeypatch.setattr(asgi, "ROLE", "all")
    monkeypatch.setattr(asgi, "console_sockets", stand_in("console"))
    monkeypatch.setattr(asgi.realtime_socket, "app", stand_in("realtime"))
    feature_path = next(iter(asgi.FEATURE_SOCKETS))
    monkeypatch.setitem(asgi.FEATURE_SOCKETS, feature_path, stand_in("feature"))

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    async def send(message: dict) -> None:
        raise AssertionError(f"nothing is refused in the all role: {message}")

    for path in (feature_path, "/v1/realtime", "/ws/logs/tail/"):
        await asgi.websockets({"type": "websocket", "path": path, "headers": []}, receive, send)
    assert reached == [
        ("feature", feature_path),
        ("realtime", "/v1/realtime"),
        ("console", "/ws/logs/tail/"),
    ]


async def test_the_console_s_sockets_load_off_the_loop_on_the_first_one_opened(
    monkeypatch,
) -> None:
    from gateway.base import lazy_import
    from gateway.server import asgi

    loading: list[str] = []
    loaded = lazy_import.loaded

    async def noting(name: str):
        loading.append(name)
        return await loaded(name)

    monkeypatch.setattr(asgi, "_console_app", None)
    monkeypatch.setattr(lazy_import, "loaded", noting)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    async def send(message: dict) -> None:
        sent.append(message)

    foreign = [(b"host", b"127.0.0.1"), (b"origin", b"http://evil.example")]
    for _ in range(2):
        scope = {"type": "websocket", "path": "/ws/logs/tail/", "headers": foreign}
        await asgi.console_sockets(scope, receive, send)
    assert loading == ["console.routing"]  # in a thread (lazy_import.loaded), once
    assert sent == [{"type": "websocket.close", "code": 4403}] * 2  # the console's own checks
