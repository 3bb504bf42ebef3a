"""The registry's fingerprint check (``registry.watch_fingerprint``): the tables it
watches are the signals' registry models and their many-to-many tables; it rebuilds
when the fingerprint moved away from the one the snapshot was read at, not otherwise;
a change committed while a snapshot is being built is found by the next check; a
database error costs a tick, never the loop. On PostgreSQL itself:
tests/integration/test_registry_fingerprint_live.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.db import OperationalError

from gateway.access import registry, registry_fingerprint, signals
from gateway.base.entries import Snapshot


def test_the_signals_registry_tables_are_watched_with_their_many_to_many_tables() -> None:
    tables = registry_fingerprint._tables
    for model in signals.REGISTRY_MODELS:
        assert model._meta.db_table in tables
    assert "gateway_apikey_routes" in tables and "gateway_route_teams" in tables
    assert len(tables) == len(set(tables))
    registry_fingerprint.track(signals.REGISTRY_MODELS)  # again: nothing twice
    assert registry_fingerprint._tables == tables


def test_off_unless_postgresql_and_a_positive_interval(settings) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    settings.SWITCHYARD_REGISTRY_FINGERPRINT_SECONDS = 5
    assert registry_fingerprint.enabled() is (connection.vendor == "postgresql")
    settings.SWITCHYARD_REGISTRY_FINGERPRINT_SECONDS = 0
    assert not registry_fingerprint.enabled()
    assert registry_fingerprint.read() is None
    query = registry_fingerprint._query(lambda name: f'"{name}"')
    assert '"gateway_apikey"' in query and "xmin" in query and query.endswith("ORDER BY 1")


@pytest.fixture
def stored(monkeypatch, settings, snapshot_reset):  # type: ignore[no-untyped-def]
    """The tables' fingerprint as a value the test moves; builds counted."""
    state: dict[str, Any] = {"fingerprint": "a", "builds": 0, "fail": 0}

    def read() -> str:
        if state["fail"]:
            state["fail"] -= 1
            raise OperationalError("the database went away")
        return str(state["fingerprint"])

    def build() -> Snapshot:
        state["builds"] += 1
        return Snapshot(version=1)

    settings.SWITCHYARD_REGISTRY_FINGERPRINT_SECONDS = 0.01
    monkeypatch.setattr(registry_fingerprint, "read", read)
    monkeypatch.setattr(registry, "build_snapshot", build)
    registry.rebuild()
    state["builds"] = 0
    return state


async def _ticks(stored: dict[str, object], seconds: float = 0.1) -> None:
    stop = asyncio.Event()
    loop = asyncio.create_task(registry.watch_fingerprint(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(loop, 2)


async def test_unchanged_tables_rebuild_nothing(stored) -> None:  # type: ignore[no-untyped-def]
    await _ticks(stored)
    assert stored["builds"] == 0


async def test_a_change_without_an_announcement_rebuilds_once(stored) -> None:  # type: ignore[no-untyped-def]
    stored["fingerprint"] = "b"
    await _ticks(stored)
    assert stored["builds"] == 1
    assert registry._built_from == "b"


async def test_a_change_during_a_build_is_found_by_the_next_check(stored, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def build_while_a_change_commits() -> Snapshot:
        stored["builds"] += 1
        stored["fingerprint"] = f"changed-{stored['builds']}" if stored["builds"] == 1 else "c"
        return Snapshot(version=1)

    monkeypatch.setattr(registry, "build_snapshot", build_while_a_change_commits)
    stored["fingerprint"] = "b"
    await _ticks(stored, 0.2)
    # the first build began at "b" and the tables moved on while it read them: the next
    # check rebuilt; that one began at "changed-1" and they moved to "c": once more
    assert stored["builds"] == 3 and registry._built_from == "c"


async def test_a_database_outage_costs_ticks_not_the_loop(stored, caplog) -> None:  # type: ignore[no-untyped-def]
    stored["fail"] = 3
    stored["fingerprint"] = "b"
    with caplog.at_level("INFO", logger="gateway.access.registry"):
        await _ticks(stored, 0.3)
    assert stored["builds"] == 1 and registry._built_from == "b"
    text = caplog.text
    assert text.count("registry fingerprint check: database unavailable") == 1
    assert text.count("registry fingerprint check: database reachable again") == 1
