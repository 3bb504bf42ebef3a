"""The writer's side of request bodies stored once: a batch's parts written if absent.

``rows.body_values`` splits each request body it stores (``gateway.base.body_parts``)
and hands the split here (``Parts.add``); in ``sql.write_batch``'s transaction, for the
batch (its start time ``start`` read before anything else):

1. ``write``: each part not known to be stored with ``seen`` at least ``start -
   TOUCH_SECONDS`` (``_known``: what this process wrote or found within half a day) is
   upserted, one statement a part in hash order (two writers' batches meet no
   deadlock): inserted if absent, its ``seen`` set to ``start`` if older than ``start -
   TOUCH_SECONDS / 2``, else left alone. A stored part is never rewritten, and its
   ``seen`` at most twice a day; after the statement its ``seen`` is at least ``start -
   TOUCH_SECONDS / 2`` (the fence's rule 1, ``gateway.models.body_blobs``).
2. ``within_fence`` (before the commit): a batch that took longer than
   ``WRITE_WITHIN_SECONDS`` from its start raises ``TimeoutError`` (rolled back, then
   retried by the writer as for a database that stalls).
3. ``remember`` (after the commit): the parts written are known, with ``seen`` at least
   ``start - TOUCH_SECONDS / 2``: not upserted again for half a day.

No lookup before the upsert: a part this process has not seen is upserted (on SQLite a
conflict that changes nothing writes nothing; on PostgreSQL it locks the row), which
costs less than a query a batch to ask which parts exist.

``forget`` clears what is known: when the writer loses its connection (a failover may
have lost the last commits) and between tests that empty the database."""

from __future__ import annotations

import threading
import time
from itertools import compress, islice, repeat
from operator import attrgetter

from django.db import connection as db_connection

from gateway.base.body_parts import Node, Split
from gateway.models.body_blobs import TOUCH_SECONDS, WRITE_WITHIN_SECONDS, BodyBlob

clock = time.time  # the writer's clock (the fence is in its seconds; tests move it)
KNOWN_MAX = 50_000  # parts remembered (about 6 MB): the nodes of 150 long sessions

# hash -> a lower bound of its stored ``seen`` (true while it is stored: the fence), in
# the order last confirmed (the oldest forgotten first); shared by a process's writers
_known: dict[str, int] = {}
_lock = threading.Lock()


def forget() -> None:
    with _lock:
        _known.clear()


def known() -> int:
    """How many parts this process remembers (for tests and the bench)."""
    return len(_known)


class Parts:
    """The parts one batch names, and what it takes to store them."""

    __slots__ = ("start", "nodes", "written")

    def __init__(self, start: float | None = None) -> None:
        self.start = clock() if start is None else start  # (read before anything else)
        self.nodes: dict[str, Node] = {}
        self.written: list[str] = []  # what ``write`` upserted

    def add(self, split: Split) -> None:
        """Name ``split``'s nodes (a hash is one node, its content after its prefix: the
        one named first is kept). Each reference's chain is named from its first node
        the batch does not name yet: a node's hash is that of its content after its
        prefix, and every split names its chains whole, so a batch that names a node
        names every node before it. An agent's records in one batch repeat one
        conversation (about 220 nodes a body: 10 us a body named again) and add a
        turn's few new messages; the first absent node is found by bisection."""
        nodes, named = self.nodes, split.nodes
        counts = [ref[1] if len(ref) == 2 else 1 for ref in split.refs.values()]
        if sum(counts) != len(named):  # (never from ``split``: named node by node)
            nodes.update(zip(map(attrgetter("hash"), named), named, strict=True))
            return
        end = 0
        for count in counts:
            start, end = end, end + count
            if named[end - 1].hash in nodes:
                continue  # (the whole chain)
            low, high = start, end - 1  # named[high] is not named yet
            while low < high:
                middle = (low + high) // 2
                if named[middle].hash in nodes:
                    low = middle + 1
                else:
                    high = middle
            chain = named[low:end]
            nodes.update(zip(map(attrgetter("hash"), chain), chain, strict=True))

    def write(self) -> None:
        """Upsert the parts not known to be stored recently enough (step 1)."""
        fresh_from = int(self.start) - TOUCH_SECONDS
        with _lock:  # (those whose known ``seen``, or fresh_from - 1, is below fresh_from)
            seen = map(_known.get, self.nodes, repeat(fresh_from - 1))
            pending = sorted(compress(self.nodes, map(fresh_from.__gt__, seen)))
        self.written = pending
        if not pending:
            return
        quote = db_connection.ops.quote_name
        table = quote(BodyBlob._meta.db_table)
        key, parent, seen, data = (quote(c) for c in ("hash", "parent", "seen", "data"))
        sql = (
            f"INSERT INTO {table} ({key}, {parent}, {seen}, {data}) VALUES (%s, %s, %s, %s) "
            f"ON CONFLICT ({key}) DO UPDATE SET {seen} = excluded.{seen} "
            f"WHERE {table}.{seen} < excluded.{seen} - {TOUCH_SECONDS // 2}"
        )
        stamp = int(self.start)
        rows = [(h, self.nodes[h].parent, stamp, self.nodes[h].data.decode()) for h in pending]
        with db_connection.cursor() as cursor, db_connection.wrap_database_errors:
            cursor.executemany(sql, rows)

    def within_fence(self) -> None:
        """Raise ``TimeoutError`` when the batch is past ``WRITE_WITHIN_SECONDS`` (step 2)."""
        if self.nodes and clock() - self.start > WRITE_WITHIN_SECONDS:
            raise TimeoutError(
                f"journal batch took over {WRITE_WITHIN_SECONDS} s to write: "
                "rolled back (its body parts may have been pruned meanwhile)"
            )

    def remember(self) -> None:
        """After the commit: the parts written are stored with ``seen`` at least half a
        day before the batch's start (step 3)."""
        floor = int(self.start) - TOUCH_SECONDS // 2
        with _lock:
            for key in self.written:
                _known.pop(key, None)
                _known[key] = floor
            excess = len(_known) - KNOWN_MAX
            if excess > 0:
                for key in list(islice(_known, excess)):
                    del _known[key]
