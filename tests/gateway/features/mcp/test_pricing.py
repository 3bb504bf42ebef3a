"""A priced registered MCP server (``price_usd``) called by the hosted tool loop inside
a model request is held and charged as a ``/mcp`` call is (``pricing``): each call's
hold admitted through the key's budgets before it runs, a refusal ending the request as
a budget refusal does (in the caller's dialect), the price charged when the server
answers and counted in the request's journal row (its cost, and the call's note)."""

from __future__ import annotations

import dataclasses
import sys
import types
from decimal import Decimal

import httpx
import mcp.types as mt
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER, McpServerEntry
from gateway.core import service
from gateway.features.mcp.hosted.servers import POOL_MODULE
from gateway.limits import limits, spend
from tests.gateway.entries import route, snapshot

PRICE = Decimal("0.10")
PER_TOKEN = Decimal(1000)  # USD per 1M tokens: a turn of 9 + 5 tokens costs $0.014
TURN = Decimal("0.014")


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
    """Calls ``docs__lookup`` until it has read ``wanted`` results, then answers."""

    def __init__(self, wanted: int) -> None:
        self.wanted, self.turns = wanted, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        self.turns += 1
        results = [m for m in body["messages"] if m["role"] == "tool"]
        if len(results) >= self.wanted or not body.get("tools"):
            message = {"role": "assistant", "content": f"read {len(results)}"}
            return httpx.Response(200, json=answer(message, "stop"))
        call = {
            "id": f"call_{len(results)}",
            "type": "function",
            "function": {"name": "docs__lookup", "arguments": '{"q": "llamas"}'},
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return httpx.Response(200, json=answer(message, "tool_calls"))


def server(name: str, price: Decimal) -> McpServerEntry:
    return McpServerEntry(
        id=7, name=name, transport="streamable_http", url="http://127.0.0.1:9/mcp",
        headers=(), bearer="", command="", args=(), env=(), enabled=True,
        connect_timeout=5.0, call_timeout=5.0, price_usd=price,
    )  # fmt: skip


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, snapshot_reset, settings):
    settings.REDIS_URL = ""

    async def nothing_spent_before(key_id: int, start: float, *more: object) -> Decimal:
        return Decimal(0)

    async def no_counter_spent_before(counter_id: int | str, start: object) -> Decimal:
        return Decimal(0)

    monkeypatch.setattr(spend, "load_spend", nothing_spent_before)
    monkeypatch.setattr(spend, "load_counter_spend", no_counter_spent_before)
    limits.reset()
    recorded: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", recorded.append)
    attached = dataclasses.replace(route("docs-gpt", "up-1", max_attempts=1), mcp_servers=("docs",))
    priced = dataclasses.replace(
        attached,
        deployments=tuple(
            dataclasses.replace(d, input_price=PER_TOKEN, output_price=PER_TOKEN)
            for d in attached.deployments
        ),
    )
    installed = dataclasses.replace(snapshot(priced), mcp_servers={"docs": server("docs", PRICE)})
    registry.install(installed)
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
    yield recorded, calls
    http.use_transport(None)
    limits.reset()


def budgeted(budget: str, **extra):  # type: ignore[no-untyped-def]
    return dataclasses.replace(
        MASTER,
        id=42,
        name="agent",
        prefix="sy-agent",
        mcp_allowed=frozenset({"docs__lookup"}),
        budget_usd=Decimal(budget),
        budget_period="total",
        **extra,
    )


def chat(stream: bool = False) -> bytes:
    body = {
        "model": "docs-gpt",
        "max_tokens": 10,
        "stream": stream,
        "messages": [{"role": "user", "content": "llamas?"}],
    }
    return orjson.dumps(body)


async def test_each_tool_call_is_charged_in_the_requests_journal_row(gateway):
    """Three tool calls on a budget that covers them: the row's cost is the three
    upstream turns' tokens plus three prices, each call's note names its price."""
    recorded, calls = gateway
    http.use_transport(httpx.MockTransport(Upstream(wanted=3)))
    key = budgeted("5")
    reply = await service.handle("chat", "openai", chat(), {}, service.Caller(key=key))
    assert reply.status == 200, reply.body
    assert orjson.loads(reply.body)["choices"][0]["message"]["content"] == "read 3"
    assert len(calls) == 3
    (row,) = recorded
    assert row.cost_usd == 4 * TURN + 3 * PRICE
    assert [c.get("cost_usd") for c in row.mcp_calls] == ["0.10"] * 3


