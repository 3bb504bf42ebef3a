"""Database work done outside a request (background loops, worker threads): each unit
of work gets a usable connection and gives it back, and an outage is logged once.

Django applies its connection rules (discard a broken connection, close one past
CONN_MAX_AGE, return a pooled one) only around requests. A thread that queried in a
loop kept its first connection for good: after PostgreSQL restarted every query of the
registry watcher failed with "the connection is closed" until the process restarted.
``run`` applies those rules before and after each unit, so a restart costs a loop the
ticks while the database is away and nothing after. ``delete_in_batches`` is the
retention pruning of every table that has one (logs, rollups, audit events, stored
responses): short transactions, one batch each."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T")


def _unavailable() -> tuple[type[Exception], ...]:
    """The errors that mean the database went away. ``django.db`` is imported when work
    runs, not with this module: the registry imports it, and providers (which read the
    registry's entries) must load no ORM."""
    from django.db import InterfaceError, OperationalError

    return (OperationalError, InterfaceError)


def _tidy() -> None:
    """Django's end-of-request rules for this thread's connections: a broken one is
    closed, one past its age closed, a pooled one handed back (the pool checks it before
    giving it out again); a persistent PostgreSQL one is pinged before its next use."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is None or conn.in_atomic_block:
            continue
        if conn.vendor == "sqlite":
            # a file, never restarted; reopening it for every tick would cost a connect
            # and its PRAGMAs (CONN_MAX_AGE is 0 there), so only a failed one goes
            if conn.errors_occurred and not conn.is_usable():
                conn.close()
            continue
        conn.close_if_unusable_or_obsolete()


def _discard() -> None:
    """After an outage error: drop this thread's connections, and the pool's idle ones
    that died with the server (else each costs a later checkout a check and a pause)."""
    from django.db import DatabaseError, connections

    for conn in connections.all(initialized_only=True):
        try:
            conn.close()
        except DatabaseError:
            conn.connection = None  # already gone with the server
        pool = getattr(conn, "pool", None) if conn.vendor == "postgresql" else None
        if pool is not None:
            with contextlib.suppress(Exception):  # still away: the next tick retries
                pool.check()


def run(fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn(*args)`` (sync, in the calling thread) with a usable connection, and
    give the connection back after."""
    _tidy()
    try:
        return fn(*args)
    except _unavailable():
        _discard()
        raise
    finally:
        _tidy()


async def arun(fn: Callable[..., T], *args: Any) -> T:
    """``run`` in a worker thread (never on the event loop)."""
    from asgiref.sync import sync_to_async

    return await sync_to_async(run, thread_sensitive=False)(fn, *args)


class Outage:
    """Logs a loop's failures once per outage and one line when it is over, instead
    of a warning per failed tick."""

    def __init__(self, what: str, logger: logging.Logger, service: str = "database") -> None:
        self.what = what
        self.service = service
        self.log = logger
        self.since: float | None = None
        self.failures = 0

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            self.log.warning(
                "%s: %s unavailable (%s: %s); retrying until it is back",
                self.what,
                self.service,
                type(exc).__name__,
                str(exc).strip().splitlines()[0] if str(exc).strip() else "",
            )
        else:
            self.log.debug("%s: %s still unavailable: %s", self.what, self.service, exc)

    def recovered(self) -> None:
        if self.since is None:
            return
        took = time.monotonic() - self.since
        self.since = None
        self.log.info("%s: %s reachable again after %.1fs", self.what, self.service, took)

    async def attempt(self, work: Callable[[], Awaitable[T]]) -> T | None:
        """``await work()``: its failure a failure of this outage (logged once), its
        success the end of it; None when it failed. A cancellation goes through."""
        try:
            done = await work()
        except Exception as exc:
            self.failed(exc)
            return None
        self.recovered()
        return done


def close_all() -> None:
    """Close this process's connections and connection pools: the supervisor of
    ``serve --workers N`` after migrating (it serves nothing; each worker has its own)."""
    from django.db import connections

    connections.close_all()
    for conn in connections.all():
        if conn.vendor == "postgresql" and conn.settings_dict["OPTIONS"].get("pool"):
            conn.close_pool()


def delete_older(
    rows: Any,
    older_than: timedelta,
    batch_size: int,
    max_batches: int | None = None,
    delete: Callable[[list[Any]], object] | None = None,
) -> int:
    """``delete_in_batches`` of the rows of ``rows`` (a queryset or a manager) created
    more than ``older_than`` ago (by their ``created_at``): a retention's pruning."""
    old = rows.filter(created_at__lt=datetime.now(UTC) - older_than)
    return delete_in_batches(old, batch_size, max_batches, delete)


def delete_in_batches(
    rows: Any,
    batch_size: int,
    max_batches: int | None = None,
    delete: Callable[[list[Any]], object] | None = None,
) -> int:
    """Delete the rows of the queryset ``rows`` (retention pruning), ``batch_size`` ids at
    a time and at most ``max_batches`` batches, each batch its own short transaction (no
    long lock on a busy table); ``delete(ids)`` deletes one batch when more goes with the
    rows (default: the rows with those ids). Returns rows deleted."""
    from django.db import transaction

    deleted = batches = 0
    while max_batches is None or batches < max_batches:
        ids = list(rows.order_by().values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        with transaction.atomic():
            if delete is None:
                rows.model._default_manager.filter(pk__in=ids).delete()
            else:
                delete(ids)
        deleted += len(ids)
        batches += 1
    return deleted
