"""``BodyBlob``: the parts of logged request bodies, each stored once, and how a loaded
``RequestBody`` gets its bodies back whole (``gateway.base.body_parts`` says what a part
is; the journal's writer, ``gateway.journal.blobs``, writes them).

**Reading.** A body row names its parts in ``RequestBody.parts``; ``nodes_of`` reads
every node a set of references reaches with one recursive query (each list walked from
its tip through its parents, shared prefixes read once), and ``join_into`` puts the
joined texts in place of the envelopes, so every reader of the ORM sees the text that
was stored whole before (``RequestBody.from_db``). ``logs_holding`` is the log search's
side of it: which of some bodies' parts hold a text.

**The fence: why pruning never deletes a part a log still names.** Parts carry no
reference count (that would rewrite the system prompt's row on every request, a hot row
under every writer's lock) and no row per reference (a body names one tip a list, but
its ancestors are named by nothing of its own). Instead each part records ``seen``,
epoch seconds, and two rules hold:

1. *The writer*: a batch names a part only after making sure, at its start time ``T``
   (its clock, read before anything else), that the part's ``seen`` is at least
   ``T - TOUCH_SECONDS``: known so from what it stored itself within half a day, or made
   so in the batch's own transaction (an upsert that inserts the part, re-creating one
   deleted meanwhile, or brings its ``seen`` to ``T`` when older than half a day:
   ``gateway.journal.blobs``). A batch commits within ``WRITE_WITHIN_SECONDS`` of ``T``
   or rolls back and is retried. Every log it writes was created at or before ``T``,
   so each part a log names has ``seen >= created_at - TOUCH_SECONDS``, and ``seen``
   only grows.
2. *The pruner* deletes only parts with ``seen`` below ``prune_bound``: the older of
   the oldest log's ``created_at`` and its own clock, less ``TOUCH_SECONDS`` and
   ``FENCE_MARGIN_SECONDS``; the condition is checked again in the DELETE itself.

So a log that named a pruned part would be older than the oldest log. And a part a
batch is about to name (``seen`` at least ``T - TOUCH``, the batch still open) can be
deleted only by a pruner whose clock reads past ``T + FENCE_MARGIN_SECONDS``: the batch
would have outlived ``WRITE_WITHIN_SECONDS``, or the two hosts' clocks differ by more
than the fifty minutes between the two. No lock is shared: SQLite serialises the two
transactions anyway, and on PostgreSQL a DELETE that meets a part a batch has just
upserted waits for that batch and re-reads ``seen`` before deleting (READ COMMITTED;
``tests/integration/test_body_parts_postgres.py``), while an upsert that meets a part
being deleted waits and inserts it again. The price: a part outlives the last log
naming it by up to a day and an hour.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator, Mapping, MutableMapping
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, connections, models

from gateway.base import body_parts

TOUCH_SECONDS = 24 * 3600  # a part's ``seen`` is brought forward once it is this old
FENCE_MARGIN_SECONDS = 3600  # the pruner's bound lies this much further back
WRITE_WITHIN_SECONDS = 600  # a batch that names parts commits within this of its start
# the bodies split into parts (the answers are new text every turn: stored whole)
SPLIT_FIELDS = ("inbound_request", "upstream_request")
WALK_CHUNK = 500  # tips a query starts from


class HashField(models.CharField):
    """A part's hash, hex: ``char(32)``, for which PostgreSQL adds no second index for
    LIKE patterns to the key's own (as it does for a ``varchar`` key)."""

    def db_type(self, connection: Any) -> str:
        return f"char({self.max_length})"


class BodyBlob(models.Model):
    """One part of logged request bodies, stored once (``gateway.base.body_parts``):
    a message after the prefix it follows, a tool, a system prompt."""

    hash = HashField(max_length=body_parts.HASH_CHARS, primary_key=True)
    # the element before this one in its list (None: first of its list, or one value)
    parent = HashField(max_length=body_parts.HASH_CHARS, null=True, blank=True)
    # epoch seconds: the last time (to within TOUCH_SECONDS) a log named it (the fence)
    seen = models.BigIntegerField()
    data = models.TextField()  # canonical JSON (compact orjson), redacted

    class Meta:
        indexes = [models.Index(fields=["seen"], name="bodyblob_seen")]

    def __str__(self) -> str:
        return f"body part {self.hash}"


def refs_of(parts: str | None) -> dict[str, dict[str, body_parts.Ref]]:
    """``RequestBody.parts`` read: field -> key -> reference."""
    if not parts:
        return {}
    found: dict[str, dict[str, body_parts.Ref]] = orjson.loads(parts)
    return found


