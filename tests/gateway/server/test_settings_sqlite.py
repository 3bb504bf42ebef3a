"""A SQLite file is set up one way however it is named (#61): ``DATABASE_URL=sqlite:///...``
gets the lock timeout, ``BEGIN IMMEDIATE`` and WAL of the default file in the data folder,
so a second writer queues for the lock instead of one answering 500 "database is locked"."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import ConnectionHandler

from gateway.server import settings as gateway_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(gateway_settings, "DATA_DIR", tmp_path / "data")
    return monkeypatch


def test_a_named_sqlite_file_is_set_up_as_the_default_one(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    default = gateway_settings._database()
    # the control: the default file queues its writers (timeout, IMMEDIATE, WAL)
    assert default["OPTIONS"]["timeout"] == 20
    assert default["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in default["OPTIONS"]["init_command"]
    named = tmp_path / "elsewhere" / "gateway.sqlite3"
    named.parent.mkdir()
    env.setenv("DATABASE_URL", f"sqlite:///{named}")
    config = gateway_settings._database()
    assert config["ENGINE"] == "django.db.backends.sqlite3" and config["NAME"] == str(named)
    assert config["OPTIONS"] == default["OPTIONS"]
    assert {k: v for k, v in config.items() if k != "NAME"} == {
        k: v for k, v in default.items() if k != "NAME"
    }
    assert oct(named.stat().st_mode & 0o777) == "0o600"  # private, as the default file is


@pytest.fixture
def named(
    env: pytest.MonkeyPatch, tmp_path: Path, django_db_blocker: Any
) -> Iterator[BaseDatabaseWrapper]:
    """A connection to a file named by ``DATABASE_URL``, opened as Django opens it: the
    file one the default setup made before (so in WAL mode, which a file keeps)."""
    path = tmp_path / "named.sqlite3"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE invite (id integer primary key, used integer)")
        db.execute("INSERT INTO invite (used) VALUES (0)")
    env.setenv("DATABASE_URL", f"sqlite:///{path}")
    connection = ConnectionHandler({"default": gateway_settings._database()})["default"]
    # transaction.atomic looks its connection up in django.db.connections
    env.setattr(transaction, "get_connection", lambda using=None: connection)
    with django_db_blocker.unblock():
        try:
            yield connection
        finally:
            connection.close()


def test_another_writer_between_a_read_and_a_write_waits_its_turn(
    named: BaseDatabaseWrapper,
) -> None:
    """What accepting an invite does (read the invite, then write it, in one transaction)
    while another process writes the same file: the other writer waits for the lock
    (here with no patience at all, so the test never waits) and the transaction that
    read first commits. Before, the other writer went first and the reader's write
    failed at once with "database is locked" (a 500)."""
    other = sqlite3.connect(named.settings_dict["NAME"], timeout=0, isolation_level=None)
    with closing(other):
        with transaction.atomic(), named.cursor() as cursor:
            cursor.execute("SELECT used FROM invite WHERE id = 1")
            assert cursor.fetchone() == (0,)
            try:
                other.execute("UPDATE invite SET used = used + 10 WHERE id = 1")
                told_to_wait = False
            except sqlite3.OperationalError as exc:
                assert "database is locked" in str(exc)
                told_to_wait = True
            cursor.execute("UPDATE invite SET used = used + 1 WHERE id = 1")
        assert told_to_wait
        other.execute("UPDATE invite SET used = used + 10 WHERE id = 1")  # its turn now
        assert other.execute("SELECT used FROM invite").fetchone() == (11,)  # both wrote


def test_a_connection_django_closed_is_set_up_again_when_reused(
    named: BaseDatabaseWrapper,
) -> None:
    """The settings' ``factory`` (``gateway.base.sqlite_reuse``): the next request's
    connection is the one the last request closed, and Django sets it up as a new one
    (autocommit, foreign keys, BEGIN IMMEDIATE), whatever the last left behind."""
    named.ensure_connection()
    first = named.connection
    named.set_autocommit(False)
    with named.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys = OFF")
        cursor.execute("UPDATE invite SET used = 5 WHERE id = 1")  # never committed
    named.close()
    named.ensure_connection()
    assert named.connection is first
    assert named.get_autocommit()
    with named.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys")
        assert cursor.fetchone() == (1,)
        cursor.execute("SELECT used FROM invite WHERE id = 1")
        assert cursor.fetchone() == (0,)
    other = sqlite3.connect(named.settings_dict["NAME"], timeout=0, isolation_level=None)
    with closing(other), transaction.atomic():
        assert first.in_transaction  # IMMEDIATE: the write lock is taken at BEGIN
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            other.execute("UPDATE invite SET used = 9 WHERE id = 1")
