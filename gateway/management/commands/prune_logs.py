"""``manage.py prune_logs --older-than 30d``: delete journal rows (and their bodies)
older than an age (``90m``, ``12h``, ``30d``), then the body parts no log left can name
(``journal.prune_parts``), in small batches so that a running gateway keeps writing
meanwhile. Without ``--older-than``: the retention setting."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from gateway.journal import PRUNE_BATCH, prune, prune_parts
from gateway.management.base import GatewayCommand
from gateway.telemetry.ages import parse_age


class Command(GatewayCommand):
    help = "Delete request logs older than an age (e.g. 30d, 12h, 90m)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            default=None,
            help="age such as 30d, 12h or 90m (default: SWITCHYARD_LOG_RETENTION_DAYS)",
        )
        parser.add_argument("--batch-size", type=int, default=PRUNE_BATCH)

    def handle(self, *args: Any, older_than: str | None, batch_size: int, **options: Any) -> None:
        if older_than is None:
            days = settings.SWITCHYARD_LOG_RETENTION_DAYS
            if not days:
                raise CommandError(
                    "SWITCHYARD_LOG_RETENTION_DAYS is 0 (keep forever): pass --older-than"
                )
            age = timedelta(days=days)
        else:
            try:
                age = parse_age(older_than)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        deleted = prune(age, batch_size=batch_size)
        parts = prune_parts(batch_size=batch_size)
        self.stdout.write(
            f"Deleted {deleted} request log(s) older than {age} and {parts} body part(s) "
            "no log names any more."
        )
