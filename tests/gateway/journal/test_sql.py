"""What the journal stores does not depend on the shortcuts its SQLite adapters take:
rows written by ``write_batch`` hold the values, and the SQLite types, that rows made
with Django's own adapters hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from gateway import journal
from gateway.journal import Record, rows, sql
from gateway.models import RequestBody, RequestLog
from gateway.telemetry.redaction import configured_secrets
from tests.gateway.journal.records import full_record

# what is compared is SQLite's: its adapters and its column types (PostgreSQL's
# adapters are Django's own)
pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's adapters")


def variants() -> list[Record]:
    """Records covering each adapted kind of value: flags both ways, amounts with and
    without places (and in exponent form), times with and without microseconds, bodies
    cut and whole, a record without its bodies."""
    return [
        full_record("plain", created_at=1_700_000_000.0, stream=False, cost_usd=None),
        full_record(
            "flags",
            created_at=1_700_000_123.456789,
            stream=True,
            from_playground=True,
            client_disconnected=True,
            cache_hit=True,
            cost_usd=Decimal("0.00000410"),
            cache_saved_usd=Decimal("1E-8"),
        ),
        full_record(
            "costly",
            created_at=1_700_003_600.5,
            key_id=None,
            status=502,
            cost_usd=Decimal("12.5"),
            cache_saved_usd=Decimal("0.12345678"),
            tags=("a", "b"),
            outbound_response=b"x" * 200,
        ),
        full_record("shed", created_at=1_700_000_001.25, bodies_shed=True),
    ]


def stored(table: str, key: str, ids: list[int]) -> list[tuple[object, ...]]:
    """Every column but the row's own ids, each as (SQLite type, value), in ``ids`` order."""
    with connection.cursor() as cursor:
        cursor.execute(f'PRAGMA table_info("{table}")')
        names = [row[1] for row in cursor.fetchall()]
        kept = [n for n in names if n not in ("id", "request_id", "log_id")]
        picked = ", ".join(f'typeof("{n}"), CAST("{n}" AS TEXT)' for n in kept)
        cursor.execute(
            f'SELECT "{key}", {picked} FROM "{table}" WHERE "{key}" IN ({",".join(map(str, ids))})'
        )
        found = {row[0]: row[1:] for row in cursor.fetchall()}
    return [found[i] for i in ids]


def write_with_djangos_adapters(records: list[Record]) -> list[int]:
    """The records inserted with Django's datetime adapter and flags and amounts left to
    the driver's adapter registry (what ``write_batch`` did before its own adapters)."""
    adapt_json = sql._adapters().json
    secrets = configured_secrets()
    logs = [
        rows.log_values(rec, secrets, connection.ops.adapt_datetimefield_value, adapt_json)[0]
        for rec in records
    ]
    ids = sql._insert(RequestLog, rows.LOG_COLUMNS, logs, returning=True)
    bodies = [rows.body_values(rec, 100, secrets) for rec in records]
    body_rows = [(i, *b) for i, b in zip(ids, bodies, strict=True) if b is not None]
    sql._insert(RequestBody, rows.BODY_COLUMNS, body_rows, returning=False)
    return ids


@pytest.mark.django_db(transaction=True)
def test_rows_hold_what_djangos_adapters_would_have_stored(settings) -> None:
    settings.SWITCHYARD_LOG_BODY_MAX_BYTES = 100  # "costly" has its response cut
    ours = journal.write_batch(variants())
    theirs = write_with_djangos_adapters(variants())
    assert stored("gateway_requestlog", "id", ours) == stored("gateway_requestlog", "id", theirs)
    ours_bodies = stored("gateway_requestbody", "log_id", ours)
    assert ours_bodies == stored("gateway_requestbody", "log_id", theirs)
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT typeof("truncated"), "truncated" FROM "gateway_requestbody" '
            f'WHERE "log_id" IN ({",".join(map(str, ours))}) ORDER BY "log_id"'
        )
        assert cursor.fetchall() == [("integer", 0), ("integer", 0), ("integer", 1), ("integer", 1)]


@pytest.mark.django_db
@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    )
)
def test_the_sqlite_time_adapter_makes_djangos_text(moment: datetime) -> None:
    assert sql._sqlite_time()(moment) == connection.ops.adapt_datetimefield_value(moment)


@pytest.mark.django_db
def test_amounts_that_are_not_decimals_are_left_to_the_driver() -> None:
    assert sql._decimal_text(Decimal("1E-8")) == "1E-8"
    assert sql._decimal_text(0.5) == 0.5  # type: ignore[arg-type]
