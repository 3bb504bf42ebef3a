"""The server tools as an extra job of the chat job: a request without server tools is
answered "none" without the pipeline; one with some gets the pipeline's toolset."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.base import hooks
from gateway.features.server_tools import plugin


def test_it_is_registered_as_an_extra_job() -> None:
    assert plugin.SERVER_TOOLS in list(hooks.extra_jobs)


async def test_a_request_without_server_tools_has_no_toolset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, plugin.PIPELINE, raising=False)
    for request in (None, SimpleNamespace(server_tools=[])):
        assert await plugin.SERVER_TOOLS.toolset(SimpleNamespace(request=request), None) is None
    assert plugin.PIPELINE not in sys.modules  # never imported for it


async def test_a_request_with_server_tools_gets_the_pipeline_s_toolset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway.features.server_tools import pipeline

    asked: list[tuple[Any, Any]] = []
    monkeypatch.setattr(
        pipeline, "toolset", lambda job, route: asked.append((job, route)) or "tools"
    )
    job, route = SimpleNamespace(request=SimpleNamespace(server_tools=["web_search"])), object()
    assert await plugin.SERVER_TOOLS.toolset(job, route) == "tools"
    assert asked == [(job, route)]
