"""Closing MCP at shutdown (``closing``): the endpoint's sessions and the pool's
connections are closed only when this process imported them, and one that fails to
close does not keep the other open."""

from __future__ import annotations

import sys
import types

import pytest

from gateway.features.mcp import closing

ENDPOINT = "gateway.features.mcp.endpoint"
POOL = "gateway.features.mcp.pool"


def module(name: str, closed: list[str], fails: bool = False) -> types.ModuleType:
    fake = types.ModuleType(name)

    async def aclose() -> None:
        closed.append(name)
        if fails:
            raise RuntimeError("stuck")

    fake.aclose = aclose  # type: ignore[attr-defined]
    return fake


async def test_the_sessions_close_first_then_the_connections(monkeypatch) -> None:
    closed: list[str] = []
    monkeypatch.setitem(sys.modules, POOL, module(POOL, closed))
    monkeypatch.setitem(sys.modules, ENDPOINT, module(ENDPOINT, closed))
    await closing.aclose_used()
    assert closed == [ENDPOINT, POOL]


async def test_what_this_process_never_imported_is_not_imported_to_close(monkeypatch) -> None:
    closed: list[str] = []
    monkeypatch.delitem(sys.modules, ENDPOINT, raising=False)
    monkeypatch.setitem(sys.modules, POOL, module(POOL, closed))
    await closing.aclose_used()
    assert closed == [POOL]
    assert ENDPOINT not in sys.modules


async def test_a_failed_close_is_logged_and_the_next_still_closes(
    monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    closed: list[str] = []
    monkeypatch.setitem(sys.modules, ENDPOINT, module(ENDPOINT, closed, fails=True))
    monkeypatch.setitem(sys.modules, POOL, module(POOL, closed))
    await closing.aclose_used()
    assert closed == [ENDPOINT, POOL]
    assert f"closing {ENDPOINT} failed" in caplog.text
