"""pre_mcp_call guardrails on hosted MCP tools, through ``service.handle`` in process: a
route attaches a registered server (the pool is a fake with ``gateway.features.mcp.pool``'s
interface, recording what the tool receives), a mock upstream model calls its tool. A
blocked call never runs, the model reads the tool error naming the guardrail and still
answers, the row's ``mcp_calls`` says blocked; an email in the arguments is masked
before the tool sees it, a secret in the result before the model does; a fail-closed
guardrail that cannot check refuses the call; the verdicts land on the chat request's
own journal row; a request no guardrail applies to is unchanged."""

from __future__ import annotations

import dataclasses
import sys
import types
from typing import Any

import httpx
import mcp.types as mt
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import hooks, http
from gateway.base.entries import MASTER, GuardrailEntry
from gateway.base.types import ChatRequest, McpServer, Message, Text
from gateway.core import service
from gateway.features.guardrails import kinds
from gateway.features.guardrails.plugin import MCP, PLANE
from gateway.features.mcp.hosted import Loop
from gateway.features.mcp.hosted.servers import POOL_MODULE
from tests.gateway.entries import route, snapshot
from tests.gateway.features.mcp.hosted.test_loop import Model
from tests.gateway.features.mcp.test_guardrails import FILTER, DownKind, guardrail
from tests.mcp_test_server import SECRET_WORD, running_mcp_server

OPENAI_KEY = "sk-proj-" + "Q" * 30
SECRETS = {
    "patterns": [{"pattern_type": "prebuilt", "pattern_name": "openai_api_key", "action": "MASK"}]
}


def answer(message: dict, finish: str) -> dict:
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "created": 1,
        "model": "up-1",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14},
    }


class Upstream:
    """Calls ``docs__lookup`` with ``arguments`` when offered it, then answers with what
    the tool message said."""

    def __init__(self) -> None:
        self.arguments: dict[str, Any] = {"q": "llamas"}
        self.seen: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        self.seen.append(body)
        results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        if results or not body.get("tools"):
            message = {"role": "assistant", "content": f"Found: {results[0] if results else None}"}
            return httpx.Response(200, json=answer(message, "stop"))
        call = {
            "id": "call_1",
            "type": "function",
            "function": {
                "name": "docs__lookup",
                "arguments": orjson.dumps(self.arguments).decode(),
            },
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return httpx.Response(200, json=answer(message, "tool_calls"))


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, snapshot_reset, settings):  # type: ignore[no-untyped-def]
    settings.REDIS_URL = ""
    hooks.call_guards.register(PLANE)  # as GatewayConfig.ready does
    hooks.mcp_guards.register(MCP)
    monkeypatch.setitem(kinds.KINDS, "always_down", DownKind("always_down", "Down", "none"))
    recorded: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", recorded.append)
    received: list[tuple] = []
    output = {"text": "llamas hum"}

    async def list_tools(name: str):  # type: ignore[no-untyped-def]
        schema = {"type": "object", "properties": {"q": {"type": "string"}}}
        return mt.ListToolsResult(tools=[mt.Tool(name="lookup", input_schema=schema)])

    async def call_tool(name, tool, arguments, *, timeout=None):  # type: ignore[no-untyped-def]  # noqa: ASYNC109
        received.append((name, tool, arguments))
        return mt.CallToolResult(content=[mt.TextContent(type="text", text=output["text"])])

    fake = types.ModuleType(POOL_MODULE)
    fake.list_tools, fake.call_tool = list_tools, call_tool  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, POOL_MODULE, fake)
    upstream = Upstream()
    http.use_transport(httpx.MockTransport(upstream))

    def install(
        *guards: GuardrailEntry, default: tuple[str, ...] = (), on_route: tuple[str, ...] = ()
    ) -> None:
        attached = dataclasses.replace(
            route("docs-gpt", "up-1", max_attempts=1), mcp_servers=("docs",), guardrails=on_route
        )
        snap = snapshot(attached)
        snap.guardrails = {g.name: g for g in guards}
        snap.default_guardrails = default
        registry.install(snap)

    yield install, upstream, output, received, recorded
    http.use_transport(None)


async def ask(**extra: Any) -> Any:
    body = {"model": "docs-gpt", "messages": [{"role": "user", "content": "llamas?"}], **extra}
    return await service.handle(
        "chat", "openai", orjson.dumps(body), {}, service.Caller(key=MASTER)
    )


def said(reply: Any) -> str:
    assert reply.status == 200, reply.body
    return str(orjson.loads(reply.body)["choices"][0]["message"]["content"])


async def test_a_blocked_call_never_runs_and_the_model_reads_why(gateway):
    install, upstream, _, received, recorded = gateway
    install(guardrail("mcp-filter"), on_route=("mcp-filter",))
    upstream.arguments = {"q": "the forbidden llamas"}
    text = said(await ask())
    assert received == [], "the tool never ran"
    assert "guardrail 'mcp-filter' blocked the tool call docs__lookup" in text
    tool_message = next(m for m in upstream.seen[1]["messages"] if m["role"] == "tool")
    assert "mcp-filter" in tool_message["content"]  # what the model was told
    (row,) = recorded
    assert row.status == 200  # the request goes on
    ((server, tool, status, error),) = [
        (c["server"], c["tool"], c["status"], c["error"]) for c in row.mcp_calls
    ]
    assert (server, tool, status) == ("docs", "lookup", "blocked") and "mcp-filter" in error
    (note,) = row.guardrails  # on the chat request's own row
    assert (note["name"], note["mode"], note["verdict"]) == (
        "mcp-filter",
        "pre_mcp_call",
        "blocked",
    )


