"""The ASGI entry point's WebSocket dispatch: a path the process's role does not serve
is closed before it is accepted; the others go to the feature serving the path, the
Realtime relay or the console's consumers."""

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
