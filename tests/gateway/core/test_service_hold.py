"""The budget hold the pipeline takes (``gateway.core.service._serve``): what the request
may cost on any route that may answer it, its own and its fallbacks and context-window
fallbacks the key may call (a dearer one raises the hold; one the key may not call does
not); a route with neither is held at its own prices without walking the snapshot."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base.entries import ProviderEntry, RouteEntry
from gateway.core import service
from gateway.limits import limits, spend
from tests.gateway.entries import route, snapshot
from tests.gateway.limits.test_limits import key

ECHO = ProviderEntry(1, "echo", "echo", "", "", {}, "", None)
BODY = orjson.dumps(
    {"model": "cheap", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
)


def priced(entry: RouteEntry, output_price: str) -> RouteEntry:
    """``entry`` with its deployments' output at ``output_price`` USD a million tokens."""
    deployments = tuple(
        dataclasses.replace(d, output_price=Decimal(output_price)) for d in entry.deployments
    )
    return dataclasses.replace(entry, deployments=deployments)


@pytest.fixture
def holds(monkeypatch: pytest.MonkeyPatch, settings: Any, snapshot_reset: Any) -> Any:
    """The hold of each admission the pipeline asks for, in USD."""
    settings.REDIS_URL = ""
    limits.reset()

    async def none_spent(key_id: Any, start: Any, end_user: Any = None) -> Decimal:
        return Decimal(0)

    monkeypatch.setattr(spend, "load_spend", none_spent)
    monkeypatch.setattr(journal, "record", lambda record: None)
    held: list[Decimal | None] = []
    admit = limits.admit

    async def recording(k: Any, name: str, tokens: int, hold: Any = None, **more: Any) -> Any:
        held.append(hold)
        return await admit(k, name, tokens, hold, **more)

    monkeypatch.setattr(limits, "admit", recording)
    yield held
    limits.reset()


async def ask(k: Any) -> None:
    reply = await service.handle("chat", "openai", BODY, {}, service.Caller(key=k))
    assert reply.status == 200, getattr(reply, "body", b"")


async def test_the_hold_covers_the_dearest_route_the_key_may_reach(holds: Any) -> None:
    cheap = priced(
        route("cheap", "echo-1", provider=ECHO, max_attempts=1, fallbacks=["dear"], cw="other"),
        "1",
    )
    dear = priced(route("dear", "echo-2", provider=ECHO), "5")
    other = priced(route("other", "echo-3", provider=ECHO), "50")  # the key may not call it
    registry.install(snapshot(cheap, dear, other))
    budgeted = key(budget_usd=Decimal(10), routes=frozenset({"cheap", "dear"}))
    await ask(budgeted)
    assert holds == [Decimal(100) * 5 / 1_000_000]  # the fallback's price, not "other"'s
    await ask(key(budget_usd=Decimal(10)))  # a key that may call every route
    assert holds[-1] == Decimal(100) * 50 / 1_000_000


async def test_a_route_without_fallbacks_is_held_at_its_own_prices_without_a_walk(
    holds: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.install(snapshot(priced(route("cheap", "echo-1", provider=ECHO), "1")))

    def walked(*args: Any) -> Any:
        raise AssertionError("no other route to look for")

    monkeypatch.setattr(service, "_answering", walked)
    await ask(key(budget_usd=Decimal(10)))
    assert holds == [Decimal(100) / 1_000_000]
