"""The semantic cache's part in the request path (``hooks.answer_caches``): after the
exact cache missed, embed the request's text (``text``, ``embed``), find the nearest
entry of its (route, scope) in this process's index (``index``) and serve it at or
above the route's threshold; on a miss, keep the final answer (``call.answer_keeper``),
written to the store and the index in the background, never before the reply.

The client's ``Cache-Control: no-cache`` skips the lookup (the answer is still kept),
``no-store`` skips both, as for the exact cache. A shadow route's mirror neither reads
nor writes (it answers nobody). A hit costs nothing upstream; its journal row says
``cache_hit`` with the similarity and the USD its answer cost when it was made."""

from __future__ import annotations

import hashlib
import logging
import time
from array import array
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gateway.base import db_work, hooks
from gateway.base.background import in_background
from gateway.base.entries import KeyEntry, RouteEntry
from gateway.base.types import ChatRequest, ChatResponse
from gateway.core import cache
from gateway.features.semantic_cache import announce, embed, index, store
from gateway.features.semantic_cache.text import text_key

log = logging.getLogger(__name__)


def scope_of(route: RouteEntry, key: KeyEntry) -> str:
    """Who shares the route's entries with ``key``: the key itself, its team (a key
    without a team: itself), or every key allowed on the route."""
    own = f"key:{'master' if key.id is None else key.id}"
    if route.semantic_cache_scope == "route":
        return "route"
    if route.semantic_cache_scope == "team":
        return own if key.team is None else f"team:{key.team.id}"
    return own


class SemanticCache:
    def applies(self, call: Any, route: RouteEntry) -> bool:
        return (
            route.semantic_cache_ttl > 0
            and call.endpoint == "chat"
            and not call.caller.shadow_of
            and (not route.semantic_cache_dialects or call.dialect in route.semantic_cache_dialects)
        )

    async def lookup(
        self,
        call: Any,
        route: RouteEntry,
        request: ChatRequest,
        key: KeyEntry,
        headers: Mapping[str, str],
    ) -> hooks.AnswerHit | None:
        read, write = cache.directives(headers)
        if not read and not write:
            return None
        text = text_key(request)
        if text is None:
            return None
        embedding = await embed.embed(route.semantic_cache_route, text, key)
        vector = None if embedding is None else index.unit(embedding)
        if vector is None:
            return None
        scope = scope_of(route, key)
        found = _index(route.name, scope)
        if read:
            try:
                hit = _nearest(found, vector, route.semantic_cache_threshold)
            except Exception:  # a fault of the cache is a miss, never the request's error
                log.exception("semantic cache: looking up %s (%s) failed", route.name, scope)
                hit = None
            if hit is not None:
                return hit
        if write:
            digest = hashlib.sha256(text.encode()).hexdigest()

            def keep(response: ChatResponse) -> None:
                deployment = call.deployment
                cost = deployment.cost(response.usage) if deployment is not None else Decimal(0)
                value = cache.codec.encode(response)
                in_background(
                    _write(route.name, scope, vector, digest, value, cost, route.semantic_cache_ttl)
                )

            call.answer_keeper = keep
        return None


def _nearest(found: index.Index, vector: array[float], threshold: float) -> hooks.AnswerHit | None:
    """The hit at or above ``threshold`` in ``found``, else None."""
    best = found.nearest(vector, index.now())
    if best is None or best[0] < threshold:
        return None
    similarity, entry = best
    return hooks.AnswerHit(cache.codec.decode(entry.answer), round(similarity, 6), entry.cost_usd)


def _index(route: str, scope: str) -> index.Index:
    """The index of (route, scope), its (re)load started in the background when due."""
    announce.ensure_listening()  # (once a loop; nothing without Redis)
    found = index.get(route, scope)
    if found.due(time.monotonic()):
        found.loading = True
        in_background(_load(route, scope, found))
    return found


async def _load(route: str, scope: str, into: index.Index) -> None:
    try:
        rows = await db_work.arun(store.newer, route, scope, into.last_id, index.max_entries())
    except Exception:  # the store away: this process keeps what it has, and retries
        log.warning("semantic cache: loading %s (%s) failed", route, scope, exc_info=True)
        rows = []
    finally:
        into.loading = False
        into.loaded_at = time.monotonic()
    for row in rows:
        vector = array("f")
        vector.frombytes(bytes(row["vector"]))
        into.add(
            index.Entry(
                id=row["id"],
                vector=vector,
                expires_at=row["expires_at"].timestamp(),
                answer=bytes(row["answer"]),
                cost_usd=row["cost_usd"],
            )
        )


async def _write(
    route: str,
    scope: str,
    vector: array[float],
    digest: str,
    answer: bytes,
    cost: Decimal,
    ttl: int,
) -> None:
    try:
        row_id, expires_at = await db_work.arun(
            store.insert, route, scope, vector.tobytes(), len(vector), digest, answer, cost, ttl
        )
    except Exception:  # an answer not kept is a later miss, never the request's error
        log.warning("semantic cache: keeping an answer of %s failed", route, exc_info=True)
        return
    entry = index.Entry(row_id, vector, expires_at, answer, cost)
    index.get(route, scope).add(entry)
    await announce.publish(route, scope, entry)


CACHE = SemanticCache()


def register() -> None:
    """The answer cache and the pruning of its expired entries, from ``Unit.register``."""
    hooks.answer_caches.register(CACHE)
    hooks.pruners.register(store.prune)
