"""The console's heavy reads on a read replica (``DATABASE_REPLICA_URL``), everything else
on the primary.

What goes to the replica is narrow on purpose, both ways at once:

- only reads of the journal's tables (``REPLICA_MODELS``: request logs and their
  bodies, the usage and spend rollups, audit events): rows the console only reads,
  written once by the journal, where a replica's lag of a second means a dashboard or a
  search a second behind and nothing worse. Sessions, users, keys and the registry
  stay on the primary: a session read from a lagging replica right after sign-in would
  sign the user out, a key read from it could hide one just made;
- only while ``console_reads()`` is in force: the console's middleware sets it for the
  GET and HEAD requests of its pages and of ``/api`` (dashboard, log search, exports,
  usage and spend pages). The gateway's own reads of those tables (the batch runner,
  stored Responses, retention) never see the replica, so nothing the request path or a
  background job decides rests on a lagging copy.

Without ``DATABASE_REPLICA_URL`` there is no ``replica`` alias and the router answers
None (Django's default: the primary) for everything. Raw SQL of a console read takes
its connection from the queryset (``connections[queryset.db]``), so it follows the
same decision."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from gateway.base.scoped import scoped

REPLICA = "replica"
# app_label.ModelName of the tables the console may read from the replica.
REPLICA_MODELS = frozenset(
    {
        "gateway.RequestLog",
        "gateway.RequestBody",
        "gateway.BodyBlob",
        "gateway.UsageRollup",
        "gateway.SpendRollup",
        "gateway.AuditEvent",
    }
)
_console_reads: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "switchyard_console_reads", default=False
)


def console_reads() -> contextlib.AbstractContextManager[None]:
    """Within: reads of ``REPLICA_MODELS`` go to the replica (when there is one)."""
    return scoped(_console_reads, True)


class ReplicaRouter:
    """Django database router (``settings.DATABASE_ROUTERS``)."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        if _console_reads.get() and model._meta.label in REPLICA_MODELS and REPLICA in _databases():
            return REPLICA
        return None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # the replica holds the primary's rows: one database, two doors

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        # the replica's schema arrives by replication; ``migrate --database replica``
        # stays possible for a stand-in (tests, a local copy)
        return None


def _databases() -> dict[str, Any]:
    from django.conf import settings

    databases: dict[str, Any] = settings.DATABASES
    return databases


# Which requests read for the console: its pages and /api (not /admin, whose reads may
# precede the write of the same form).
READ_METHODS = frozenset({"GET", "HEAD"})


def console_reads_middleware(
    get_response: Callable[[Any], Any],
) -> Callable[[Any], Any]:
    """Django middleware: a GET or HEAD of the console or ``/api`` runs under
    ``console_reads()``. Sync and async (the console's views are both)."""
    if iscoroutinefunction(get_response):

        async def middleware(request: Any) -> Any:
            if not _reads_for_console(request):
                return await get_response(request)
            with console_reads():
                pending: Awaitable[Any] = get_response(request)
                return _stream_reading(await pending)

        markcoroutinefunction(middleware)
        return middleware

    def sync_middleware(request: Any) -> Any:
        if not _reads_for_console(request):
            return get_response(request)
        with console_reads():
            return _stream_reading(get_response(request))

    return sync_middleware


def _stream_reading(response: Any) -> Any:
    """An export streams after the view returned: its rows are read under the rule too."""
    if getattr(response, "streaming", False) and not getattr(response, "is_async", True):
        response.streaming_content = _reading(iter(response.streaming_content))
    return response


def _reading(rows: Iterator[Any]) -> Iterator[Any]:
    """``rows``, each taken under ``console_reads()`` (set and reset within one
    ``next``: the server may take each from another thread and context)."""
    while True:
        with console_reads():
            try:
                row = next(rows)
            except StopIteration:
                return
        yield row


console_reads_middleware.sync_capable = True  # type: ignore[attr-defined]
console_reads_middleware.async_capable = True  # type: ignore[attr-defined]


def _reads_for_console(request: Any) -> bool:
    path: str = request.path
    return request.method in READ_METHODS and not path.startswith(("/admin/", "/health"))