async def test_an_email_in_the_arguments_is_masked_before_the_tool_sees_it(gateway):
    install, upstream, _, received, recorded = gateway
    install(guardrail("mcp-filter", default_on=True), default=("mcp-filter",))
    upstream.arguments = {"q": "mail ann@example.com"}
    assert said(await ask()) == "Found: llamas hum"
    assert received == [("docs", "lookup", {"q": "mail [EMAIL_REDACTED]"})]
    (row,) = recorded
    assert row.mcp_calls[0]["status"] == "ok"
    (note,) = row.guardrails
    assert note["verdict"] == "intervened" and note["entities"] == ["email"]


async def test_a_streamed_responses_client_sees_the_arguments_the_tool_got(gateway):
    install, upstream, _, received, _ = gateway
    install(guardrail("mcp-filter", default_on=True), default=("mcp-filter",))
    upstream.arguments = {"q": "mail ann@example.com"}
    body = {"model": "docs-gpt", "input": "llamas?", "stream": True, "store": False}
    reply = await service.handle(
        "chat", "responses", orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    raw = b"".join([chunk async for chunk in reply.chunks])
    assert received == [("docs", "lookup", {"q": "mail [EMAIL_REDACTED]"})]
    done = [
        orjson.loads(line[6:])
        for line in raw.split(b"\n")
        if line.startswith(b"data: {") and b'"response.output_item.done"' in line
    ]
    (call,) = [d["item"] for d in done if d["item"]["type"] == "mcp_call"]
    assert orjson.loads(call["arguments"]) == {"q": "mail [EMAIL_REDACTED]"}


async def test_a_secret_in_the_result_is_masked_before_the_model_sees_it(gateway):
    install, upstream, output, received, recorded = gateway
    install(guardrail("secrets", SECRETS, default_on=True), default=("secrets",))
    output["text"] = f"the key is {OPENAI_KEY}"
    assert said(await ask()) == "Found: the key is [OPENAI_API_KEY_REDACTED]"
    assert OPENAI_KEY not in orjson.dumps(upstream.seen).decode()
    assert received == [("docs", "lookup", {"q": "llamas"})]
    (note,) = recorded[0].guardrails
    assert note["entities"] == ["openai_api_key"]


async def test_a_guardrail_the_request_asks_for_checks_its_tool_calls(gateway):
    install, upstream, _, received, recorded = gateway
    install(guardrail("mcp-filter"))  # neither default nor attached
    upstream.arguments = {"q": "forbidden"}
    assert "blocked" in said(await ask(guardrails=["mcp-filter"]))
    assert received == []
    assert recorded[0].mcp_calls[0]["status"] == "blocked"


async def test_a_fail_closed_guardrail_that_cannot_check_refuses_the_call(gateway):
    install, upstream, _, received, recorded = gateway
    install(guardrail("svc", {}, kind="always_down"), on_route=("svc",))
    text = said(await ask())
    assert received == []
    assert "guardrail 'svc' could not check the tool call docs__lookup" in text
    (row,) = recorded
    assert row.mcp_calls[0]["status"] == "error" and "fails closed" in row.mcp_calls[0]["error"]
    assert row.guardrails[0]["verdict"] == "error"


async def test_a_request_no_guardrail_applies_to_is_unchanged(gateway):
    install, upstream, _, received, recorded = gateway
    install(guardrail("mcp-filter", FILTER))  # defined, applied to nothing
    upstream.arguments = {"q": "ann@example.com forbidden"}
    assert said(await ask()) == "Found: llamas hum"
    assert received == [("docs", "lookup", {"q": "ann@example.com forbidden"})]
    (row,) = recorded
    assert row.mcp_calls[0]["status"] == "ok" and row.guardrails is None


async def test_the_callers_own_server_is_guarded_too(gateway):
    """A Responses ``mcp`` tool naming the caller's own server (reached by URL, not the
    pool): its result is checked the same way."""
    install, *_ = gateway
    blocks = {"blocked_words": [{"keyword": SECRET_WORD, "action": "BLOCK"}]}
    install(guardrail("no-secrets", blocks, default_on=True), default=("no-secrets",))
    own = McpServer(label="tools", url="", approval="never")
    with running_mcp_server() as url:
        own.url = url
        model = Model("tools__secret_word")
        loop = Loop(
            ChatRequest(model="m", messages=[Message("user", [Text("hi")])], mcp_servers=[own]),
            model,
            max_calls=5,
            timeout=10,
            allow="127.0.0.0/8",
            key=MASTER,
        )
        response = await loop.run()
    call = response.hosted[1]
    assert call.output is None and "guardrail 'no-secrets' blocked the tool's result" in call.error
    assert SECRET_WORD not in response.text()
    assert loop.notes[-1]["status"] == "blocked"


async def test_post_call_reads_the_loops_final_answer_plain_and_streamed(gateway):
    """The hosted loop answers instead of the plain upstream call: its answer is checked
    by the request's post_call guardrails like any other."""
    install, upstream, output, _, recorded = gateway
    answer_guard = dataclasses.replace(guardrail("out"), modes=frozenset({"post_call"}))
    install(answer_guard, on_route=("out",))
    output["text"] = "the forbidden word"
    reply = await ask()
    assert reply.status == 400 and b"forbidden" not in reply.body
    reply = await ask(stream=True)
    assert reply.status == 200
    body = b"".join([chunk async for chunk in reply.chunks])
    assert b"forbidden" not in body and b"content_filter" in body
