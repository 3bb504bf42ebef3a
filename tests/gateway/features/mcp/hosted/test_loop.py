"""The hosted MCP loop against a real MCP server (the ``mcp`` SDK, streamable HTTP on
127.0.0.1) with a scripted model: listing, calls, results fed back, errors as items,
approvals, the call limit, registered servers through the pool, and the stream."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import orjson
import pytest

from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    HostedItem,
    McpApproval,
    McpServer,
    Message,
    Text,
    ToolCall,
    ToolResult,
    Usage,
)
from gateway.codecs.anthropic import inbound as anthropic
from gateway.codecs.openai_responses import inbound as responses
from gateway.features.mcp.hosted import Loop, events
from gateway.features.mcp.hosted.servers import POOL_MODULE
from tests.live import free_port
from tests.mcp_test_server import SECRET_WORD, running_mcp_server

TOKEN = "mcp-test-token-9f8e7d"
LOCAL = "127.0.0.0/8"  # the test server's address, not public


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    with running_mcp_server(token=TOKEN) as url:
        yield url


def server(url: str, **kwargs) -> McpServer:  # type: ignore[no-untyped-def]
    kwargs.setdefault("approval", "never")
    return McpServer(label="tools", url=url, headers={"Authorization": f"Bearer {TOKEN}"}, **kwargs)


class Model:
    """Calls ``tool`` (with ``arguments``) while its last message is not a tool result,
    then answers with the results' text; remembers every request it got."""

    def __init__(self, tool: str, arguments: dict | None = None, times: int = 1) -> None:
        self.tool, self.arguments, self.times = tool, arguments or {}, times
        self.seen: list[ChatRequest] = []

    async def __call__(self, request: ChatRequest) -> ChatResponse:
        self.seen.append(request)
        results = [p for m in request.messages for p in m.parts if isinstance(p, ToolResult)]
        offered = [t.name for t in request.tools]
        if len(results) < self.times and self.tool in offered:
            call = ToolCall(id=f"call_{len(self.seen)}", name=self.tool, arguments=self.arguments)
            return ChatResponse("r", "m", [call], "tool_calls", usage=Usage(10, 5))
        said = " | ".join(c.text for r in results for c in r.content if isinstance(c, Text))
        return ChatResponse("r", "m", [Text(f"The tool said: {said}")], usage=Usage(20, 8))


def request(*servers: McpServer, **kwargs) -> ChatRequest:  # type: ignore[no-untyped-def]
    return ChatRequest(
        model="m", messages=[Message("user", [Text("hi")])], mcp_servers=list(servers), **kwargs
    )


async def test_lists_calls_and_feeds_the_result_back(mcp_url):
    model = Model("tools__secret_word")
    loop = Loop(request(server(mcp_url)), model, max_calls=5, timeout=5, allow=LOCAL)
    response = await loop.run()
    assert SECRET_WORD in response.text()
    kinds = [item.kind for item in response.hosted]
    assert kinds == ["list_tools", "call"]
    listed = response.hosted[0]
    assert {t["name"] for t in listed.tools} == {"add", "secret_word", "explode", "nap"}
    call = response.hosted[1]
    assert (call.server, call.name, call.output, call.error) == (
        "tools",
        "secret_word",
        SECRET_WORD,
        None,
    )
    # offered as function tools, namespaced; usage summed over both turns
    assert "tools__add" in [t.name for t in model.seen[0].tools]
    assert (response.usage.input_tokens, response.usage.output_tokens) == (30, 13)
    assert loop.notes[0]["status"] == "ok" and loop.notes[0]["tool"] == "secret_word"


async def test_allowed_tools_filter_what_is_listed_and_offered(mcp_url):
    model = Model("tools__add", {"a": 2, "b": 40})
    loop = Loop(
        request(server(mcp_url, allowed=["add"])), model, max_calls=5, timeout=5, allow=LOCAL
    )
    response = await loop.run()
    assert [t["name"] for t in response.hosted[0].tools] == ["add"]
    assert [t.name for t in model.seen[0].tools] == ["tools__add"]
    assert "42" in response.text()


