"""The server's URL conf (``gateway.server.urls``): what the edge runs off its event loop
before Django resolves a path there. The first console page's import in a thread, through
the whole application, is held by tests/gateway/test_worker_imports.py."""

from __future__ import annotations

import sys

import pytest

from gateway.server import urls


def test_nothing_is_asked_for_api_and_health_paths_nor_once_everything_is_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(urls, "UNLOADED", ("tests.gateway.server.never_imported",))
    monkeypatch.setattr(urls, "resources_for", lambda path: f"resources of {path}")
    assert urls.loader_for("/api/keys/") == "resources of /api/keys/"  # /api's own
    assert urls.loader_for("/health/readiness") is None
    assert urls.loader_for("/logs/") is not None  # a module this path may reach is unloaded
    monkeypatch.setattr(urls, "UNLOADED", tuple(name for name in sys.modules if "." in name)[:3])
    assert urls.loader_for("/logs/") is None


@pytest.mark.parametrize("path", ["/", "/no/such/page/", "/admin/"])
def test_the_loader_resolves_the_path_and_never_raises(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path Django will answer with a 404 (or a redirect) is resolved quietly: its
    own resolve in the loop raises again and answers."""
    monkeypatch.setattr(urls, "UNLOADED", ("tests.gateway.server.never_imported",))
    load = urls.loader_for(path)
    assert load is not None
    load()
    assert "console.urls" in sys.modules
