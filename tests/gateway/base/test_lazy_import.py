"""Heavy modules load off the event loop (``gateway.base.lazy_import``): the loop goes
on serving while a worker imports the MCP SDK or the console's URL conf on first use."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from gateway.base import lazy_import
from gateway.edge import endpoints


@pytest.fixture
def probe_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module that notes the thread importing it."""
    (tmp_path / "lazy_probe_module.py").write_text(
        "import threading\nIMPORTED_IN = threading.get_ident()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "lazy_probe_module"
    sys.modules.pop("lazy_probe_module", None)


async def test_a_module_is_imported_in_a_thread_not_the_loop(probe_module: str) -> None:
    assert lazy_import.ready(probe_module) is None
    module = await lazy_import.loaded(probe_module)
    assert threading.get_ident() != module.IMPORTED_IN
    assert lazy_import.ready(probe_module) is module
    assert await lazy_import.loaded(probe_module) is module  # then from sys.modules


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The modules the edge asks ``lazy_import.loaded`` for."""
    asked: list[str] = []
    real = lazy_import.loaded

    async def noting(name: str) -> Any:
        asked.append(name)
        return await real(name)

    monkeypatch.setattr(lazy_import, "loaded", noting)
    return asked


async def _request(app: Any, path: str) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"host", b"127.0.0.1")]}
    await app(scope, receive, send)


@pytest.mark.django_db(transaction=True)
async def test_the_edge_loads_mcp_and_the_url_conf_off_the_loop(loads: list[str]) -> None:
    reached: list[str] = []

    async def django_app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    app = endpoints.GatewayApp(django_app=django_app, role="all")
    app.urls = None  # as in a worker whose first console page this is
    await _request(app, "/mcp")
    await _request(app, "/ui/")
    await _request(app, "/ui/logs")
    assert loads == ["gateway.features.mcp.endpoint", settings.ROOT_URLCONF]  # the second: no ask
    assert reached == ["/ui/", "/ui/logs"]


def test_a_declared_function_imports_its_module_when_first_called(probe_module: str) -> None:
    """``lazy_import.function("module:name")``: nothing imported when declared; the call
    imports the module and calls the name as it is then (a test's patch included)."""
    later = lazy_import.function(f"{probe_module}:answer")
    assert probe_module not in sys.modules and later.__name__ == "answer"
    with pytest.raises(AttributeError):
        later()  # imported now, and the module has no such name
    assert probe_module in sys.modules
    sys.modules[probe_module].answer = lambda *a, **kw: (a, kw)  # type: ignore[attr-defined]
    assert later(1, two=2) == ((1,), {"two": 2})