async def test_a_tool_error_is_an_error_item_and_the_model_hears_it(mcp_url):
    loop = Loop(
        request(server(mcp_url)), Model("tools__explode"), max_calls=5, timeout=5, allow=LOCAL
    )
    response = await loop.run()
    call = response.hosted[1]
    assert call.output is None and "explode" in call.error
    assert "explode" in response.text()


async def test_a_dead_server_is_a_list_error_and_the_model_still_answers():
    dead = McpServer("dead", url=f"http://127.0.0.1:{free_port()}/mcp", approval="never")
    loop = Loop(request(dead), Model("dead__x"), max_calls=5, timeout=3, allow=LOCAL)
    response = await loop.run()
    listed = response.hosted[0]
    assert listed.kind == "list_tools" and "unreachable" in listed.error
    assert response.text().startswith("The tool said")


async def test_a_hanging_tool_times_out_as_an_error_item(mcp_url):
    loop = Loop(
        request(server(mcp_url)),
        Model("tools__nap", {"seconds": 30}),
        max_calls=5,
        timeout=1,
        allow=LOCAL,
    )
    response = await loop.run()
    assert "did not answer in time" in response.hosted[1].error


async def test_wrong_credentials_never_echo_the_secret(mcp_url):
    bad = McpServer(
        "tools",
        url=mcp_url + "?api_key=url-secret-123",
        headers={"Authorization": "Bearer header-secret-456"},
        approval="never",
    )
    response = await Loop(
        request(bad), Model("tools__add"), max_calls=5, timeout=3, allow=LOCAL
    ).run()
    error = response.hosted[0].error
    assert error and "tools" in error
    assert "secret" not in error and "header-secret-456" not in error


async def test_the_call_limit_stops_calling_and_the_model_answers(mcp_url):
    model = Model("tools__add", {"a": 1, "b": 1}, times=10)
    loop = Loop(request(server(mcp_url)), model, max_calls=2, timeout=5, allow=LOCAL)
    response = await loop.run()
    calls = [item for item in response.hosted if item.kind == "call"]
    assert [c.error is None for c in calls] == [True, True]
    assert not [t for t in model.seen[-1].tools if t.name.startswith("tools__")]
    assert response.text().startswith("The tool said")


@pytest.mark.django_db(transaction=True)  # an approval is spent in the shared database
async def test_approval_stops_the_loop_then_the_approval_runs_the_call(mcp_url):
    needs = server(mcp_url, approval="always", never=["add"])
    first = await Loop(
        request(needs), Model("tools__secret_word"), max_calls=5, timeout=5, allow=LOCAL
    ).run()
    asked = first.hosted[-1]
    assert asked.kind == "approval_request" and asked.name == "secret_word"
    assert first.parts == []
    # the client answers (pending request replayed, approval given)
    follow = request(needs)
    follow.mcp_pending = [asked]
    follow.mcp_approvals = [McpApproval(asked.id, True)]
    model = Model("tools__secret_word")
    second = await Loop(follow, model, max_calls=5, timeout=5, allow=LOCAL).run()
    call = next(item for item in second.hosted if item.kind == "call")
    assert call.approval_request_id == asked.id and call.output == SECRET_WORD
    assert SECRET_WORD in second.text()
    assert len(model.seen) == 1  # the approved result went straight to the model


async def test_registered_servers_go_through_the_pool(monkeypatch):
    import mcp.types as mt

    calls: list[tuple] = []

    async def list_tools(name: str):  # type: ignore[no-untyped-def]
        if name != "docs":
            raise KeyError(name)
        return [mt.Tool(name="lookup", input_schema={"type": "object", "properties": {}})]

    async def call_tool(name, tool, arguments, *, timeout=None):  # type: ignore[no-untyped-def]  # noqa: ASYNC109
        calls.append((name, tool, arguments))
        return mt.CallToolResult(content=[mt.TextContent(type="text", text="from the pool")])

    fake = types.ModuleType(POOL_MODULE)
    fake.list_tools, fake.call_tool = list_tools, call_tool  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, POOL_MODULE, fake)
    known = McpServer("docs", registered="docs", approval="never")
    unknown = McpServer("nope", registered="nope", approval="never")
    response = await Loop(
        request(known, unknown), Model("docs__lookup"), max_calls=5, timeout=5
    ).run()
    assert calls == [("docs", "lookup", {})]
    assert "from the pool" in response.text()
    assert "not registered" in response.hosted[1].error


