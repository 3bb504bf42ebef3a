"""The semantic cache's shared store: ``SemanticCacheEntry`` rows in the gateway's
database, which every process and instance reads into its index (``index``) and writes
to, off the request path (these functions are blocking: callers run them in a worker
thread, ``gateway.base.db_work.arun``). Expired rows are never read and are deleted by
the journal's pruning round (``prune``, a ``hooks.pruners`` entry)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from gateway.base import db_work
from gateway.models import SemanticCacheEntry

PRUNE_BATCH = 500


def insert(
    route: str,
    scope: str,
    vector: bytes,
    dims: int,
    text_hash: str,
    answer: bytes,
    cost_usd: Decimal,
    ttl: int,
) -> tuple[int, float]:
    """Write an entry; (its id, when it expires in epoch seconds)."""
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=ttl)
    row = SemanticCacheEntry.objects.create(
        route=route,
        scope=scope,
        vector=vector,
        dims=dims,
        text_hash=text_hash,
        answer=answer,
        cost_usd=cost_usd,
        created_at=now,
        expires_at=expires,
    )
    return int(row.pk), expires.timestamp()


def newer(route: str, scope: str, after_id: int, limit: int) -> list[dict[str, Any]]:
    """The unexpired rows of (route, scope) after ``after_id``, at most ``limit`` (the
    newest), oldest first."""
    rows = list(
        SemanticCacheEntry.objects.filter(
            route=route, scope=scope, id__gt=after_id, expires_at__gt=datetime.now(UTC)
        )
        .order_by("-id")
        .values("id", "vector", "expires_at", "answer", "cost_usd")[:limit]
    )
    rows.reverse()
    return rows


def prune(max_batches: int) -> int:
    """Delete expired entries (the journal's pruning round); returns how many."""
    expired = SemanticCacheEntry.objects.filter(expires_at__lte=datetime.now(UTC))
    return db_work.delete_in_batches(expired, PRUNE_BATCH, max_batches)
