"""A closed SQLite connection is kept for the next one to the same file, and only then
(gateway.base.sqlite_reuse): never an in-memory one, never one to a file since replaced,
never with its transaction still open, never more than IDLE_LIMIT idle."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.base import sqlite_reuse


@pytest.fixture(autouse=True)
def no_idle_connections() -> Iterator[None]:
    sqlite_reuse.close_idle()
    yield
    sqlite_reuse.close_idle()


def _open(database: str) -> sqlite3.Connection:
    return sqlite3.connect(database, uri=True, factory=sqlite_reuse.connect)


def test_a_closed_connection_serves_the_next_one_to_the_file(tmp_path: Path) -> None:
    database = str(tmp_path / "db.sqlite3")
    first = _open(database)
    first.execute("CREATE TABLE t (a)")
    first.close()
    second = _open(database)
    assert second is first
    assert second.execute("SELECT count(*) FROM t").fetchone() == (0,)
    second.close()


def test_an_open_transaction_is_rolled_back_before_reuse(tmp_path: Path) -> None:
    database = str(tmp_path / "db.sqlite3")
    first = _open(database)
    first.execute("CREATE TABLE t (a)")
    first.execute("BEGIN")
    first.execute("INSERT INTO t VALUES (1)")
    first.close()
    again = _open(database)
    assert not again.in_transaction
    assert again.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_memory_and_uri_databases_are_never_kept() -> None:
    for database in (":memory:", "file:shared_memory?mode=memory&cache=shared"):
        first = _open(database)
        first.close()
        with pytest.raises(sqlite3.ProgrammingError):  # really closed
            first.execute("SELECT 1")
        assert _open(database) is not first


def test_a_replaced_file_gets_a_new_connection(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    first = _open(str(database))
    first.execute("CREATE TABLE t (a)")
    keep = tmp_path / "keep"  # holds the old inode so the new file cannot reuse it
    database.rename(keep)
    first.close()
    assert _open(str(database)) is not first


def test_no_more_than_the_limit_stay_idle(tmp_path: Path) -> None:
    database = str(tmp_path / "db.sqlite3")
    _open(database).close()
    opened = [_open(database) for _ in range(sqlite_reuse.IDLE_LIMIT + 2)]
    for connection in opened:
        connection.close()
    closed = 0
    for connection in opened:
        try:
            connection.execute("SELECT 1")
        except sqlite3.ProgrammingError:
            closed += 1
    assert closed == 2


def test_a_forked_child_opens_its_own_and_never_closes_the_parents(tmp_path: Path) -> None:
    """A child of a fork (the command server's children, a worker's) must not share its
    parent's SQLite connections: it gets a new one, and the parent's still works."""
    import os

    database = str(tmp_path / "db.sqlite3")
    parent = _open(database)
    parent.execute("CREATE TABLE t (a)")
    parent.close()  # idle in the parent's pool
    pid = os.fork()
    if pid == 0:  # the child
        child = _open(database)
        child.close()
        os._exit(0 if child is not parent else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _open(database) is parent
    assert parent.execute("SELECT count(*) FROM t").fetchone() == (0,)
