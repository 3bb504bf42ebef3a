"""The semantic cache's request hooks (``gateway.features.semantic_cache.plugin``): an
entry's scope never crosses keys or teams."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from gateway.base.entries import KeyEntry, TeamEntry
from gateway.features.semantic_cache import plugin
from tests.gateway.entries import deployment, route

ALICE, BOB, CAROL = "sy-alice-semantic-0123456789", "sy-bob-semantic-0123456789", "sy-carol-0123"
TEAM = TeamEntry(7, "search", None, None, None, "total")
OTHER_TEAM = TeamEntry(8, "billing", None, None, None, "total")


def key(id_: int, name: str, team: TeamEntry | None) -> KeyEntry:
    return KeyEntry(id_, name, name[:8], None, None, None, None, "total", None, False, team=team)


def semantic(scope: str = "key", ttl: int = 300, **more: Any) -> Any:
    chat = dataclasses.replace(
        route("faq", "up-chat", max_attempts=1),
        deployments=(
            deployment("faq", "up-chat", input_price=Decimal(2), output_price=Decimal(8)),
        ),
    )
    return dataclasses.replace(
        chat,
        semantic_cache_ttl=ttl,
        semantic_cache_threshold=0.95,
        semantic_cache_scope=scope,
        semantic_cache_route="embedder",
        **more,
    )


@pytest.fixture(autouse=True)
def _refresh_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_SEMANTIC_CACHE_REFRESH", "0")


def test_the_scope_never_crosses_keys_or_teams():
    faq = semantic()
    alice, carol = key(1, "alice", TEAM), key(3, "carol", OTHER_TEAM)
    loner = key(4, "loner", None)
    assert plugin.scope_of(faq, alice) != plugin.scope_of(faq, key(2, "bob", TEAM))
    team = dataclasses.replace(faq, semantic_cache_scope="team")
    assert plugin.scope_of(team, alice) == "team:7" != plugin.scope_of(team, carol)
    assert plugin.scope_of(team, loner) == "key:4"  # no team: only itself
