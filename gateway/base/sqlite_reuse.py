"""SQLite connections kept open for the next unit of work in the same process.

Django opens a connection per thread and closes it at the end of each request
(``CONN_MAX_AGE`` 0); Django's ASGI handler runs each request's sync code in a new
thread, so persistent connections (``CONN_MAX_AGE`` > 0) would stay with threads that
are gone (tried: 80 open files after 500 requests). Opening one is cheap, but its first
statement parses the whole schema: ~2 ms of CPU per connection on the gateway's
schema, a large part of a management API request (15-30 ms).

``connect`` is the ``factory`` sqlite3 calls (``DATABASES[...]["OPTIONS"]``): it hands
out an idle connection to the same file when there is one, and a connection's
``close`` (Django's, at the end of a request) puts it back, its transaction rolled
back, unless ``IDLE_LIMIT`` wait already; so no more connections are open than before,
only some for longer. In-memory and URI databases are never shared, nor a connection
after a fork (the child drops the parent's), nor one to a file since replaced (the
pool is keyed by the file's device and inode).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

IDLE_LIMIT = 4  # idle connections kept per database file and process

_lock = threading.Lock()
_idle: dict[tuple[str, int, int], list[ReusedConnection]] = {}
_abandoned: list[Any] = []  # a parent's connections, never closed in a child


def _file_key(database: Any) -> tuple[str, int, int] | None:
    """The pool a database belongs to: a plain file that exists (not ``:memory:``,
    not a ``file:`` URI, whose query may ask for memory or shared cache)."""
    name = os.fspath(database) if isinstance(database, str | os.PathLike) else ""
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    try:
        found = os.stat(name)
    except OSError:
        return None
    return (name, found.st_dev, found.st_ino)


class ReusedConnection(sqlite3.Connection):
    """A connection whose ``close`` returns it to the process's idle connections."""

    database: Any = None
    pool_key: tuple[str, int, int] | None = None

    def close(self) -> None:
        # a file its first connection created: known from now on
        key = self.pool_key or _file_key(self.database)
        if key is not None:
            try:
                if self.in_transaction:
                    self.rollback()
                with _lock:
                    idle = _idle.setdefault(key, [])
                    if len(idle) < IDLE_LIMIT and self not in idle:
                        idle.append(self)
                        return
            except sqlite3.Error:
                pass  # a broken one is closed for good below
        self.really_close()

    def really_close(self) -> None:
        super().close()


def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
    """An idle connection to ``database``'s file if there is one, else a new one."""
    key = _file_key(database)
    if key is not None:
        with _lock:
            idle = _idle.get(key)
            if idle:
                return idle.pop()
    connection = ReusedConnection(database, *args, **kwargs)
    connection.database, connection.pool_key = database, key
    return connection


def close_idle() -> None:
    """Close every idle connection (a test that removes the files, a shutdown)."""
    with _lock:
        idle = [connection for pool in _idle.values() for connection in pool]
        _idle.clear()
    for connection in idle:
        connection.really_close()


def _forget_after_fork() -> None:
    """A forked child must not use its parent's SQLite connections, nor close them."""
    global _lock
    _abandoned.extend(_idle.values())
    _idle.clear()
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
