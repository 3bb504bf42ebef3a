"""Whether the gateway runs a request's server tools (not when every deployment speaks
the caller's own API; web search only with a backend, web fetch unless turned off; code
execution a 400), what the parse noted as lost that it now runs, and the toolset it
builds, each search charged at the backend's price."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.base.entries import MASTER, ProviderEntry
from gateway.base.errors import InvalidRequest
from gateway.base.types import ChatRequest, ServerTool
from gateway.features.server_tools import loop, pipeline
from gateway.providers.base import adapter_for
from tests.gateway.entries import PROVIDER, route

SEARCH = ServerTool("web_search", "web_search_20250305", "web_search")
FETCH = ServerTool("web_fetch", "web_fetch_20250910", "web_fetch")
CODE = ServerTool("code_execution", "code_execution_20250825", "code_execution")
PLAIN = route("plain", "up-1")
SEARCHING = dataclasses.replace(
    PLAIN, web_search_backend="brave", web_search_url="https://api.search.brave.com/x",
    web_search_key="os.environ/BRAVE", web_search_price=Decimal("0.005"),
)  # fmt: skip
OTHER_API = object()  # a caller's codec no deployment speaks


def job(*tools: ServerTool, codec: Any = OTHER_API, unmapped: tuple[str, ...] = ()) -> Any:
    request = ChatRequest(model="m", server_tools=list(tools), unmapped=list(unmapped))
    call = SimpleNamespace(codec=codec, extra_cost=Decimal(0))
    return SimpleNamespace(request=request, call=call, key=MASTER)


def test_native_when_every_deployment_speaks_the_caller_s_api() -> None:
    speaks = adapter_for(PROVIDER).speaks
    assert pipeline.native(PLAIN, job(codec=speaks).call)
    assert not pipeline.native(PLAIN, job().call)
    assert not pipeline.native(dataclasses.replace(PLAIN, deployments=()), job(codec=speaks).call)
    unknown = ProviderEntry(9, "odd", "no-such-kind", "http://x", "", {}, "", None)
    assert not pipeline.native(route("odd", "m", provider=unknown), job(codec=speaks).call)


def test_a_backend_needs_a_known_kind_and_a_url() -> None:
    backend = pipeline.backend_of(SEARCHING)
    assert backend is not None and (backend.kind, backend.key) == ("brave", "os.environ/BRAVE")
    assert backend.price == Decimal("0.005")
    assert pipeline.backend_of(PLAIN) is None
    assert pipeline.backend_of(dataclasses.replace(SEARCHING, web_search_url="")) is None
    assert pipeline.backend_of(dataclasses.replace(SEARCHING, web_search_backend="bing")) is None


def test_runnable_tools(settings: Any) -> None:
    request = job(SEARCH, FETCH).request
    assert pipeline.runnable(SEARCHING, request) == [SEARCH, FETCH]
    assert pipeline.runnable(PLAIN, request) == [FETCH]  # no backend: search left as it was
    settings.SWITCHYARD_WEB_FETCH = False
    assert pipeline.runnable(PLAIN, request) == []
    with pytest.raises(InvalidRequest, match="no sandbox is configured for route 'plain'"):
        pipeline.runnable(SEARCHING, job(SEARCH, CODE).request)


def test_takes_keeps_the_runnable_tools_and_clears_what_was_noted_lost() -> None:
    taken = job(
        SEARCH,
        FETCH,
        unmapped=(
            "web_search_20250305",
            "web_fetch_20250910",
            "tools (web_fetch_20250910)",
            "top_k",
        ),
    )
    assert pipeline.takes(taken, PLAIN)
    assert taken.request.server_tools == [FETCH]
    assert taken.request.unmapped == ["web_search_20250305", "top_k"]  # search is not run
    assert not pipeline.takes(job(SEARCH), PLAIN)  # nothing it runs
    assert not pipeline.takes(job(SEARCH, FETCH, codec=adapter_for(PROVIDER).speaks), SEARCHING)
    assert not pipeline.takes(SimpleNamespace(request=None, call=None), SEARCHING)


def test_the_toolset_charges_each_search_at_the_backend_s_price() -> None:
    searching = job(SEARCH)
    tools = pipeline.toolset(searching, SEARCHING)
    assert isinstance(tools, loop.ServerTools) and tools.key is MASTER
    assert tools.on_search is not None
    tools.on_search()
    tools.on_search()
    assert searching.call.extra_cost == Decimal("0.010")
    unpriced = job(SEARCH)
    free = pipeline.toolset(unpriced, dataclasses.replace(SEARCHING, web_search_price=None))
    assert free is not None and free.on_search is not None
    free.on_search()
    assert unpriced.call.extra_cost == 0
    assert pipeline.toolset(job(SEARCH), PLAIN) is None
