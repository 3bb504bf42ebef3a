"""What the edge serves for a unit (``hooks.asgi_apps``): ``/mcp`` is the app the MCP
unit registers, loaded when a request first asks; with no unit serving it, a 404. The
route table's own Host/Origin rule comes first either way."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.base import hooks
from gateway.edge import endpoints

pytestmark = pytest.mark.django_db(transaction=True)


async def _post(app: Any, path: str, origin: bytes = b"") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"host", b"127.0.0.1:4000")] + ([(b"origin", origin)] if origin else [])
    scope = {"type": "http", "scheme": "http", "method": "POST", "path": path, "headers": headers}
    await app(scope, receive, send)
    return sent


async def _django_app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("/mcp never reaches Django")


@pytest.fixture
def gateway() -> endpoints.GatewayApp:
    return endpoints.GatewayApp(django_app=_django_app, role="all")


async def test_mcp_is_the_registered_units_app(gateway, monkeypatch) -> None:
    reached: list[str] = []

    async def stand_in(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def loader() -> Any:
        return stand_in

    monkeypatch.setitem(hooks.asgi_apps._entries, "mcp", loader)
    sent = await _post(gateway, "/mcp/github")
    assert reached == ["/mcp/github"] and sent[0]["status"] == 200


async def test_the_mcp_unit_registers_its_endpoint() -> None:
    from gateway.features.mcp import plugin

    assert hooks.asgi_apps.get("mcp") is plugin.endpoint_app


async def test_no_unit_serving_mcp_is_a_404(gateway, monkeypatch) -> None:
    monkeypatch.delitem(hooks.asgi_apps._entries, "mcp")
    sent = await _post(gateway, "/mcp")
    assert sent[0]["status"] == 404


async def test_the_origin_rule_comes_first(gateway, monkeypatch, settings) -> None:
    async def loader() -> Any:
        raise AssertionError("not loaded for a refused Host")

    monkeypatch.setitem(hooks.asgi_apps._entries, "mcp", loader)
    settings.ALLOWED_HOSTS, settings.CSRF_TRUSTED_ORIGINS = ["*"], []
    sent = await _post(gateway, "/mcp", origin=b"http://evil.example.com")  # a rebinding page
    assert sent[0]["status"] == 403
