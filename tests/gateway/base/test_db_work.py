"""Background database work (gateway.base.db_work): a connection that died is discarded and
the next unit of work connects afresh; an outage is logged once, and its end once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import django.db
import pytest
from django.db import OperationalError, connection

from gateway.base import db_work
from gateway.journal import background
from gateway.journal.background import Writer
from gateway.models import RegistryState, RequestLog
from tests.gateway.journal.test_background import FakeStore, make, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _read() -> int:
    return RegistryState.objects.count()


class DeadAfterRestart:
    """What Django holds for a PostgreSQL connection whose server restarted: the test
    database (SQLite in memory) is never really closed, so its wrapper cannot show it."""

    vendor = "postgresql"
    in_atomic_block = False
    settings_dict = {"OPTIONS": {}}

    def __init__(self) -> None:
        self.connection: object | None = object()
        self.errors_occurred = False
        self.closed = 0
        self.pool = None

    def is_usable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed += 1
        self.connection = None

    def close_if_unusable_or_obsolete(self) -> None:  # Django's rule, as in BaseDatabaseWrapper
        if self.connection is not None and self.errors_occurred and not self.is_usable():
            self.close()


@pytest.fixture
def dead(monkeypatch: pytest.MonkeyPatch) -> DeadAfterRestart:
    conn = DeadAfterRestart()
    monkeypatch.setattr(django.db.connections, "all", lambda initialized_only=False: [conn])
    return conn


def test_a_connection_that_failed_is_discarded_and_the_next_unit_connects(dead) -> None:
    def lost() -> None:
        dead.errors_occurred = True
        raise OperationalError("the connection is closed")

    with pytest.raises(OperationalError):
        db_work.run(lost)
    assert dead.connection is None and dead.closed >= 1

    def reconnects() -> str:
        assert dead.connection is None  # nothing dead is reused
        dead.connection, dead.errors_occurred = object(), False
        return "ok"

    assert db_work.run(reconnects) == "ok"


def test_a_dead_connection_left_by_earlier_work_is_dropped_before_the_next(dead) -> None:
    dead.errors_occurred = True  # failed in work that was not run through db_work
    seen: list[object | None] = []
    db_work.run(lambda: seen.append(dead.connection))
    assert seen == [None]


def test_a_healthy_sqlite_connection_is_kept_between_units(monkeypatch) -> None:
    db_work.run(_read)
    closes: list[int] = []
    monkeypatch.setattr(connection, "close", lambda: closes.append(1))
    for _ in range(3):
        db_work.run(_read)
    assert closes == []  # CONN_MAX_AGE 0 would reopen it (and its PRAGMAs) every tick


def test_an_outage_is_logged_once_and_its_end_once(caplog) -> None:
    log = logging.getLogger("gateway.test")
    outage = db_work.Outage("test loop", log)
    with caplog.at_level(logging.INFO, logger="gateway.test"):
        outage.recovered()  # nothing to say while all is well
        for _ in range(5):
            outage.failed(OperationalError("the connection is closed\nmore detail"))
        outage.recovered()
        outage.recovered()
        outage.failed(OperationalError("connection refused"))
        outage.recovered()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in lines] == ["WARNING", "INFO", "WARNING", "INFO"]
    assert lines[0][1] == (
        "test loop: database unavailable (OperationalError: the connection is closed); "
        "retrying until it is back"
    )
    assert lines[1][1].startswith("test loop: database reachable again after ")
    assert outage.failures == 6


async def test_an_attempt_answers_its_work_or_none_and_counts_in_the_outage() -> None:
    outage = db_work.Outage("test loop", logging.getLogger("gateway.test"))

    async def down() -> int:
        raise OperationalError("connection refused")

    async def up() -> int:
        return 7

    assert await outage.attempt(down) is None
    assert outage.since is not None and outage.failures == 1
    assert await outage.attempt(up) == 7
    assert outage.since is None


async def test_the_journal_writer_warns_once_per_outage(fast_backoff, caplog) -> None:
    store = FakeStore(fail=6)
    writer = Writer(store, capacity=100, flush_seconds=0.01, batch_size=50, notify=False)
    with caplog.at_level(logging.INFO, logger="gateway.journal"):
        for rec in make(5):
            writer.record(rec)
        await wait_for(lambda: len(store.ids) == 5)
        await writer.drain()
    messages = [r.getMessage() for r in caplog.records if r.name == "gateway.journal"]
    assert writer.failures == 6
    assert sum("journal writer: database unavailable" in m for m in messages) == 1, messages
    assert sum("journal writer: database reachable again" in m for m in messages) == 1
    assert background.MIN_BACKOFF_SECONDS == 0.01  # the fixture applied


def test_rows_older_than_a_retention_are_deleted_in_batches_and_the_rest_kept() -> None:
    now = datetime.now(UTC)
    RequestLog.objects.bulk_create(
        RequestLog(request_id=f"r{days}", created_at=now - timedelta(days=days))
        for days in (1, 10, 40, 50, 60)
    )
    assert db_work.delete_older(RequestLog.objects, timedelta(days=30), 1, max_batches=2) == 2
    assert db_work.delete_older(RequestLog.objects, timedelta(days=30), 10) == 1
    assert sorted(RequestLog.objects.values_list("request_id", flat=True)) == ["r1", "r10"]
