"""Request journal: one Record per request, taken without waiting and written to
RequestLog/RequestBody in batches by a background task.

The request path only calls ``record(rec)``: it appends to an in-memory queue bounded
by records (``SWITCHYARD_JOURNAL_QUEUE_SIZE``) and bytes (``SWITCHYARD_JOURNAL_MAX_BYTES``)
and tells the subscribers (``subscribe``: the metrics, wired by the app's ``ready``).
The HTTP edge holds a request's records until its reply is written (``held_until_written``):
completing them (``when_written``: ``Call.finish``'s work), queueing and the subscribers
then run while the client reads, not before it can.
``drain()`` writes everything left at shutdown; the writer also prunes rows older than
``SWITCHYARD_LOG_RETENTION_DAYS`` every hour in small batches (and hourly rollups,
``gateway.telemetry.rollups``, past their own longer retention).

One module per job: ``record`` (what is journaled), ``rows`` (records as column
values, redacted by ``gateway.telemetry.redaction``, request bodies split into an envelope
and parts stored once), ``blobs`` (those parts written if absent), ``sql`` (the
multi-row INSERTs of a batch), ``pruning`` (retention), ``background`` (the bounded
queue and its writer task) and ``spool`` (queued bodies on disk while the writer lags).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from gateway.journal.background import DRAIN_SECONDS, LOG_TAIL_GROUP, Writer, admit
from gateway.journal.pruning import PRUNE_BATCH, prune, prune_parts
from gateway.journal.record import Attempt, Record
from gateway.journal.rows import body_text, body_values, log_values
from gateway.journal.sql import write_batch

__all__ = [
    "DRAIN_SECONDS",
    "LOG_TAIL_GROUP",
    "PRUNE_BATCH",
    "Attempt",
    "Record",
    "Writer",
    "admit",
    "body_text",
    "body_values",
    "drain",
    "held_until_written",
    "log_values",
    "prune",
    "prune_parts",
    "record",
    "start",
    "stats",
    "subscribe",
    "unsubscribe",
    "when_written",
    "write_batch",
    "writer",
]

log = logging.getLogger(__name__)

_writer: Writer | None = None
# Called with every record handed to the journal, on the request path (keep them cheap).
# The journal imports none of its subscribers: they register here.
_subscribers: list[Callable[[Record], None]] = []


def subscribe(observer: Callable[[Record], None]) -> None:
    """Call ``observer(record)`` for every record from now on (once, however often
    subscribed). An observer that raises is logged; the request never sees it."""
    if observer not in _subscribers:
        _subscribers.append(observer)


def unsubscribe(observer: Callable[[Record], None]) -> None:
    if observer in _subscribers:
        _subscribers.remove(observer)


def writer() -> Writer:
    global _writer
    if _writer is None:
        _writer = Writer()
    return _writer


class _Held:
    """Records of one request kept back until its reply is written, and the work that
    completes them (``held_until_written``, ``when_written``)."""

    __slots__ = ("records", "after", "open")

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.after: list[Callable[[], None]] = []
        self.open = True


# The request whose records wait (a context variable: a task the request starts copies
# it, and a record it makes after the reply was written goes on at once).
_held: ContextVar[_Held | None] = ContextVar("journal_held", default=None)


@contextmanager
def held_until_written() -> Iterator[None]:
    """Hold the records made inside this block, and hand them on when it ends (the
    reply written, or the request failed or cancelled: never lost). For the HTTP edge:
    a record's queueing and its subscribers (metrics) cost a reply nothing at c=1,
    where every microsecond before the last byte is the client's."""
    held = _Held()
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        held.open = False
        # A task or timer started inside the block keeps a copy of its context, and so
        # this object, for as long as it lives (a pooled connection's, a flush's): it
        # must not keep the request's records and calls, their bodies, alive with it.
        records, after = held.records, held.after
        held.records, held.after = [], []
        for entry in records:
            _hand_on(entry)
        for work in after:
            try:
                work()
            except Exception:
                log.exception("journal: completing a request's record failed")


def when_written(work: Callable[[], None]) -> None:
    """Run ``work`` (completing a record, which it then hands on) once the reply is
    written, inside ``held_until_written``; anywhere else at once."""
    held = _held.get()
    if held is not None and held.open:
        held.after.append(work)
        return
    work()


def record(entry: Record) -> None:
    """Hand one record to the journal without waiting (never raises, never blocks)."""
    held = _held.get()
    if held is not None and held.open:
        held.records.append(entry)
        return
    _hand_on(entry)


def _hand_on(entry: Record) -> None:
    try:
        writer().record(entry)
    except Exception:
        log.exception("journal: could not queue record %s", getattr(entry, "request_id", "?"))
    for observer in _subscribers:
        try:
            observer(entry)
        except Exception:
            log.exception("journal: subscriber %r failed", observer)


async def start() -> None:
    await writer().start()


async def written(request_ids: Iterable[str], within: float = 10.0) -> bool:
    """Wait until this process's journal has written the records of ``request_ids`` (or
    ``within`` seconds pass): for a link to a request made here a moment ago, such as a
    judge's call from a score. Records never handed to the writer count as written."""
    wanted = set(request_ids)
    if not wanted or _writer is None:
        return True
    return await _writer.settled(wanted, within)


async def drain(within: float = DRAIN_SECONDS) -> None:
    """Write what is queued before the process exits (graceful shutdown)."""
    await writer().drain(within)


async def drain_at_shutdown() -> None:
    """At shutdown (``hooks.drainers``, registered in GatewayConfig.ready): ``drain``
    with its default deadline, looked up when called (tests replace it)."""
    await drain()


def stats() -> dict[str, int]:
    return (
        writer().stats()
        if _writer is not None
        else {
            "queued": 0,
            "queued_bytes": 0,
            "written": 0,
            "dropped": 0,
            "bodies_shed": 0,
            "failures": 0,
            "pruned": 0,
            "spooled": 0,
            "spooled_bytes": 0,
        }
    )
