"""The shared store: rows read back newest-bounded and oldest first, never expired ones;
expired rows deleted by the journal's pruning round (``hooks.pruners``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gateway.base import hooks
from gateway.features.semantic_cache import store
from gateway.models import SemanticCacheEntry


def keep(route: str = "faq", scope: str = "key:1", ttl: int = 60) -> int:
    row_id, _ = store.insert(
        route, scope, b"\x00\x00\x80?", 1, "h", b"answer", Decimal("0.01"), ttl
    )
    return row_id


@pytest.mark.django_db
def test_rows_are_read_back_per_scope_bounded_and_never_expired() -> None:
    ids = [keep() for _ in range(4)]
    keep(scope="key:2")
    gone = keep()
    SemanticCacheEntry.objects.filter(pk=gone).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    rows = store.newer("faq", "key:1", 0, 3)
    assert [r["id"] for r in rows] == ids[1:]  # the newest three, oldest first
    assert bytes(rows[0]["vector"]) == b"\x00\x00\x80?" and rows[0]["cost_usd"] == Decimal("0.01")
    assert [r["id"] for r in store.newer("faq", "key:1", ids[2], 10)] == [ids[3]]


@pytest.mark.django_db
def test_the_pruning_round_deletes_expired_rows() -> None:
    assert store.prune in list(hooks.pruners)  # registered by the unit
    kept, expired = keep(), keep()
    SemanticCacheEntry.objects.filter(pk=expired).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert store.prune(10) == 1
    assert list(SemanticCacheEntry.objects.values_list("pk", flat=True)) == [kept]
