"""pre_mcp_call guardrails on ``/mcp`` and ``/mcp/<server>``: the official ``mcp`` client
talks to the ``/mcp`` ASGI app in process, which calls an SDK-written stdio server
(``echo``) and a streamable-HTTP one (``secret_word``). A content filter attached to
the key blocks a call whose arguments hold a blocked word (the tool never runs, the
client reads a tool error naming the guardrail), masks an email before the tool sees
it and masks or blocks a secret in a tool's result; a fail-closed guardrail whose check
fails refuses the call; a key no guardrail applies to is served as before, with no check
run. Each call's journal row notes the verdicts."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gateway import journal
from gateway.access import registry
from gateway.base import hooks
from gateway.base.entries import MASTER, GuardrailEntry, KeyEntry, McpServerEntry, Snapshot
from gateway.features.guardrails import engine, kinds
from gateway.features.guardrails.plugin import MCP
from gateway.features.mcp import endpoint, pool
from gateway.limits import limits
from tests.mcp_test_server import SECRET_WORD, running_mcp_server

from .test_pool import entry

AGENT = "sy-agent-mcp-guardrail-test"
PLAIN = "sy-plain-mcp-guardrail-test"

FILTER = {
    "patterns": [
        {"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"},
        {
            "pattern_type": "regex",
            "pattern": r"quokka-\d+",
            "name": "secret_word",
            "action": "MASK",
        },
    ],
    "blocked_words": [{"keyword": "forbidden", "action": "BLOCK"}],
}
BLOCK_SECRET = {"blocked_words": [{"keyword": SECRET_WORD, "action": "BLOCK"}]}


def guardrail(name: str, params: dict[str, Any] | None = None, **extra: Any) -> GuardrailEntry:
    return GuardrailEntry(
        id=abs(hash(name)) % 100000,
        name=name,
        kind=extra.pop("kind", "litellm_content_filter"),
        modes=frozenset({"pre_mcp_call"}),
        params=params if params is not None else FILTER,
        **extra,
    )


def key(name: str, *guardrails: str) -> KeyEntry:
    return dataclasses.replace(
        MASTER, id=abs(hash(name)) % 1000 + 1, name=name, prefix=name[:8],
        mcp_allowed=frozenset({"*"}), guardrails=guardrails,
    )  # fmt: skip


class DownChecker(kinds.Checker):
    """A guardrail service that cannot answer (its check always fails)."""

    local = True

    async def check(self, texts: list[str], context: kinds.Context) -> kinds.Verdict:
        raise ConnectionError("guardrail service unreachable")


class DownKind(kinds.Kind):
    def validate(self, params: Any) -> dict[str, Any]:
        return dict(params)

    def build(self, entry: GuardrailEntry) -> kinds.Checker:
        return DownChecker(entry)


@pytest.fixture(scope="module")
def web_url() -> Iterator[str]:
    with running_mcp_server() as url:
        yield url


@pytest.fixture
async def gateway(monkeypatch, settings, web_url, snapshot_reset):  # type: ignore[no-untyped-def]
    """Installs a snapshot per test (``install``); yields (install, tool calls the
    servers received, journal rows)."""
    settings.SWITCHYARD_MASTER_KEY = "sy-master-mcp-guardrail-test"
    monkeypatch.setenv("SWITCHYARD_MCP_SESSIONS", "off")
    monkeypatch.setitem(kinds.KINDS, "always_down", DownKind("always_down", "Down", "none"))
    hooks.mcp_guards.register(MCP)  # as GatewayConfig.ready does (a no-op when it did)
    web = McpServerEntry(
        id=2, name="web", transport="streamable_http", url=web_url, headers=(), bearer="",
        command="", args=(), env=(), enabled=True, connect_timeout=10, call_timeout=10,
        from_operator=True,
    )  # fmt: skip
    servers = {"local": entry("local"), "web": web}

    def install(*guards: GuardrailEntry, default: tuple[str, ...] = ()) -> None:
        keys = {
            hashlib.sha256(AGENT.encode()).hexdigest(): key("agent", *(g.name for g in guards)),
            hashlib.sha256(PLAIN.encode()).hexdigest(): key("plain"),
        }
        registry.install(
            Snapshot(
                version=1,
                mcp_servers=servers,
                keys=keys,
                guardrails={g.name: g for g in guards},
                default_guardrails=default,
            )
        )

    received: list[tuple[str, str, Any]] = []
    real_call, real_rounds = pool.call_tool, pool.call_tool_in_rounds

    async def spy(server: str, tool: str, arguments: Any, **kwargs: Any) -> Any:
        received.append((server, tool, arguments))
        return await real_call(server, tool, arguments, **kwargs)

    async def spy_rounds(server: str, tool: str, arguments: Any, **kwargs: Any) -> Any:
        # /mcp's calls (a 2026-07-28 server may answer with a round)
        received.append((server, tool, arguments))
        return await real_rounds(server, tool, arguments, **kwargs)

    monkeypatch.setattr(pool, "call_tool", spy)
    monkeypatch.setattr(pool, "call_tool_in_rounds", spy_rounds)
    rows: list[journal.Record] = []
    journal.subscribe(rows.append)
    limits.reset()
    yield install, received, rows
    journal.unsubscribe(rows.append)
    await endpoint.aclose()
    await pool.aclose()
    limits.reset()


def client(raw_key: str, path: str = "/mcp") -> Client:
    http = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=endpoint.app),
        base_url="http://gateway",
        headers={"Authorization": f"Bearer {raw_key}"},
        timeout=30,
    )
    return Client(streamable_http_client(f"http://gateway{path}", http_client=http))


async def call(raw_key: str, name: str, arguments: dict[str, Any], path: str = "/mcp") -> Any:
    async with client(raw_key, path) as mcp:
        return await mcp.call_tool(name, arguments)


def rows_of(rows: list[journal.Record], tool: str) -> list[journal.Record]:
    return [r for r in rows if r.dialect == "mcp" and r.upstream_model == tool]


@pytest.mark.parametrize(("path", "name"), [("/mcp", "local__echo"), ("/mcp/local", "echo")])
async def test_a_blocked_word_in_the_arguments_stops_the_call(gateway, path, name):
    install, received, rows = gateway
    install(guardrail("mcp-filter"))
    result = await call(AGENT, name, {"text": "the forbidden plan"}, path)
    assert result.is_error
    text = result.content[0].text
    assert "guardrail 'mcp-filter' blocked the tool call local__echo" in text
    assert "forbidden" not in text  # the reason, never the text
    assert received == [], "the tool never ran"
    (row,) = rows_of(rows, "echo")
    assert (row.status, row.error_kind) == (400, "guardrail_blocked")
    (note,) = row.guardrails
    assert (note["name"], note["mode"], note["verdict"]) == (
        "mcp-filter",
        "pre_mcp_call",
        "blocked",
    )


async def test_an_email_in_the_arguments_is_masked_before_the_tool_sees_it(gateway):
    install, received, rows = gateway
    install(guardrail("mcp-filter"))
    result = await call(AGENT, "local__echo", {"text": "write to ann@example.com"})
    assert not result.is_error
    assert result.content[0].text.startswith("echo:write to [EMAIL_REDACTED] pid:")
    assert received == [("local", "echo", {"text": "write to [EMAIL_REDACTED]"})]
    (row,) = rows_of(rows, "echo")
    assert row.status == 200
    assert "ann@example.com" not in repr(row.inbound_request), "the journal keeps what ran"
    (note,) = row.guardrails
    assert note["verdict"] == "intervened" and note["entities"] == ["email"]
    assert note["checks"] == 2  # the arguments, then the result


async def test_a_secret_in_the_result_is_masked(gateway):
    install, received, rows = gateway
    install(guardrail("mcp-filter"))
    result = await call(AGENT, "web__secret_word", {})
    assert not result.is_error
    assert result.content[0].text == "[SECRET_WORD_REDACTED]"
    assert SECRET_WORD not in repr(result.model_dump())  # structured content included
    assert received == [("web", "secret_word", {})], "the tool ran"
    (row,) = rows_of(rows, "secret_word")
    assert SECRET_WORD not in repr(row.outbound_response)
    assert row.guardrails[0]["entities"] == ["secret_word"]


async def test_a_secret_in_the_result_is_blocked(gateway):
    install, received, rows = gateway
    install(guardrail("no-secrets", BLOCK_SECRET, default_on=True), default=("no-secrets",))
    result = await call(PLAIN, "web__secret_word", {})  # default_on: any key
    assert result.is_error
    text = result.content[0].text
    assert "guardrail 'no-secrets' blocked the tool's result" in text and SECRET_WORD not in text
    (row,) = rows_of(rows, "secret_word")
    assert row.status == 400 and SECRET_WORD not in repr(row.outbound_response)


async def test_a_fail_closed_guardrail_that_cannot_check_refuses_the_call(gateway):
    install, received, rows = gateway
    down = guardrail("svc", {}, kind="always_down", default_on=True)
    install(down, default=("svc",))
    result = await call(PLAIN, "local__echo", {"text": "hello"})
    assert result.is_error
    text = result.content[0].text
    assert "guardrail 'svc' could not check the tool call local__echo" in text
    assert "fails closed" in text
    assert received == []
    (row,) = rows_of(rows, "echo")
    assert (row.status, row.error_kind) == (503, "guardrail_unavailable")
    assert row.guardrails[0]["verdict"] == "error"


async def test_a_fail_open_guardrail_lets_the_call_through_and_says_so(gateway):
    install, received, rows = gateway
    down = guardrail("svc", {}, kind="always_down", default_on=True, fail_open=True)
    install(down, default=("svc",))
    result = await call(PLAIN, "local__echo", {"text": "hello"})
    assert not result.is_error and received == [("local", "echo", {"text": "hello"})]
    (row,) = rows_of(rows, "echo")
    assert row.guardrails[0]["bypassed"] is True


async def test_a_call_no_guardrail_applies_to_runs_no_check(gateway, monkeypatch):
    install, received, rows = gateway

    async def never(*args: Any) -> Any:
        raise AssertionError("no guardrail applies: nothing may run")

    monkeypatch.setattr(engine, "run", never)
    install()  # no guardrail at all
    first = await call(AGENT, "local__echo", {"text": "ann@example.com forbidden"})
    install(guardrail("mcp-filter"))  # one exists, but only the agent key has it
    second = await call(PLAIN, "local__echo", {"text": "ann@example.com forbidden"})
    for result in (first, second):
        assert not result.is_error
        assert result.content[0].text.startswith("echo:ann@example.com forbidden pid:")
    assert [r.guardrails for r in rows_of(rows, "echo")] == [None, None]
