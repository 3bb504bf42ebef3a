"""``manage.py rebuild_rollups [--since 7d | --since 2025-01-31T00:00]``: recompute the
hourly usage rollups from RequestLog, for existing data (rows logged before rollups
existed) and after a restore. Hours before ``--since`` keep their rollups; the
default start is the oldest hour RequestLog still holds in full."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime

from gateway.management.base import GatewayCommand
from gateway.telemetry import rollups, spend
from gateway.telemetry.ages import parse_age


def parse_since(text: str) -> datetime:
    """An age (``7d``, ``12h``) before now, or an ISO date or datetime (naive: UTC)."""
    try:
        return datetime.now(UTC) - parse_age(text)
    except ValueError:
        pass
    moment: datetime | None
    try:
        moment = parse_datetime(text)
        if moment is None and (day := parse_date(text)) is not None:
            moment = datetime(day.year, day.month, day.day)
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"--since takes an age (7d, 12h) or an ISO date/datetime: {text!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(GatewayCommand):
    help = "Recompute the dashboard's hourly usage rollups from the request logs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            default=None,
            help="age (7d, 12h) or ISO date/datetime, floored to the hour "
            "(default: the oldest hour the logs hold in full)",
        )

    def handle(self, *args: Any, since: str | None, **options: Any) -> None:
        start = parse_since(since) if since else None
        read, written = rollups.rebuild(start)
        spent = spend.rebuild(start)
        self.stdout.write(
            f"Rebuilt {written} rollup row(s) and {spent} spend rollup row(s) "
            f"from {read} request log(s)."
        )