async def test_a_budget_that_covers_the_model_but_not_every_call_refuses_the_third(gateway):
    """$0.25: the model's hold and two calls fit; the third call's hold does not. The
    request ends as a budget refusal does (429 ``budget_exceeded`` in the caller's
    format); the third call never reaches the server; the row counts the two prices and
    the turns' tokens."""
    recorded, calls = gateway
    upstream = Upstream(wanted=5)
    http.use_transport(httpx.MockTransport(upstream))
    key = budgeted("0.25")
    reply = await service.handle("chat", "openai", chat(), {}, service.Caller(key=key))
    assert reply.status == 429, reply.body
    error = orjson.loads(reply.body)["error"]
    assert error["code"] == "budget_exceeded" and "budget" in error["message"]
    assert len(calls) == 2 and upstream.turns == 3
    (row,) = recorded
    # the two prices, and the three upstream turns' tokens (the loop was cut short)
    assert row.status == 429 and row.cost_usd == 3 * TURN + 2 * PRICE
    assert (row.input_tokens, row.output_tokens) == (27, 15)
    assert [c["status"] for c in row.mcp_calls] == ["ok", "ok", "refused"]
    assert "budget" in row.mcp_calls[-1]["error"]
    # the budget counted the two prices: a call alone ($0.10) no longer fits in $0.25
    with pytest.raises(Exception, match="budget"):
        await limits.admit(key, "mcp:docs", 0, hold_usd=PRICE)


async def test_a_streamed_request_is_refused_in_its_stream(gateway):
    """A streamed Anthropic client: the steps so far, then the budget's error event."""
    recorded, calls = gateway
    http.use_transport(httpx.MockTransport(Upstream(wanted=5)))
    key = budgeted("0.15")
    body = {
        "model": "docs-gpt",
        "max_tokens": 10,
        "stream": True,
        "messages": [{"role": "user", "content": "llamas?"}],
    }
    reply = await service.handle(
        "chat", "anthropic", orjson.dumps(body), {}, service.Caller(key=key)
    )
    raw = b"".join([chunk async for chunk in reply.chunks])
    assert b"event: error" in raw and b"budget" in raw
    assert len(calls) == 1
    (row,) = recorded
    assert row.status == 429 and row.cost_usd == 2 * TURN + PRICE


async def test_a_key_without_a_budget_is_charged_all_the_same(gateway):
    """As on ``/mcp``: the price is the call's cost whoever calls (the master key too)."""
    recorded, calls = gateway
    http.use_transport(httpx.MockTransport(Upstream(wanted=1)))
    reply = await service.handle("chat", "openai", chat(), {}, service.Caller(key=MASTER))
    assert reply.status == 200, reply.body
    (row,) = recorded
    assert row.cost_usd == 2 * TURN + PRICE


async def test_a_tags_budget_holds_the_price(gateway):
    """The request's tags with a budget of their own hold each call's price too."""
    from gateway.base.entries import TagEntry

    recorded, calls = gateway
    http.use_transport(httpx.MockTransport(Upstream(wanted=5)))
    tag = TagEntry(5, "research", None, None, Decimal("0.15"), "total")
    registry.install(dataclasses.replace(registry.current(), tag_limits={"research": tag}))
    key = dataclasses.replace(budgeted("100"), tags=("research",))
    reply = await service.handle("chat", "openai", chat(), {}, service.Caller(key=key))
    assert reply.status == 429, reply.body
    assert len(calls) == 1
    (row,) = recorded
    assert row.tags == ("research",) and row.cost_usd == 2 * TURN + PRICE


async def test_the_end_users_budget_holds_the_price(gateway):
    """A key giving each end user $0.15 (``max_budget_per_user``): the request's ``user``
    pays its tool calls as it pays its tokens: one call fits, the second is refused."""
    recorded, calls = gateway
    http.use_transport(httpx.MockTransport(Upstream(wanted=5)))
    key = dataclasses.replace(
        MASTER,
        id=43,
        name="per-user",
        mcp_allowed=frozenset({"docs__lookup"}),
        max_budget_per_user=Decimal("0.15"),
        budget_period="total",
    )
    body = orjson.loads(chat())
    body["user"] = "alice"
    reply = await service.handle("chat", "openai", orjson.dumps(body), {}, service.Caller(key=key))
    assert reply.status == 429, reply.body
    assert len(calls) == 1
    (row,) = recorded
    assert row.end_user == "alice" and row.cost_usd == 2 * TURN + PRICE


def test_the_price_is_the_registered_servers_and_nothing_for_one_not_held(gateway):
    from gateway.features.mcp import pricing

    assert pricing.price_of("docs") == PRICE
    assert pricing.price_of("gone") == Decimal(0)
