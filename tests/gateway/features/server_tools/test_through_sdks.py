"""Server tools on an upstream that does not run them, through the official SDKs (the
gateway's ASGI app in process): a mock OpenAI upstream, a mock SearXNG backend and the
page to fetch all served by one HTTP server on 127.0.0.1. The mock model searches,
fetches the first result's page and answers with what it read; the client gets
Anthropic's ``server_tool_use`` / ``web_search_tool_result`` / ``web_fetch_tool_result``
blocks (streamed or not, parsed by the SDK's own types) or the Responses API's
``web_search_call`` items, ``usage.server_tool_use`` counted and the searches' price in
the journal's cost. On an Anthropic upstream the tools pass through untouched; code
execution is refused in the caller's format."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anthropic
import httpx
import httpx2
import openai
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import background, lifecycle
from gateway.base.entries import KeyEntry, ProviderEntry
from gateway.edge import endpoints
from tests.gateway.entries import deployment, route, snapshot

MASTER_KEY = "sy-master-server-tools-0123456789"
QUESTION = "What does the Switchyard changelog say about November?"
PAGE_TEXT = "In November Switchyard learned to run web search for every model."
PAGE = (
    "<html><head><title>Switchyard changelog</title><style>p{}</style></head>"
    f"<body><script>var x = 1;</script><h1>Changelog</h1><p>{PAGE_TEXT}</p></body></html>"
)


class Mock(BaseHTTPRequestHandler):
    """The upstream model (``/v1/chat/completions``, ``/v1/messages``), the search
    backend (``/search``) and the web (``/page``)."""

    server: Any

    def log_message(self, *args: Any) -> None:
        return None

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        if url.path == "/search":
            query = parse_qs(url.query)
            state["searches"].append((query["q"][0], self.headers.get("authorization")))
            base = f"http://127.0.0.1:{self.server.server_port}"
            results = [
                {"url": f"{base}/page", "title": "Switchyard changelog",
                 "content": "What changed this month", "publishedDate": "2026-11-20"},
                {"url": "https://blocked.example/x", "title": "Elsewhere", "content": "..."},
            ]  # fmt: skip
            self._send(200, orjson.dumps({"query": query["q"][0], "results": results}))
        elif url.path == "/page":
            self._send(200, PAGE.encode(), "text/html; charset=utf-8")
        else:
            self._send(404, b"{}")

    def do_POST(self) -> None:
        state = self.server.state
        body = orjson.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.path.endswith("/v1/messages"):
            state["anthropic"].append(body)
            answer = {
                "id": "msg_up", "type": "message", "role": "assistant", "model": body["model"],
                "content": [{"type": "text", "text": "native"}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1},
            }  # fmt: skip
            self._send(200, orjson.dumps(answer))
            return
        state["chats"].append(body)
        self._send(200, orjson.dumps(self.server.model(body)))


def model_turn(body: dict[str, Any], fetch_url: str | None = None) -> dict[str, Any]:
    """The mock model: search for the question, fetch the first result (or
    ``fetch_url``), then answer with what the page said."""
    names = {t["function"]["name"] for t in body.get("tools") or []}
    results = [m for m in body["messages"] if m["role"] == "tool"]
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if not results and "web_search" in names:
        message["tool_calls"] = [call("c1", "web_search", {"query": "switchyard changelog"})]
        message["content"] = "Let me search."
    elif len(results) == 1 and "web_fetch" in names:
        url = fetch_url or next(
            line for line in results[0]["content"].splitlines() if line.startswith("http")
        )
        message["tool_calls"] = [call("c2", "web_fetch", {"url": url})]
    elif not results:
        message["content"] = "No tools used."
    else:
        message["content"] = "Answer: " + results[-1]["content"].splitlines()[-1]
    return {
        "id": "chat1", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "message": message,
                     "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
    }  # fmt: skip


def call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(arguments).decode()},
    }


@pytest.fixture
def mock() -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Mock)
    server.state = {"chats": [], "searches": [], "anthropic": []}
    server.model = model_turn
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def gateway(mock, monkeypatch: pytest.MonkeyPatch, snapshot_reset, settings) -> Iterator[Any]:
    settings.SWITCHYARD_MASTER_KEY = MASTER_KEY
    settings.REDIS_URL = ""
    settings.SWITCHYARD_URL_FETCH_ALLOW = "127.0.0.1"  # the page is on loopback

    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    monkeypatch.setenv("SEARX_TOKEN", "searx-secret-token")
    recorded: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", recorded.append)
    base = f"http://127.0.0.1:{mock.server_port}"
    openai_up = ProviderEntry(1, "up", "openai", f"{base}/v1", "sk-up", {}, "", None)
    anthropic_up = ProviderEntry(2, "claude", "anthropic", base, "sk-ant", {}, "", None)
    web = dataclasses.replace(
        route("web", "gpt-up", max_attempts=1),
        deployments=(
            deployment(
                "web", "gpt-up", provider=openai_up, input_price=Decimal(1), output_price=Decimal(1)
            ),
        ),
        web_search_backend="searxng",
        web_search_url=f"{base}/search",
        web_search_key="os.environ/SEARX_TOKEN",
        web_search_price=Decimal("0.01"),
    )
    plain = dataclasses.replace(web, id=web.id + 5000, name="plain", web_search_backend="")
    claude = dataclasses.replace(
        route("claude", "claude-up", max_attempts=1),
        deployments=(deployment("claude", "claude-up", provider=anthropic_up),),
    )
    snap = snapshot(web, plain, claude)
    master = KeyEntry(9, "master", "sy-maste", None, None, None, None, "total", None, True)
    snap.keys[hashlib.sha256(MASTER_KEY.encode()).hexdigest()] = master
    registry.install(snap)
    yield mock, recorded


def app_client() -> httpx.AsyncClient:
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


def claude_sdk() -> anthropic.AsyncAnthropic:
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gw")
    return anthropic.AsyncAnthropic(
        base_url="http://gw", api_key=MASTER_KEY, http_client=client, max_retries=0
    )


def openai_sdk() -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url="http://gw/v1", api_key=MASTER_KEY, http_client=app_client(), max_retries=0
    )


TOOLS: list[Any] = [
    {"type": "web_search_20250305", "name": "web_search", "max_uses": 3,
     "blocked_domains": ["blocked.example"]},
    {"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 2},
]  # fmt: skip


def chat_rows(recorded: list[journal.Record]) -> list[journal.Record]:
    return [r for r in recorded if r.endpoint == "chat"]


def check_blocks(message: anthropic.types.Message, base: str) -> None:
    kinds = [block.type for block in message.content]
    assert kinds == [
        "text",
        "server_tool_use",
        "web_search_tool_result",
        "server_tool_use",
        "web_fetch_tool_result",
        "text",
    ]
    _, search, results, fetch, fetched, answer = message.content
    assert search.name == "web_search" and search.input == {"query": "switchyard changelog"}
    assert search.id.startswith("srvtoolu_") and results.tool_use_id == search.id
    assert isinstance(results.content, list)
    # the blocked domain's result is filtered out
    assert [(r.url, r.title, r.page_age) for r in results.content] == [
        (f"{base}/page", "Switchyard changelog", "2026-11-20")
    ]
    assert fetch.name == "web_fetch" and fetch.input == {"url": f"{base}/page"}
    assert fetched.tool_use_id == fetch.id
    assert fetched.content.type == "web_fetch_result"
    assert fetched.content.url == f"{base}/page"
    document = fetched.content.content
    assert document.title == "Switchyard changelog"
    assert document.source.data == f"Changelog\n{PAGE_TEXT}"  # script and style left out
    assert answer.text == f"Answer: {PAGE_TEXT}"
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1
    assert message.usage.server_tool_use.web_fetch_requests == 1


@pytest.mark.django_db
async def test_anthropic_client_web_search_and_fetch_on_an_openai_upstream(gateway):
    mock, recorded = gateway
    base = f"http://127.0.0.1:{mock.server_port}"
    message = await claude_sdk().messages.create(
        model="web",
        max_tokens=512,
        tools=TOOLS,
        messages=[{"role": "user", "content": QUESTION}],
    )
    check_blocks(message, base)
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 300 and message.usage.output_tokens == 30  # 3 turns
    # the model saw function tools, and the search and the page as tool results
    offered = [t["function"]["name"] for t in mock.state["chats"][0]["tools"]]
    assert offered == ["web_search", "web_fetch"]
    assert mock.state["searches"] == [("switchyard changelog", "Bearer searx-secret-token")]
    last = mock.state["chats"][-1]["messages"]
    assert PAGE_TEXT in last[-1]["content"] and last[-1]["role"] == "tool"
    await background.done()
    row = chat_rows(recorded)[-1]
    assert row.status == 200
    # 330 tokens at $1/M each way, plus one search at $0.01
    assert row.cost_usd == Decimal("0.00033") + Decimal("0.01")
    assert not row.translation  # nothing lost: the gateway ran the tools
    assert [(c["tool"], c["status"]) for c in row.mcp_calls] == [
        ("web_search", "ok"),
        ("web_fetch", "ok"),
    ]


@pytest.mark.django_db
async def test_anthropic_client_streamed(gateway):
    mock, recorded = gateway
    base = f"http://127.0.0.1:{mock.server_port}"
    async with claude_sdk().messages.stream(
        model="web",
        max_tokens=512,
        tools=TOOLS,
        messages=[{"role": "user", "content": QUESTION}],
    ) as stream:
        kinds = [e.type async for e in stream]
        message = await stream.get_final_message()
    check_blocks(message, base)
    assert kinds.count("content_block_start") == 6 and kinds[-1] == "message_stop"
    await background.done()
    assert chat_rows(recorded)[-1].cost_usd == Decimal("0.00033") + Decimal("0.01")


@pytest.mark.django_db
async def test_the_history_comes_back_as_the_model_read_it(gateway):
    """A client's next turn sends the blocks back: the model reads the search's results
    (the snippet carried in ``encrypted_content``) and the page again."""
    mock, _ = gateway
    base = f"http://127.0.0.1:{mock.server_port}"
    sdk = claude_sdk()
    first = await sdk.messages.create(
        model="web", max_tokens=512, tools=TOOLS, messages=[{"role": "user", "content": QUESTION}]
    )
    mock.state["chats"].clear()
    mock.model = lambda body: model_turn({**body, "tools": []})  # answers at once
    await sdk.messages.create(
        model="web",
        max_tokens=512,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": "Thanks. And the source?"},
        ],
    )
    sent = mock.state["chats"][0]["messages"]
    calls = [c["function"]["name"] for m in sent for c in m.get("tool_calls") or []]
    assert calls == ["web_search", "web_fetch"]
    results = [m["content"] for m in sent if m["role"] == "tool"]
    assert f"{base}/page" in results[0] and "What changed this month" in results[0]
    assert PAGE_TEXT in results[1]


@pytest.mark.django_db
async def test_a_fetch_of_a_url_never_seen_is_refused(gateway):
    mock, recorded = gateway
    mock.model = lambda body: model_turn(body, fetch_url="http://127.0.0.1:1/secret")
    message = await claude_sdk().messages.create(
        model="web", max_tokens=512, tools=TOOLS, messages=[{"role": "user", "content": QUESTION}]
    )
    fetched = [b for b in message.content if b.type == "web_fetch_tool_result"][0]
    assert fetched.content.type == "web_fetch_tool_result_error"
    assert fetched.content.error_code == "url_not_in_prior_context"
    assert message.usage.server_tool_use.web_fetch_requests == 1
    await background.done()
    assert chat_rows(recorded)[-1].mcp_calls[-1]["error"].startswith("url_not_in_prior_context")


@pytest.mark.django_db
async def test_max_uses_is_held(gateway):
    mock, _ = gateway
    tools = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}]

    def searches_twice(body: dict[str, Any]) -> dict[str, Any]:
        done = [m for m in body["messages"] if m["role"] == "tool"]
        if len(done) < 2:
            answer = model_turn({**body, "messages": body["messages"][:1]})
            answer["choices"][0]["message"]["tool_calls"][0]["id"] = f"c{len(done)}"
            return answer
        return model_turn(body)

    mock.model = searches_twice
    message = await claude_sdk().messages.create(
        model="web", max_tokens=512, tools=tools, messages=[{"role": "user", "content": QUESTION}]
    )
    results = [b for b in message.content if b.type == "web_search_tool_result"]
    assert isinstance(results[0].content, list)
    assert results[1].content.error_code == "max_uses_exceeded"
    assert len(mock.state["searches"]) == 1
    assert message.usage.server_tool_use.web_search_requests == 1


@pytest.mark.django_db
async def test_responses_client_web_search(gateway):
    mock, recorded = gateway
    base = f"http://127.0.0.1:{mock.server_port}"
    mock.model = lambda body: model_turn(
        {**body, "tools": [t for t in body["tools"] if t["function"]["name"] != "web_fetch"]}
    )
    response = await openai_sdk().responses.create(
        model="web", input=QUESTION, tools=[{"type": "web_search"}], store=False
    )
    kinds = [item.type for item in response.output]
    assert kinds == ["message", "web_search_call", "message"]
    search = response.output[1]
    assert search.status == "completed" and search.action.type == "search"
    assert search.action.query == "switchyard changelog"
    assert [s.url for s in search.action.sources] == [f"{base}/page", "https://blocked.example/x"]
    assert response.output[0].content[0].text == "Let me search."
    assert response.output[2].content[0].text.startswith("Answer: ")
    await background.done()
    assert chat_rows(recorded)[-1].cost_usd == Decimal("0.00022") + Decimal("0.01")


@pytest.mark.django_db
async def test_responses_client_streamed(gateway):
    mock, _ = gateway
    stream = await openai_sdk().responses.create(
        model="web",
        input=QUESTION,
        tools=[{"type": "web_search_preview"}],
        stream=True,
        store=False,
    )
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert "response.web_search_call.searching" in kinds
    searched = kinds.index("response.web_search_call.completed")
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert deltas[0] == "Let me search."  # said before the search, in its own item
    assert kinds.index("response.output_text.delta") < searched  # ... before it
    assert max(i for i, k in enumerate(kinds) if k == "response.output_text.delta") > searched
    final = events[-1].response
    assert [item.type for item in final.output] == ["message", "web_search_call", "message"]
    assert final.output[2].content[0].text.startswith("Answer: ")


@pytest.mark.django_db
async def test_on_an_anthropic_upstream_the_tools_pass_through(gateway):
    mock, _ = gateway
    message = await claude_sdk().messages.create(
        model="claude", max_tokens=64, tools=TOOLS, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].text == "native"
    assert mock.state["anthropic"][0]["tools"] == TOOLS  # as sent
    assert mock.state["chats"] == [] and mock.state["searches"] == []


@pytest.mark.django_db
async def test_code_execution_is_refused_in_the_callers_format(gateway):
    mock, _ = gateway
    with pytest.raises(anthropic.BadRequestError) as refused:
        await claude_sdk().messages.create(
            model="web",
            max_tokens=64,
            tools=[{"type": "code_execution_20250825", "name": "code_execution"}],
            messages=[{"role": "user", "content": "run it"}],
        )
    assert refused.value.status_code == 400
    error = refused.value.body["error"]
    assert error["type"] == "invalid_request_error"
    assert "code_execution_20250825" in error["message"] and "sandbox" in error["message"]
    assert mock.state["chats"] == []


@pytest.mark.django_db
async def test_without_a_backend_web_search_is_dropped_as_before(gateway):
    """A route with no search backend: the tool is noted as lost (drop_params), the
    model answers without it; web fetch still runs (it needs no backend)."""
    mock, recorded = gateway
    message = await claude_sdk().messages.create(
        model="plain", max_tokens=64, tools=TOOLS, messages=[{"role": "user", "content": "hi"}]
    )
    offered = [t["function"]["name"] for t in mock.state["chats"][0]["tools"]]
    assert offered == ["web_fetch"]
    assert message.usage.server_tool_use is None
    await background.done()
    assert [n["field"] for n in chat_rows(recorded)[-1].translation or []] == [
        "web_search_20250305"
    ]
