"""``calls.call``: every outcome is exactly one journal record (success, the tool's own
error, schema-invalid arguments, unknown tool, no permission, rate limited), with the
key's rpm applied to tool calls and no secret in any message."""

from __future__ import annotations

import dataclasses

import pytest
from mcp_types import INVALID_PARAMS

from gateway import journal
from gateway.access import registry
from gateway.base.entries import MASTER, Snapshot
from gateway.features.mcp import calls, pool
from gateway.features.mcp.errors import NotAllowed, UnknownTool
from gateway.limits import limits

from .test_pool import entry


@pytest.fixture
async def records():
    before = registry.current()
    registry.install(Snapshot(version=1, mcp_servers={"local": entry("local")}))
    limits.reset()
    seen: list[journal.Record] = []
    journal.subscribe(seen.append)
    yield seen
    journal.unsubscribe(seen.append)
    await pool.aclose()
    registry.install(before)
    limits.reset()


def key(*allowed: str, rpm: int | None = None):
    return dataclasses.replace(
        MASTER,
        id=41,
        name="agent",
        prefix="sy-agent",
        mcp_allowed=frozenset(allowed),
        rpm_limit=rpm,
    )


async def test_each_outcome_is_one_record(records) -> None:
    agent = key("local")
    ok = await calls.call(agent, "local", "add", {"a": 2, "b": 3})
    assert ok.content[0].text == "5"
    tool_error = await calls.call(agent, "local", "fail", {"message": "nope"})
    assert tool_error.is_error
    invalid = await calls.call(agent, "local", "add", {"a": "two"})
    assert invalid.is_error and "invalid arguments" in invalid.content[0].text
    with pytest.raises(UnknownTool) as unknown:
        await calls.call(agent, "local", "nope", {})
    assert unknown.value.code == INVALID_PARAMS
    with pytest.raises(NotAllowed):
        await calls.call(key("local__echo"), "local", "add", {"a": 1, "b": 1})
    summary = [(r.upstream_model, r.status, r.error_kind) for r in records]
    assert summary == [
        ("add", 200, ""),
        ("fail", 200, "tool_error"),
        ("add", 400, "invalid_arguments"),
        ("nope", 404, "unknown_tool"),
        ("add", 403, "permission_denied"),
    ]
    first = records[0]
    assert first.dialect == "mcp" and first.route == "local" and first.key_name == "agent"
    assert first.inbound_request == {
        "server": "local",
        "tool": "add",
        "arguments": {"a": 2, "b": 3},
    }
    assert first.outbound_response["content"][0]["text"] == "5"
    assert first.upstream_ms is not None and first.latency_ms >= first.upstream_ms


async def test_the_keys_rpm_applies_to_tool_calls(records) -> None:
    limited = key("local", rpm=1)
    await calls.call(limited, "local", "add", {"a": 1, "b": 1})
    with pytest.raises(calls.RateLimitedCall) as refused:
        await calls.call(limited, "local", "add", {"a": 1, "b": 1})
    assert refused.value.code == calls.RATE_LIMITED
    assert [r.status for r in records] == [200, 429]


async def test_calls_are_counted_and_traced(records, monkeypatch) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    from gateway.telemetry import metrics, tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "ENABLED", True)
    tracing.use_provider(provider)
    journal.subscribe(metrics.observe)
    metrics.REGISTRY.reset()
    try:
        await calls.call(key("local"), "local", "add", {"a": 1, "b": 2})
        await calls.call(key("local"), "local", "fail", {"message": "no"})
    finally:
        tracing.use_provider(None)
    spans = exporter.get_finished_spans()
    # the MCP conventions' server span: "{mcp.method.name} {gen_ai.tool.name}"
    assert [s.name for s in spans] == ["tools/call local__add", "tools/call local__fail"]
    assert all(s.kind == SpanKind.SERVER for s in spans)
    ok, failed = (s.attributes for s in spans)
    assert ok["mcp.method.name"] == "tools/call" and ok["gen_ai.operation.name"] == "execute_tool"
    assert ok["gen_ai.tool.name"] == "local__add" and ok["switchyard.mcp.server"] == "local"
    assert "error.type" not in ok and spans[0].status.status_code == StatusCode.UNSET
    assert failed["error.type"] == "tool_error"  # a result with isError
    assert spans[1].status.status_code == StatusCode.ERROR
    counted = {dict(labels)["route"]: n for labels, n in metrics.REGISTRY.requests.items()}
    assert counted == {"local": 2}
    assert all(dict(labels)["dialect"] == "mcp" for labels in metrics.REGISTRY.requests)


