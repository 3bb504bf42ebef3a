"""Hosted MCP tools through ``service.handle`` in process: a Chat Completions client on
a route that attaches a registered server (``RouteEntry.mcp_servers``; the pool is a
fake with ``gateway.features.mcp.pool``'s interface) gets the answer made with the tool's
result; one journal row notes the call, usage is summed over both upstream turns."""

from __future__ import annotations

import dataclasses
import sys
import types

import httpx
import mcp.types as mt
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.core import service
from gateway.features.mcp.hosted import pipeline
from gateway.features.mcp.hosted.servers import POOL_MODULE
from tests.gateway.entries import route, snapshot


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
    """Calls ``docs__lookup`` when offered it, then answers with the tool's output."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.said: str | None = None  # what the model says with its tool call

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        self.seen.append(body)
        results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        if results or not body.get("tools"):  # no tools offered: it answers
            message = {"role": "assistant", "content": f"Found: {results[0] if results else None}"}
            return httpx.Response(200, json=answer(message, "stop"))
        names = [t["function"]["name"] for t in body.get("tools") or []]
        assert names == ["docs__lookup"]
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "docs__lookup", "arguments": '{"q": "llamas"}'},
        }
        message = {"role": "assistant", "content": self.said, "tool_calls": [call]}
        return httpx.Response(200, json=answer(message, "tool_calls"))


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, snapshot_reset, settings):
    settings.REDIS_URL = ""
    recorded: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", recorded.append)
    attached = dataclasses.replace(route("docs-gpt", "up-1", max_attempts=1), mcp_servers=("docs",))
    registry.install(snapshot(attached))
    calls: list[tuple] = []

    async def list_tools(name: str):  # type: ignore[no-untyped-def]
        schema = {"type": "object", "properties": {"q": {"type": "string"}}}
        return mt.ListToolsResult(tools=[mt.Tool(name="lookup", input_schema=schema)])

    async def call_tool(name, tool, arguments, *, timeout=None):  # type: ignore[no-untyped-def]  # noqa: ASYNC109
        calls.append((name, tool, arguments))
        return mt.CallToolResult(content=[mt.TextContent(type="text", text="llamas hum")])

    fake = types.ModuleType(POOL_MODULE)
    fake.list_tools, fake.call_tool = list_tools, call_tool  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, POOL_MODULE, fake)
    upstream = Upstream()
    http.use_transport(httpx.MockTransport(upstream))
    yield upstream, recorded, calls
    http.use_transport(None)


async def test_a_chat_client_gets_the_routes_registered_tools(gateway):
    upstream, recorded, calls = gateway
    body = {"model": "docs-gpt", "messages": [{"role": "user", "content": "llamas?"}]}
    reply = await service.handle(
        "chat", "openai", orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 200, reply.body
    data = orjson.loads(reply.body)
    assert data["choices"][0]["message"]["content"] == "Found: llamas hum"
    assert data["usage"]["prompt_tokens"] == 18 and data["usage"]["completion_tokens"] == 10
    assert calls == [("docs", "lookup", {"q": "llamas"})]
    assert len(upstream.seen) == 2
    (row,) = recorded
    assert row.status == 200 and len(row.attempts) == 2
    assert [(c["server"], c["tool"], c["status"]) for c in row.mcp_calls] == [
        ("docs", "lookup", "ok")
    ]


async def test_a_streamed_responses_client_sees_the_steps(gateway):
    upstream, recorded, calls = gateway
    body = {"model": "docs-gpt", "input": "llamas?", "stream": True, "store": False}
    reply = await service.handle(
        "chat", "responses", orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    raw = b"".join([chunk async for chunk in reply.chunks])
    kinds = [
        orjson.loads(line[6:])["type"]
        for line in raw.split(b"\n")
        if line.startswith(b"data: ") and line != b"data: [DONE]"  # Open Responses ends so
    ]
    assert (
        kinds.index("response.mcp_list_tools.completed")
        < kinds.index("response.mcp_call.completed")
        < kinds.index("response.output_text.delta")
        < kinds.index("response.completed")
    )
    assert b"llamas hum" in raw
    (row,) = recorded
    assert row.status == 200 and row.mcp_calls[0]["tool"] == "lookup"


async def test_each_tool_call_is_a_span_under_the_request(gateway, monkeypatch):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from gateway.telemetry import genai_metrics, tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    monkeypatch.setattr(tracing, "ENABLED", True)
    monkeypatch.setattr(genai_metrics, "ENABLED", True)
    tracing.use_provider(provider)
    genai_metrics.use_provider(MeterProvider(metric_readers=[reader]))
    try:
        body = {"model": "docs-gpt", "messages": [{"role": "user", "content": "llamas?"}]}
        reply = await service.handle(
            "chat", "openai", orjson.dumps(body), {}, service.Caller(key=MASTER)
        )
    finally:
        tracing.use_provider(None)
        genai_metrics.use_provider(None)
    assert reply.status == 200
    spans = {s.name: s for s in exporter.get_finished_spans()}
    # the GenAI execute_tool span, with the MCP attributes on it (no second MCP span)
    tool = spans["execute_tool lookup"]
    assert tool.kind == SpanKind.INTERNAL
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "lookup"
    assert tool.attributes["mcp.method.name"] == "tools/call"
    assert (
        tool.attributes["switchyard.mcp.server"] == "docs" and "error.type" not in tool.attributes
    )
    request_span = next(s for s in spans.values() if s.parent is None)
    assert tool.parent.span_id == request_span.context.span_id
    # two upstream turns: two client inference spans under the request's
    turns = [s for s in spans.values() if s.kind == SpanKind.CLIENT]
    assert len(exporter.get_finished_spans()) == 4 and len(turns) == 1  # (same name: one key)
    data = reader.get_metrics_data()
    metrics = {
        m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    (point,) = metrics["gen_ai.execute_tool.duration"].data.data_points
    assert point.count == 1 and dict(point.attributes)["gen_ai.tool.name"] == "lookup"
    (turns_counted,) = metrics["gen_ai.client.inference.duration"].data.data_points
    assert turns_counted.count == 2  # each upstream turn an inference operation
    (tokens,) = metrics["gen_ai.client.inference.usage.input_tokens"].data.data_points
    assert tokens.value == 18  # both turns' prompts


def keyed(mcp_allowed: set[str]):  # type: ignore[no-untyped-def]
    return dataclasses.replace(MASTER, id=42, name="team", mcp_allowed=frozenset(mcp_allowed))


async def responses_naming(server: str, key) -> service.Reply:  # type: ignore[no-untyped-def]
    tool = {"type": "mcp", "server_label": server, "require_approval": "never"}
    body = {"model": "plain", "input": "llamas?", "store": False, "tools": [tool]}
    return await service.handle(
        "chat", "responses", orjson.dumps(body), {}, service.Caller(key=key)
    )


async def test_a_registered_server_the_caller_names_needs_the_keys_permission(gateway):
    upstream, recorded, calls = gateway
    registry.install(snapshot(route("plain", "up-1", max_attempts=1)))
    refused = await responses_naming("docs", keyed(set()))
    assert refused.status == 403, refused.body
    assert b"may not use the MCP server 'docs'" in refused.body and calls == []
    allowed = await responses_naming("docs", keyed({"docs__lookup"}))
    assert allowed.status == 200 and calls == [("docs", "lookup", {"q": "llamas"})]


async def test_a_routes_server_offers_only_what_the_keys_grant_names(gateway, monkeypatch):
    """An editor attached ``docs`` to the route: a key without a grant on it gets none of
    its tools; a key granted another tool of it gets that one only (M7)."""
    upstream, recorded, calls = gateway
    body = {"model": "docs-gpt", "messages": [{"role": "user", "content": "llamas?"}]}
    for grant in (set(), {"docs__other"}):
        reply = await service.handle(
            "chat", "openai", orjson.dumps(body), {}, service.Caller(key=keyed(grant))
        )
        assert reply.status == 200, reply.body
        assert not upstream.seen[-1].get("tools")
    assert calls == []
    granted = await service.handle(
        "chat", "openai", orjson.dumps(body), {}, service.Caller(key=keyed({"docs__lookup"}))
    )
    assert granted.status == 200 and calls == [("docs", "lookup", {"q": "llamas"})]


def test_a_key_allowed_some_tools_of_a_server_is_offered_those_only():
    from gateway.base.types import ChatRequest, McpServer
    from gateway.features.mcp import rules

    request = ChatRequest(model="m", mcp_servers=[McpServer(label="docs", registered="docs")])
    pipeline.check_permissions(keyed({"docs__other", "wiki"}), request)
    assert request.mcp_servers[0].allowed == ["other"]
    assert rules.tools_granted(keyed({"docs"}), "docs") is None
    assert rules.tools_granted(MASTER, "docs") is None


async def test_an_answer_made_with_mcp_tools_is_never_served_from_the_cache(gateway):
    upstream, recorded, calls = gateway
    cached = dataclasses.replace(
        route("docs-gpt", "up-1", max_attempts=1), mcp_servers=("docs",), cache_ttl=60
    )
    registry.install(snapshot(cached))
    body = {"model": "docs-gpt", "messages": [{"role": "user", "content": "llamas?"}]}
    for _ in range(2):
        reply = await service.handle(
            "chat", "openai", orjson.dumps(body), {}, service.Caller(key=MASTER)
        )
        assert reply.status == 200
    assert len(calls) == 2 and len(upstream.seen) == 4


@pytest.mark.parametrize("stream", [False, True])
async def test_a_chat_client_keeps_the_text_said_before_the_call(gateway, stream):
    """Chat Completions has no item for the text between tool calls: it opens the final
    message, before the answer, streamed or not."""
    upstream, recorded, calls = gateway
    upstream.said = "Let me check the docs."
    body = {
        "model": "docs-gpt",
        "messages": [{"role": "user", "content": "llamas?"}],
        "stream": stream,
    }
    reply = await service.handle(
        "chat", "openai", orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    if stream:
        raw = b"".join([chunk async for chunk in reply.chunks])
        content = "".join(
            (choice.get("delta") or {}).get("content") or ""
            for line in raw.split(b"\n")
            if line.startswith(b"data: {")
            for choice in orjson.loads(line[6:]).get("choices") or []
        )
    else:
        content = orjson.loads(reply.body)["choices"][0]["message"]["content"]
    assert content == "Let me check the docs.\n\nFound: llamas hum"
    assert calls == [("docs", "lookup", {"q": "llamas"})]


async def test_a_gemini_client_keeps_the_text_said_before_the_call(gateway):
    upstream, recorded, calls = gateway
    upstream.said = "Let me check the docs."
    body = {"contents": [{"role": "user", "parts": [{"text": "llamas?"}]}]}
    reply = await service.handle(
        "chat",
        "gemini",
        orjson.dumps(body),
        {},
        service.Caller(key=MASTER),
        path_fields={"model": "docs-gpt", "stream": False},
    )
    assert reply.status == 200, reply.body
    parts = orjson.loads(reply.body)["candidates"][0]["content"]["parts"]
    assert "".join(p.get("text", "") for p in parts) == (
        "Let me check the docs.\n\nFound: llamas hum"
    )
    assert calls == [("docs", "lookup", {"q": "llamas"})]


@pytest.mark.django_db
def test_a_team_bound_narrows_the_registered_servers_a_key_names(gateway):
    """The key entries the registry builds from the database: a key allowing ``docs``
    in a team allowing ``wiki`` only is refused ``docs``; in a team without a bound it
    may use it."""
    import asyncio

    from gateway.access import keys
    from gateway.models import Team

    upstream, recorded, calls = gateway
    narrow = Team.objects.create(name="narrow", mcp_allowed=["wiki"])
    open_team = Team.objects.create(name="open")
    bounded = keys.create_key(name="bounded", team=narrow.pk, mcp_allowed=["docs"])
    free = keys.create_key(name="free", team=open_team.pk, mcp_allowed=["docs"])
    built = registry.build_snapshot()
    entries = {k.name: k for k in built.keys.values()}
    assert bounded.raw and free.raw and entries["bounded"].mcp_allowed == frozenset()
    registry.install(snapshot(route("plain", "up-1", max_attempts=1)))
    refused = asyncio.run(responses_naming("docs", entries["bounded"]))
    assert refused.status == 403 and calls == []
    allowed = asyncio.run(responses_naming("docs", entries["free"]))
    assert allowed.status == 200 and calls == [("docs", "lookup", {"q": "llamas"})]
