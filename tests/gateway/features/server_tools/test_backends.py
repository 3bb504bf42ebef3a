"""Each search API's wire (a mock through ``httpx.MockTransport``): how the query and
the key are sent, how results are read, and a failure's code and message (the backend's
host, never its key)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.base import http
from gateway.features.server_tools import backends


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[httpx.Request]]:
    monkeypatch.setenv("SEARCH_KEY", "k-123")
    requests: list[httpx.Request] = []
    answers: dict[str, Any] = {
        "api.search.brave.com": {
            "web": {"results": [{"url": "https://a.example", "title": "A",
                                 "description": "about a", "page_age": "2026-11-01"}]}
        },
        "api.tavily.com": {
            "results": [{"url": "https://b.example", "title": "B", "content": "about b"}]
        },
    }  # fmt: skip

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.host == "down.example":
            return httpx.Response(429, json={})
        return httpx.Response(200, json=answers[request.url.host])

    http.use_transport(httpx.MockTransport(answer))
    yield requests
    http.use_transport(None)


async def test_brave(seen: list[httpx.Request]) -> None:
    backend = backends.Backend(
        "brave", "https://api.search.brave.com/res/v1/web/search", "os.environ/SEARCH_KEY"
    )
    results = await backends.search(backend, "switchyard", count=5)
    assert [(r.url, r.title, r.snippet, r.page_age) for r in results] == [
        ("https://a.example", "A", "about a", "2026-11-01")
    ]
    sent = seen[0]
    assert sent.method == "GET" and sent.headers["x-subscription-token"] == "k-123"
    assert dict(sent.url.params) == {"q": "switchyard", "count": "5"}


async def test_tavily(seen: list[httpx.Request]) -> None:
    backend = backends.Backend("tavily", "https://api.tavily.com/search", "os.environ/SEARCH_KEY")
    results = await backends.search(backend, "switchyard")
    assert [(r.url, r.snippet) for r in results] == [("https://b.example", "about b")]
    sent = seen[0]
    assert sent.method == "POST" and sent.headers["authorization"] == "Bearer k-123"
    assert orjson.loads(sent.content) == {"query": "switchyard", "max_results": 10}


async def test_a_failure_names_the_host_never_the_key(seen: list[httpx.Request]) -> None:
    backend = backends.Backend("brave", "https://down.example/s", "os.environ/SEARCH_KEY")
    with pytest.raises(backends.SearchFailed) as failed:
        await backends.search(backend, "q")
    assert failed.value.code == "too_many_requests"
    assert str(failed.value) == "down.example is rate limiting (429)"
    missing = backends.Backend("brave", "https://down.example/s", "os.environ/SEARCH_MISSING")
    with pytest.raises(backends.SearchFailed) as failed:
        await backends.search(missing, "q")
    assert failed.value.code == "unavailable" and "SEARCH_MISSING" in str(failed.value)
