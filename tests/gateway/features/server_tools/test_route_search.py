"""Web search through a route of the gateway (``web_search_backend: route``): a model
that searches (a Perplexity-style sonar model, an OpenAI search model) is asked the
query through the pipeline under the caller's key; its answer and citations become the
``web_search_tool_result`` blocks, the model reads the cited sentences, and the search
is a request of its own in the journal. All upstreams are an ``httpx.MockTransport``."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.core import service
from gateway.features.server_tools import route_search
from gateway.features.server_tools.backends import SearchFailed
from tests.gateway.entries import route, snapshot

SONAR_ANSWER = (
    "Switchyard learned web search in November [1]. It runs on any model [2][1].\n"
    "Nothing else changed."
)


def completion(model: str, message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return {
        "id": "chat1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        **extra,
    }  # fmt: skip


class Upstreams:
    """``gpt-up`` searches once then answers with what it read; ``sonar-up`` answers
    a query as Perplexity does (``citations``, ``search_results``)."""

    def __init__(self) -> None:
        self.chats: list[dict[str, Any]] = []
        self.searches: list[dict[str, Any]] = []
        self.sonar_status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        if body["model"] == "sonar-up":
            self.searches.append(body)
            if self.sonar_status != 200:
                return httpx.Response(self.sonar_status, json={"error": {"message": "down"}})
            extra = {
                "citations": ["https://a.example/nov", "https://b.example/any"],
                "search_results": [
                    {"title": "November notes", "url": "https://a.example/nov",
                     "date": "2026-11-20"},
                    {"title": "Any model", "url": "https://b.example/any"},
                ],
            }  # fmt: skip
            message = {"role": "assistant", "content": SONAR_ANSWER}
            return httpx.Response(200, json=completion("sonar-up", message, **extra))
        self.chats.append(body)
        results = [m for m in body["messages"] if m["role"] == "tool"]
        if results:
            message = {"role": "assistant", "content": "Read: " + results[0]["content"]}
        else:
            arguments = orjson.dumps({"query": "switchyard november"}).decode()
            call = {"id": "c1", "type": "function",
                    "function": {"name": "web_search", "arguments": arguments}}  # fmt: skip
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return httpx.Response(200, json=completion("gpt-up", message))


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, snapshot_reset, settings):  # type: ignore[no-untyped-def]
    settings.REDIS_URL = ""
    recorded: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", recorded.append)
    searching = dataclasses.replace(
        route("chat-model", "gpt-up", max_attempts=1),
        web_search_backend="route",
        web_search_url="sonar",
    )
    registry.install(snapshot(searching, route("sonar", "sonar-up", max_attempts=1)))
    upstreams = Upstreams()
    http.use_transport(httpx.MockTransport(upstreams))
    yield upstreams, recorded
    http.use_transport(None)


def ask(key=MASTER) -> Any:  # type: ignore[no-untyped-def]
    body = {
        "model": "chat-model",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "What changed in November?"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
    }
    return service.handle("chat", "anthropic", orjson.dumps(body), {}, service.Caller(key=key))


async def test_an_anthropic_client_searches_through_a_sonar_route(gateway):
    upstreams, recorded = gateway
    reply = await ask()
    assert reply.status == 200, reply.body
    data = orjson.loads(reply.body)
    kinds = [block["type"] for block in data["content"]]
    assert kinds == ["server_tool_use", "web_search_tool_result", "text"]
    results = data["content"][1]["content"]
    assert [(r["url"], r["title"], r["page_age"]) for r in results] == [
        ("https://a.example/nov", "November notes", "2026-11-20"),
        ("https://b.example/any", "Any model", None),
    ]
    assert data["usage"]["server_tool_use"]["web_search_requests"] == 1
    # the search route was asked the model's query, as a plain chat request
    (search,) = upstreams.searches
    assert search["messages"] == [{"role": "user", "content": "switchyard november"}]
    assert not search.get("tools")
    # the model read each source with the answer's sentences that cite it
    read = upstreams.chats[-1]["messages"][-1]["content"]
    assert "[1] November notes\nhttps://a.example/nov\n" in read
    assert "Switchyard learned web search in November ." in read
    assert "It runs on any model ." in read
    assert "Nothing else changed" not in read  # cites nothing
    # two journal rows: the search, a request of its own under the caller's key, then the chat
    assert [(r.route, r.user_agent) for r in recorded] == [
        ("sonar", route_search.USER_AGENT),
        ("chat-model", ""),
    ]
    assert all(r.key_id == MASTER.id and r.status == 200 for r in recorded)


async def test_a_failing_search_route_is_the_searchs_error(gateway):
    upstreams, recorded = gateway
    upstreams.sonar_status = 500
    reply = await ask()
    assert reply.status == 200, reply.body
    blocks = orjson.loads(reply.body)["content"]
    assert blocks[1]["content"] == {
        "type": "web_search_tool_result_error",
        "error_code": "unavailable",
    }
    assert "the search route 'sonar' answered" in upstreams.chats[-1]["messages"][-1]["content"]


async def test_a_key_limited_to_its_route_may_search_through_the_search_route(gateway):
    """The route's editor named the search route: a key allowed the chat route only
    uses it for the search, the search row named with the key."""
    upstreams, recorded = gateway
    key = dataclasses.replace(MASTER, id=77, name="narrow", routes=frozenset({"chat-model"}))
    reply = await ask(key)
    assert reply.status == 200, reply.body
    assert len(upstreams.searches) == 1
    assert [r.key_id for r in recorded] == [77, 77]
    refused = await service.handle(
        "chat", "openai",
        orjson.dumps({"model": "sonar", "messages": [{"role": "user", "content": "x"}]}),
        {}, service.Caller(key=key),
    )  # fmt: skip
    assert refused.status == 403  # not on its own


def test_an_openai_search_models_annotations_are_the_results() -> None:
    text = "Rain is likely tomorrow in Paris, says the forecast (meteo.fr). Bring a coat."
    link = "(meteo.fr)"
    start = text.index(link)
    annotation = {
        "type": "url_citation",
        "url_citation": {
            "url": "https://meteo.fr/paris",
            "title": "Paris forecast",
            "start_index": start,
            "end_index": start + len(link),
        },
    }
    message = {"role": "assistant", "content": text, "annotations": [annotation]}
    (found,) = route_search.results(completion("gpt-4o-search-preview", message))
    assert (found.url, found.title) == ("https://meteo.fr/paris", "Paris forecast")
    assert found.snippet == "Rain is likely tomorrow in Paris, says the forecast (meteo.fr)."


def test_an_answer_citing_nothing_in_its_text_gives_it_to_the_first_source() -> None:
    message = {"role": "assistant", "content": "It rains."}
    data = completion("sonar", message, citations=["https://x.example/", "https://y.example/"])
    found = route_search.results(data)
    assert [(r.url, r.snippet) for r in found] == [
        ("https://x.example/", "It rains."),
        ("https://y.example/", ""),
    ]
    assert route_search.results(completion("sonar", message)) == []  # no source: no result


async def test_a_refused_search_is_too_many_requests(gateway, monkeypatch) -> None:
    upstreams, recorded = gateway
    upstreams.sonar_status = 429
    with pytest.raises(SearchFailed) as failed:
        await route_search.search("sonar", "q", MASTER, 5)
    assert failed.value.code == "too_many_requests"
    assert str(failed.value) == "the search route 'sonar' is rate limiting (429)"


def test_the_form_offers_a_route_backend() -> None:
    from gateway.features.server_tools import backend_choices

    assert ("route", "a route of this gateway") in backend_choices()
