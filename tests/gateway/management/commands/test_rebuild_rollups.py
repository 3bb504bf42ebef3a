"""``manage.py rebuild_rollups --since AGE``: rebuilds the hourly usage rollups from the
journal, the same rows the batch writer built, and repairs damaged ones."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from gateway.models import UsageRollup
from tests.gateway.telemetry.test_rollups import records, snapshot, write


@pytest.mark.django_db
def test_rebuild_reproduces_what_the_writer_built() -> None:
    write(records(500))
    built = snapshot()
    UsageRollup.objects.all().delete()
    call_command("rebuild_rollups", "--since", "30d")
    assert snapshot() == built
    UsageRollup.objects.filter(route="fast").update(requests=999)  # damaged, then repaired
    call_command("rebuild_rollups", "--since", "30d")
    assert snapshot() == built


def test_since_takes_an_age_or_an_iso_date_read_as_utc() -> None:
    from datetime import UTC, datetime, timedelta

    from django.core.management import CommandError

    from gateway.management.commands.rebuild_rollups import parse_since

    before = datetime.now(UTC)
    assert before - timedelta(hours=12, seconds=5) < parse_since("12h") <= before
    assert parse_since("2025-01-31") == datetime(2025, 1, 31, tzinfo=UTC)
    assert parse_since("2025-01-31T06:30") == datetime(2025, 1, 31, 6, 30, tzinfo=UTC)
    assert parse_since("2025-01-31T06:30+02:00").utcoffset() == timedelta(hours=2)
    for bad in ("soon", "2025-13-45"):
        with pytest.raises(CommandError, match="--since"):
            parse_since(bad)