async def test_a_servers_price_is_held_and_charged_for_each_call_it_answers(
    records, settings, monkeypatch
) -> None:
    """$0.10 a call on a $0.25 budget: a call answered (the tool's own error too) costs
    the price, one refused before the server (invalid arguments) costs nothing, and
    the third answered call finds no room for its hold: refused, uncharged."""
    from decimal import Decimal

    from gateway.limits import spend

    async def nothing_spent_before(key_id: int, start: float) -> Decimal:
        return Decimal(0)

    settings.REDIS_URL = ""
    monkeypatch.setattr(spend, "load_spend", nothing_spent_before)
    limits.reset()

    priced = dataclasses.replace(entry("local"), price_usd=Decimal("0.10"))
    registry.install(Snapshot(version=2, mcp_servers={"local": priced}))
    budgeted = dataclasses.replace(key("local"), budget_usd=Decimal("0.25"), budget_period="total")
    assert (await calls.call(budgeted, "local", "add", {"a": 1, "b": 1})).content[0].text == "2"
    assert (await calls.call(budgeted, "local", "add", {"a": "one"})).is_error
    assert (await calls.call(budgeted, "local", "fail", {"message": "no"})).is_error
    with pytest.raises(calls.RateLimitedCall) as refused:
        await calls.call(budgeted, "local", "add", {"a": 1, "b": 1})
    assert "budget" in refused.value.message
    assert [(r.status, r.cost_usd) for r in records] == [
        (200, Decimal("0.10")),
        (400, Decimal(0)),
        (200, Decimal("0.10")),
        (429, Decimal(0)),
    ]
    free = key("local")  # the same server for a key without a budget: charged all the same
    await calls.call(free, "local", "add", {"a": 1, "b": 1})
    assert records[-1].cost_usd == Decimal("0.10")


async def test_a_priced_call_is_charged_to_the_budget_of_the_keys_tags(
    records, settings, monkeypatch
) -> None:
    """A key carrying a tag with a $0.15 budget (the key has none of its own): its
    calls carry the tag (the journal's spend by tag sees them) and the tag's budget
    holds the price: one call, then a refusal."""
    from decimal import Decimal

    from gateway.base.entries import TagEntry
    from gateway.limits import spend

    async def nothing_spent_before(key_id: int, start: float) -> Decimal:
        return Decimal(0)

    async def no_counter_spent_before(counter_id: int | str, start: object) -> Decimal:
        return Decimal(0)

    settings.REDIS_URL = ""
    monkeypatch.setattr(spend, "load_spend", nothing_spent_before)
    monkeypatch.setattr(spend, "load_counter_spend", no_counter_spent_before)
    limits.reset()
    tag = TagEntry(5, "research", None, None, Decimal("0.15"), "total")
    priced = dataclasses.replace(entry("local"), price_usd=Decimal("0.10"))
    registry.install(
        Snapshot(version=3, mcp_servers={"local": priced}, tag_limits={"research": tag})
    )
    tagged = dataclasses.replace(key("local"), tags=("research",))
    await calls.call(tagged, "local", "add", {"a": 1, "b": 1})
    with pytest.raises(calls.RateLimitedCall) as refused:
        await calls.call(tagged, "local", "add", {"a": 1, "b": 1})
    assert "research" in refused.value.message or "tag" in refused.value.message
    assert [(r.status, r.cost_usd, r.tags) for r in records] == [
        (200, Decimal("0.10"), ("research",)),
        (429, Decimal(0), ("research",)),
    ]


async def test_a_call_carries_the_requests_tags_and_a_key_enforcing_its_own_refuses_others(
    records,
) -> None:
    """``/mcp``'s ``x-switchyard-tags`` (``tags_header``) are the call's tags with the
    key's; a key that enforces its tags may not name another (refused, uncalled)."""
    await calls.call(key("local"), "local", "add", {"a": 1, "b": 1}, tags_header="nightly")
    strict = dataclasses.replace(key("local"), tags=("research",), enforce_tags=True)
    await calls.call(strict, "local", "add", {"a": 1, "b": 1}, tags_header="research")
    with pytest.raises(NotAllowed) as refused:
        await calls.call(strict, "local", "add", {"a": 1, "b": 1}, tags_header="billing")
    assert "billing" in refused.value.message
    assert [(r.status, r.tags) for r in records] == [
        (200, ("nightly",)),
        (200, ("research",)),
        (403, ()),  # refused before its tags were read
    ]


async def test_a_priced_call_is_held_in_its_end_users_budget(
    records, settings, monkeypatch
) -> None:
    """A key giving each end user $0.15 (``max_budget_per_user``; the key has no budget
    of its own): alice's first call is charged to her, her second finds no room and is
    refused naming her budget, uncharged; bob's budget is his own; a call naming no end
    user counts against none."""
    from decimal import Decimal

    from gateway.limits import spend

    async def nothing_spent_before(*args: object, **kwargs: object) -> Decimal:
        return Decimal(0)

    settings.REDIS_URL = ""
    monkeypatch.setattr(spend, "load_spend", nothing_spent_before)
    limits.reset()
    priced = dataclasses.replace(entry("local"), price_usd=Decimal("0.10"))
    registry.install(Snapshot(version=4, mcp_servers={"local": priced}))
    per_user = dataclasses.replace(
        key("local"), max_budget_per_user=Decimal("0.15"), budget_period="total"
    )
    await calls.call(per_user, "local", "add", {"a": 1, "b": 1}, end_user="alice")
    with pytest.raises(calls.RateLimitedCall) as refused:
        await calls.call(per_user, "local", "add", {"a": 1, "b": 1}, end_user="alice")
    assert refused.value.code == calls.RATE_LIMITED
    assert "end user's budget" in refused.value.message
    await calls.call(per_user, "local", "add", {"a": 1, "b": 1}, end_user="bob")
    await calls.call(per_user, "local", "add", {"a": 1, "b": 1})
    await calls.call(per_user, "local", "add", {"a": 1, "b": 1})
    assert [(r.end_user, r.status, r.cost_usd) for r in records] == [
        ("alice", 200, Decimal("0.10")),
        ("alice", 429, Decimal(0)),
        ("bob", 200, Decimal("0.10")),
        ("", 200, Decimal("0.10")),
        ("", 200, Decimal("0.10")),
    ]
