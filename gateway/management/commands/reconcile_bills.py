"""``manage.py reconcile_bills [--days N] [--since YYYY-MM-DD]``: read the providers'
bills now (the sources whose admin key is set) and write the drift per provider, route
and day (gateway/features/billing). Without options: the last ``SWITCHYARD_BILL_RECONCILE_DAYS``
whole UTC days."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser

from gateway.features.billing import runner, sources
from gateway.management.base import GatewayCommand


class Command(GatewayCommand):
    help = "Reconcile the journal with the providers' own bills now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="whole UTC days back")
        parser.add_argument("--since", default=None, help="first day (YYYY-MM-DD), to today")

    def handle(self, *args: Any, days: int | None, since: str | None, **options: Any) -> None:
        if not sources.configured():
            names = ", ".join(s.key_setting for s in sources.SOURCES.values())
            raise CommandError(f"no provider's admin key is set: set one of {names}")
        if since is not None:
            try:
                first = date.fromisoformat(since)
            except ValueError:
                raise CommandError(f"--since must be a date YYYY-MM-DD, got {since!r}") from None
            last = datetime.now(UTC).date()
            if first >= last:
                raise CommandError("--since must be before today (whole days only)")
        else:
            if days is not None and days < 1:
                raise CommandError("--days must be at least 1")
            first, last = runner.window(days or runner.days_back())
        outcome = asyncio.run(runner.run(first, last))
        for name, rows in outcome.rows.items():
            alerted = ", ".join(outcome.alerted.get(name, [])) or "none"
            self.stdout.write(f"{name}: {rows} rows for {first} to {last}; alerted: {alerted}")
        for name, error in outcome.errors.items():
            self.stderr.write(f"{name}: {error}")
        if outcome.errors and not outcome.rows:
            raise CommandError("no bill could be read")