async def test_the_stream_reports_each_step_as_it_happens(mcp_url):
    loop = Loop(
        request(server(mcp_url)), Model("tools__secret_word"), max_calls=5, timeout=5, allow=LOCAL
    )
    seen = [event async for event in events(loop, request(server(mcp_url)))]
    hosted = [e.item.kind for e in seen if isinstance(e, HostedItem)]
    assert hosted == ["list_tools", "call"]
    assert type(seen[0]).__name__ == "Start" and type(seen[-1]).__name__ == "Finish"


def test_responses_parse_and_render_round_trip():
    body = {
        "model": "m",
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "mcp_list_tools", "id": "mcpl_1", "server_label": "s", "tools": []},
            {
                "type": "mcp_call",
                "id": "mcp_1",
                "server_label": "s",
                "name": "add",
                "arguments": '{"a": 1}',
                "output": "2",
            },
            {
                "type": "mcp_approval_request",
                "id": "mcpr_1",
                "server_label": "s",
                "name": "add",
                "arguments": "{}",
            },
            {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": True},
        ],
        "tools": [
            {
                "type": "mcp",
                "server_label": "s",
                "server_url": "https://mcp.example.test/mcp",
                "headers": {"Authorization": "Bearer x"},
                "allowed_tools": ["add"],
                "require_approval": {"never": {"tool_names": ["add"]}},
            },
            {"type": "mcp", "server_label": "docs", "require_approval": "never"},
        ],
    }
    parsed = responses.parse_request(body, {})
    first, second = parsed.mcp_servers
    assert first.url == "https://mcp.example.test/mcp" and first.allowed == ["add"]
    assert not first.needs_approval("add") and first.needs_approval("other")
    assert second.url is None and second.registered == "docs"
    assert not parsed.unmapped
    # the earlier call is conversation: the model's call, then its result
    call = parsed.messages[1].parts[0]
    assert isinstance(call, ToolCall) and call.name == "s__add" and call.arguments == {"a": 1}
    assert parsed.messages[2].parts[0].content[0].text == "2"
    assert [p.id for p in parsed.mcp_pending] == ["mcpr_1"]
    assert parsed.mcp_approvals[0].approve is True
    rendered = responses.render_response(
        ChatResponse("r", "m", [Text("done")], hosted=[parsed.mcp_pending[0]]), parsed
    )
    assert [item["type"] for item in rendered["output"]] == ["mcp_approval_request", "message"]


def test_anthropic_parse_and_render():
    body = {
        "model": "m",
        "max_tokens": 100,
        "mcp_servers": [
            {
                "type": "url",
                "url": "https://mcp.example.test/mcp",
                "name": "s",
                "authorization_token": "tok",
            },
        ],
        "tools": [
            {
                "type": "mcp_toolset",
                "mcp_server_name": "s",
                "default_config": {"enabled": True},
                "configs": {"explode": {"enabled": False}},
            }
        ],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "mcp_tool_use",
                        "id": "mcptoolu_1",
                        "name": "add",
                        "server_name": "s",
                        "input": {"a": 1},
                    },
                    {
                        "type": "mcp_tool_result",
                        "tool_use_id": "mcptoolu_1",
                        "is_error": False,
                        "content": [{"type": "text", "text": "2"}],
                    },
                    {"type": "text", "text": "It is 2."},
                ],
            },
            {"role": "user", "content": "thanks"},
        ],
    }
    parsed = anthropic.parse_request(body, {})
    (srv,) = parsed.mcp_servers
    assert srv.headers == {"Authorization": "Bearer tok"} and not srv.allows("explode")
    assert srv.allows("add") and not parsed.unmapped
    assert [m.role for m in parsed.messages] == ["user", "assistant", "user", "assistant", "user"]
    assert parsed.messages[1].parts[0].name == "s__add"
    from gateway.base.types import McpItem

    item = McpItem("call", "mcp_9", "s", "add", '{"a": 1}', output="2")
    rendered = anthropic.render_response(ChatResponse("r", "m", [Text("2")], hosted=[item]), parsed)
    assert [b["type"] for b in rendered["content"]] == ["mcp_tool_use", "mcp_tool_result", "text"]
    assert rendered["content"][0]["input"] == {"a": 1}
    assert orjson.dumps(rendered)


