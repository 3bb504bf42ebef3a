"""The process-wide MCP pool against a stdio server written with the SDK: one connection
reused, a crashed server restarted, a hanging call timed out without losing the
connection, a command that exits at once reported quickly, unknown and disabled servers,
a changed registry entry reconnecting, shutdown stopping the process, no secret in any
message. No database: the registry snapshot is installed directly."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time
from pathlib import Path

import pytest

from gateway.access import registry
from gateway.base.entries import McpServerEntry, Snapshot
from gateway.features.mcp import pool
from gateway.features.mcp.errors import ServerUnavailable, ToolTimeout, UnknownServer

SCRIPT = str(Path(__file__).resolve().parent / "mcp_test_server.py")
SECRET = "env-secret-Unmistakable-3141"


def entry(name: str, *args: str, **changes) -> McpServerEntry:
    base = McpServerEntry(
        id=1,
        name=name,
        transport="stdio",
        url="",
        headers=(),
        bearer="",
        command=sys.executable,
        args=(SCRIPT, *args),
        env=(("TOOL_SECRET", SECRET),),
        enabled=True,
        connect_timeout=10.0,
        call_timeout=10.0,
        from_operator=True,  # as the operator's config import registers it
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
async def servers():
    before = registry.current()
    entries = {
        "local": entry("local"),
        "quitter": entry("quitter", "exit", connect_timeout=5.0),
        "off": entry("off", enabled=False),
        "missing": entry("missing", command="/nonexistent/mcp-server"),
    }
    registry.install(Snapshot(version=1, mcp_servers=entries))
    yield entries
    await pool.aclose()
    registry.install(before)


def _pid(text: str) -> int:
    return int(text.split("pid:")[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_one_connection_is_reused(servers) -> None:
    tools = await pool.list_tools("local")
    assert {"add", "echo", "sleep"} <= {t.name for t in tools}
    first = await pool.call_tool("local", "echo", {"text": "a"})
    second = await pool.call_tool("local", "echo", {"text": "b"})
    assert _pid(first.content[0].text) == _pid(second.content[0].text)
    assert pool.status("local") == {"connected": True, "connects": 1, "last_error": ""}
    result = await pool.call_tool("local", "fail", {"message": "bad"})
    assert result.is_error and "bad" in result.content[0].text


async def test_crashed_server_is_restarted(servers) -> None:
    before = _pid((await pool.call_tool("local", "echo", {"text": "x"})).content[0].text)
    with pytest.raises(ServerUnavailable):
        await pool.call_tool("local", "die", {})
    after = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            after = _pid((await pool.call_tool("local", "echo", {"text": "y"})).content[0].text)
            break
        except ServerUnavailable:
            pass
    assert after is not None and after != before and not _alive(before)
    assert pool.status("local")["connects"] == 2


async def test_a_hanging_call_times_out_and_the_connection_survives(servers) -> None:
    with pytest.raises(ToolTimeout, match="timed out"):
        await pool.call_tool("local", "sleep", {"seconds": 30}, timeout=0.5)
    result = await pool.call_tool("local", "add", {"a": 1, "b": 2})
    assert result.content[0].text == "3"


async def test_unreachable_servers_fail_fast_without_secrets(servers) -> None:
    started = time.monotonic()
    with pytest.raises(ServerUnavailable) as quit_error:
        await pool.list_tools("quitter")
    assert time.monotonic() - started < 6
    with pytest.raises(ServerUnavailable) as missing_error:
        await pool.list_tools("missing")
    for error in (quit_error.value, missing_error.value):
        assert SECRET not in error.message
    assert "quitter" in quit_error.value.message and "missing" in missing_error.value.message
    # within the retry pause the last error comes back at once
    started = time.monotonic()
    with pytest.raises(ServerUnavailable):
        await pool.list_tools("missing")
    assert time.monotonic() - started < 0.5
    with pytest.raises(UnknownServer):
        await pool.list_tools("ghost")
    with pytest.raises(ServerUnavailable, match="disabled"):
        await pool.call_tool("off", "add", {"a": 1, "b": 1})


async def test_a_changed_entry_reconnects_and_shutdown_stops_the_process(servers) -> None:
    pid = _pid((await pool.call_tool("local", "echo", {"text": "x"})).content[0].text)
    changed = {**servers, "local": entry("local", call_timeout=5.0)}
    registry.install(Snapshot(version=2, mcp_servers=changed))
    new_pid = _pid((await pool.call_tool("local", "echo", {"text": "x"})).content[0].text)
    assert new_pid != pid
    await pool.aclose()
    deadline = time.monotonic() + 10
    while _alive(new_pid) and time.monotonic() < deadline:  # noqa: ASYNC110 - polling a pid
        await asyncio.sleep(0.05)
    assert not _alive(new_pid) and not _alive(pid)


async def test_a_deleted_server_is_closed(servers) -> None:
    pid = _pid((await pool.call_tool("local", "echo", {"text": "x"})).content[0].text)
    remaining = {k: v for k, v in servers.items() if k != "local"}
    registry.install(Snapshot(version=3, mcp_servers=remaining))
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:  # noqa: ASYNC110 - polling a pid
        await asyncio.sleep(0.05)
    assert not _alive(pid)
    with pytest.raises(UnknownServer):
        await pool.list_tools("local")


async def test_resources_and_prompts(servers) -> None:
    resources = await pool.list_resources("local")
    assert [str(r.uri) for r in resources] == ["test://greeting"]
    read = await pool.read_resource("local", "test://greeting")
    assert read.contents[0].text == "hello from the test server"
    assert [p.name for p in await pool.list_prompts("local")] == ["greet"]
    prompt = await pool.get_prompt("local", "greet", {"name": "Ada"})
    assert "Ada" in prompt.messages[0].content.text
