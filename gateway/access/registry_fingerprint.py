"""The registry tables' fingerprint, for changes no signal announced (PostgreSQL).

A change saved through the ORM bumps the registry version (``gateway.access.signals``), which
every process polls (``registry.watch``). A change made another way (SQL in ``psql``, a
migration's data step, a queryset ``.update()``, a restore) bumps nothing, so no process
would see it until the next announced change. On PostgreSQL every row version carries
the transaction that wrote it (``xmin``): the fingerprint is, per registry table (the
models ``gateway.access.signals`` watches and their many-to-many tables, handed over with
``track``), the row count and the sum of a 64-bit hash of each row's id and ``xmin``,
read in one query off the request path. Any insert, update or delete changes it (a
collision is about 2^-64 per change); a table rewritten by ``VACUUM FULL`` may change
it without a change of content, which costs one needless rebuild. ``updated_at`` would
not do: ``.update()`` and plain SQL leave it alone.

``registry.rebuild`` reads the fingerprint before reading the tables and keeps it with
the snapshot, and ``registry.watch_fingerprint`` compares it every
``SWITCHYARD_REGISTRY_FINGERPRINT_SECONDS`` (default 5; 0: off): a change committed
while a snapshot was being built shows on the next check, one committed before is in
the snapshot. Other databases have no ``xmin``: there ``read`` answers None and the
check does not run (on SQLite an unannounced change still waits for the next announced
one, as it always did)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings

_tables: list[str] = []


def track(models: Iterable[Any]) -> None:
    """Watch ``models``' tables and their many-to-many tables (``gateway.access.signals``
    declares which models make the registry; it calls this once at start-up)."""
    for model in models:
        names = [model._meta.db_table]
        names += [f.remote_field.through._meta.db_table for f in model._meta.many_to_many]
        _tables.extend(name for name in names if name not in _tables)


def enabled() -> bool:
    """Whether this process checks (a positive interval, PostgreSQL, a table to watch)."""
    from django.db import connection

    seconds = getattr(settings, "SWITCHYARD_REGISTRY_FINGERPRINT_SECONDS", 0)
    return bool(seconds and seconds > 0 and _tables and connection.vendor == "postgresql")


def _query(quote: Any) -> str:
    parts = [
        f"SELECT {n}, count(*), coalesce(sum(hashtextextended(id::text || ':' || xmin::text, 0)), 0)"
        f" FROM {quote(table)}"
        for n, table in enumerate(_tables)
    ]
    return " UNION ALL ".join(parts) + " ORDER BY 1"


def read() -> str | None:
    """The fingerprint now (sync: a worker thread, through ``db_work``), None where it
    is not checked."""
    if not enabled():
        return None
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_query(connection.ops.quote_name))
        rows = cursor.fetchall()
    return ";".join(f"{count}:{total}" for _, count, total in rows)