async def test_a_private_address_is_refused_unless_allowed(mcp_url):
    loop = Loop(request(server(mcp_url)), Model("tools__add"), max_calls=5, timeout=5)
    response = await loop.run()
    error = response.hosted[0].error
    assert "refused" in error and "loopback" in error
    assert response.hosted[0].tools == []


async def test_a_server_that_accepts_but_never_answers_is_an_error_item():
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections queue up; nothing ever reads or answers them
    try:
        port = silent.getsockname()[1]
        hung = McpServer("hung", url=f"http://127.0.0.1:{port}/mcp", approval="never")
        loop = Loop(request(hung), Model("hung__x"), max_calls=5, timeout=1, allow=LOCAL)
        response = await loop.run()
    finally:
        silent.close()
    error = response.hosted[0].error
    assert error and ("in time" in error or "Timeout" in error)
    assert response.text().startswith("The tool said")


class Resolver:
    """Answers ``host`` with each of ``answers`` in turn (the last one again after
    them), every other name as the system does; counts the questions about ``host``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, host: str, *answers: str) -> None:
        import asyncio
        import socket

        self.host, self.answers, self.asked = host, list(answers), 0
        real = asyncio.base_events.BaseEventLoop.getaddrinfo

        async def getaddrinfo(loop, name, port, *args, **kwargs):  # type: ignore[no-untyped-def]
            if name != self.host:
                return await real(loop, name, port, *args, **kwargs)
            address = self.answers[min(self.asked, len(self.answers) - 1)]
            self.asked += 1
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 80)))]

        monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", getaddrinfo)


async def test_dns_rebinding_cannot_redirect_the_connection(mcp_url, monkeypatch):
    """The name answers a public address at the check and 127.0.0.1 (where an MCP
    server listens) afterwards: every connection still goes to the checked address,
    with the Host header of the name."""
    import httpx2

    from gateway.features.mcp.hosted import servers as hosted_servers

    port = int(mcp_url.rsplit(":", 1)[1].split("/")[0])
    resolver = Resolver(monkeypatch, "rebind.example", "93.184.216.34", "127.0.0.1")
    sent: list[httpx2.Request] = []

    def unreachable(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        raise httpx2.ConnectError("no route to host", request=request)

    monkeypatch.setattr(
        hosted_servers, "_inner_transport", lambda: httpx2.MockTransport(unreachable)
    )
    target = server(f"http://rebind.example:{port}/mcp")
    response = await Loop(request(target), Model("tools__add"), max_calls=5, timeout=3).run()
    listed = response.hosted[0]
    assert listed.kind == "list_tools" and listed.error and "unreachable" in listed.error
    assert listed.tools == []
    assert resolver.asked == 1  # resolved once; the second answer is never used
    assert sent and {r.url.host for r in sent} == {"93.184.216.34"}
    assert {r.headers["host"] for r in sent} == {f"rebind.example:{port}"}


async def test_a_name_checked_once_reaches_its_server_through_the_pinned_address(
    mcp_url, monkeypatch
):
    """A name answering the allowed 127.0.0.1 once, then a private address nothing
    listens on: the session's every request (list, call) still reaches the server."""
    port = int(mcp_url.rsplit(":", 1)[1].split("/")[0])
    resolver = Resolver(monkeypatch, "localhost", "127.0.0.1", "10.255.255.1")
    target = server(f"http://localhost:{port}/mcp")
    model = Model("tools__add", {"a": 2, "b": 3})
    response = await Loop(request(target), model, max_calls=5, timeout=5, allow=LOCAL).run()
    assert [step.kind for step in response.hosted] == ["list_tools", "call"]
    assert response.hosted[1].output == "5" and response.hosted[1].error is None
    assert resolver.asked == 1


async def test_a_non_http_url_is_refused():
    target = server("file:///etc/passwd")
    response = await Loop(request(target), Model("tools__add"), max_calls=5, timeout=3).run()
    assert "invalid URL" in (response.hosted[0].error or "")
