"""What an MCP allow-list names that does not exist (``gateway.features.mcp.allow_list_check``):
a server not registered, a tool a registered server does not list, and a server that
does not answer in time, named as unchecked; servers are asked only when the list names
one of their tools; ``*`` names nothing to check."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from gateway.features.mcp import allow_list_check, save
from gateway.features.mcp.allow_list_check import split, warnings
from gateway.models import McpServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def probes(monkeypatch) -> list[str]:
    """The servers asked for their tools; docs lists search and fetch, slow never answers."""
    asked: list[str] = []

    async def probe(server: McpServer, user_id: int | None = None) -> Any:
        asked.append(server.name)
        if server.name == "slow":
            await asyncio.sleep(10)
        tools = [SimpleNamespace(name=n) for n in ("search", "fetch")]
        return save.Probe(ok=server.name != "broken", tools=tools)  # type: ignore[arg-type]

    monkeypatch.setattr(save, "probe", probe)
    monkeypatch.setattr(allow_list_check, "TIMEOUT", 0.2)
    for name in ("docs", "slow", "broken"):
        McpServer.objects.create(name=name, url="http://127.0.0.1:9/mcp")
    return asked


def check(allowed: list[str]) -> list[str]:
    return async_to_sync(warnings)(allowed)


def test_an_entry_splits_into_server_and_tool() -> None:
    assert split("docs__search") == ("docs", "search") and split("docs") == ("docs", "")


def test_everything_that_exists_says_nothing_and_bare_servers_ask_nobody(probes) -> None:
    assert check(["*", "docs", "slow"]) == []
    assert probes == []  # no tool named: no server asked
    assert check(["docs__search", "docs__fetch"]) == []
    assert probes == ["docs"]


def test_an_unregistered_server_and_an_unlisted_tool_are_named(probes) -> None:
    assert check(["nope", "docs__serch", "docs__search"]) == [
        "MCP server 'nope' is not registered: this entry allows nothing until it is",
        "MCP server 'docs' lists no tool 'serch'",
    ]


def test_a_server_that_does_not_answer_is_unchecked_not_guessed(probes) -> None:
    assert check(["slow__anything", "broken__x"]) == [
        "MCP server 'slow' did not answer: its tools were not checked",
        "MCP server 'broken' did not answer: its tools were not checked",
    ]
