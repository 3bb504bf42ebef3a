"""``manage.py update_catalog FILE``: refresh the model catalog (prices and their tiers,
context windows, capabilities) from a Switchyard catalog file or LiteLLM's
``model_prices_and_context_window.json``: a path, ``-`` for standard input, or an
``https://`` address (LiteLLM's current map, without waiting for a release)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, transaction

from gateway.access.signals import registry_changed
from gateway.catalog import CatalogError, store, update


class Command(BaseCommand):
    help = (
        "Refresh the model catalog from a Switchyard catalog file or LiteLLM's "
        "model_prices_and_context_window.json; changes go to data/catalog.json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", help="path of the file, - for standard input, or an https:// address"
        )
        parser.add_argument(
            "--date",
            default=datetime.now(UTC).date().isoformat(),
            help="the date the figures were read (YYYY-MM-DD; default today)",
        )

    def handle(self, *args: Any, file: str, date: str, **options: Any) -> None:
        try:
            datetime.strptime(date, "%Y-%m-%d")
        except ValueError:
            raise CommandError(f"--date must be YYYY-MM-DD, got {date!r}") from None
        try:
            if update.is_address(file):
                raw = update.download(file)
            else:
                raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None
        except CatalogError as exc:
            raise CommandError(str(exc)) from None
        name = "standard input" if file == "-" else file
        try:
            report = update.apply(raw, date)
        except CatalogError as exc:
            raise CommandError(f"{name}: {exc}") from None
        for line in report.lines():
            self.stdout.write(line)
        if not (report.added or report.updated):
            self.stdout.write("nothing changed")
            return
        self.stdout.write(self.style.SUCCESS(f"catalog written to {store.override_path()}"))

        try:
            with transaction.atomic():  # every worker rebuilds its snapshot, re-reading it
                registry_changed()
        except DatabaseError as exc:
            self.stderr.write(
                f"could not tell running workers ({type(exc).__name__}: {exc}); they read "
                "the new catalog at the next registry change or restart"
            )
