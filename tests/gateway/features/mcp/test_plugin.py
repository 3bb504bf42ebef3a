"""What the MCP feature plugs in (``plugin``): the ``/mcp`` app taken from the endpoint
module, the hosted tools' job that imports nothing when no MCP server is named anywhere
and hands over to the hosted pipeline when one is, and what ``register`` put in the
hooks."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest

from gateway.base import hooks
from gateway.features.mcp import closing, plugin, retention


def job(request_servers=(), caller_servers=()):  # type: ignore[no-untyped-def]
    request = SimpleNamespace(mcp_servers=list(request_servers))
    caller = SimpleNamespace(mcp_servers=list(caller_servers))
    return SimpleNamespace(request=request, call=SimpleNamespace(caller=caller))


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> list:
    """A hosted pipeline standing in for the real one (which brings the MCP SDK)."""
    asked: list = []
    fake = types.ModuleType(plugin.PIPELINE)
    fake.toolset = lambda job, route: asked.append((job, route)) or "tools"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, plugin.PIPELINE, fake)
    return asked


async def test_no_server_anywhere_gives_no_toolset(pipeline) -> None:
    route = SimpleNamespace(mcp_servers=())
    assert await plugin.HOSTED_TOOLS.toolset(job(), route) is None
    assert (
        await plugin.HOSTED_TOOLS.toolset(SimpleNamespace(request=None, call=job().call), route)
        is None
    )
    assert pipeline == []


@pytest.mark.parametrize(
    ("request_servers", "route_servers", "caller_servers"),
    [(["docs"], (), ()), ((), ("docs",), ()), ((), (), ["docs"])],
)
async def test_a_server_named_anywhere_hands_over_to_the_pipeline(
    pipeline, request_servers, route_servers, caller_servers
) -> None:
    the_job = job(request_servers, caller_servers)
    route = SimpleNamespace(mcp_servers=route_servers)
    assert await plugin.HOSTED_TOOLS.toolset(the_job, route) == "tools"
    assert pipeline == [(the_job, route)]


async def test_the_endpoint_app_is_the_endpoint_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType(plugin.ENDPOINT)
    fake.app = object()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, plugin.ENDPOINT, fake)
    assert await plugin.endpoint_app() is fake.app


def test_register_plugged_in_the_app_the_job_the_closer_and_the_pruners() -> None:
    assert hooks.asgi_apps.get("mcp") is plugin.endpoint_app
    assert plugin.HOSTED_TOOLS in list(hooks.extra_jobs)
    assert closing.aclose_used in list(hooks.closers)
    pruners = list(hooks.pruners)
    for pruner in (
        retention.prune_ended_sessions,
        retention.prune_sign_in,
        retention.prune_pending_authorizations,
        retention.prune_tasks,
    ):
        assert pruner in pruners