def _walk_sql(using: str, count: int, with_data: bool) -> str:
    """Every node reachable from ``count`` tips through their parents (each once)."""
    quote = connections[using].ops.quote_name
    table, key, parent = quote(BodyBlob._meta.db_table), quote("hash"), quote("parent")
    picked = f"{key}, {parent}, {quote('data')}" if with_data else f"{key}, {parent}"
    marks = ", ".join(["%s"] * count)
    return (
        f"WITH RECURSIVE chain(h) AS ("
        f"SELECT {key} FROM {table} WHERE {key} IN ({marks}) "
        f"UNION SELECT b.{parent} FROM {table} b JOIN chain c ON b.{key} = c.h "
        f"WHERE b.{parent} IS NOT NULL) "
        f"SELECT {picked} FROM {table} WHERE {key} IN (SELECT h FROM chain)"
    )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def nodes_of(
    tips: Iterable[str], using: str = DEFAULT_DB_ALIAS
) -> dict[str, tuple[str | None, str]]:
    """Every stored node the lists ending at ``tips`` (and the values named by them)
    are made of: hash -> (parent, data). One query per ``WALK_CHUNK`` tips."""
    wanted = sorted(set(tips))
    found: dict[str, tuple[str | None, str]] = {}
    with connections[using].cursor() as cursor:
        for chunk in _chunks(wanted, WALK_CHUNK):
            cursor.execute(_walk_sql(using, len(chunk), with_data=True), chunk)
            for key, parent, data in cursor.fetchall():
                found[key] = (parent, data)
    return found


def join_into(fields: MutableMapping[str, Any], parts: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """Put the whole bodies in place of the envelopes among ``fields`` (a loaded
    ``RequestBody``'s attributes) that ``parts`` names. A part not stored (never
    expected, see the fence) shows ``body_parts.MISSING`` in its place."""
    refs = {
        name: by_key for name, by_key in refs_of(parts).items() if isinstance(fields.get(name), str)
    }
    if not refs:
        return
    nodes = nodes_of((tip for by_key in refs.values() for tip in body_parts.tips(by_key)), using)
    for name, by_key in refs.items():
        fields[name] = body_parts.join_or_mark(fields[name], by_key, nodes)


def logs_holding(
    text: str,
    parts_by_log: Mapping[int, str],
    fields: Collection[str],
    using: str = DEFAULT_DB_ALIAS,
) -> set[int]:
    """The logs among ``parts_by_log`` (log id -> ``RequestBody.parts``) one of whose
    ``fields`` holds ``text`` in a part (case-insensitively, as ``icontains``): each
    node shared by many bodies is searched once, and a body holds what any node of its
    lists holds. (The envelope is the log query's to search, as any stored body.)"""
    tips_by_log: dict[int, list[str]] = {}
    for log_id, parts in parts_by_log.items():
        tips = [
            tip
            for name, by_key in refs_of(parts).items()
            if name in fields
            for tip in body_parts.tips(by_key)
        ]
        if tips:
            tips_by_log[log_id] = tips
    if not tips_by_log:
        return set()
    parents: dict[str, str | None] = {}
    wanted = sorted({tip for tips in tips_by_log.values() for tip in tips})
    with connections[using].cursor() as cursor:
        for chunk in _chunks(wanted, WALK_CHUNK):
            cursor.execute(_walk_sql(using, len(chunk), with_data=False), chunk)
            parents.update(cursor.fetchall())
    hits: set[str] = set()
    every = sorted(parents)
    for chunk in _chunks(every, 2000):
        hits.update(
            BodyBlob.objects.using(using)
            .filter(hash__in=chunk, data__icontains=text)
            .values_list("hash", flat=True)
        )
    if not hits:
        return set()
    holds: dict[str | None, bool] = {None: False}

    def holding(node: str | None) -> bool:
        path: list[str | None] = []
        while node not in holds:
            assert node is not None  # (None is in ``holds``)
            if node in hits:
                holds[node] = True
                break
            path.append(node)
            node = parents.get(node)
        answer = holds[node]
        for seen in path:
            holds[seen] = answer
        return answer

    return {log_id for log_id, tips in tips_by_log.items() if any(map(holding, tips))}


def prune_bound(oldest_log: float | None, now: float | None = None) -> int:
    """The ``seen`` below which parts may be deleted (the fence, rule 2): the older of
    the oldest log's creation (epoch seconds; None without logs) and now, less
    ``TOUCH_SECONDS`` and ``FENCE_MARGIN_SECONDS``."""
    now = time.time() if now is None else now
    start = now if oldest_log is None else min(oldest_log, now)
    return int(start) - TOUCH_SECONDS - FENCE_MARGIN_SECONDS
