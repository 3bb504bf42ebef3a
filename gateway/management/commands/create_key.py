"""``manage.py create_key --name NAME [--routes a,b] [--rpm N] [--tpm N]
[--budget USD --period day|month|total] [--expires DATE]``: create an API key and print
it once (only its hash is stored)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from gateway.access.keys import create_key
from gateway.management.base import GatewayCommand
from gateway.models import ApiKey

OPTION_FOR_FIELD = {
    "name": "--name",
    "routes": "--routes",
    "rpm_limit": "--rpm",
    "tpm_limit": "--tpm",
    "budget_usd": "--budget",
    "budget_period": "--period",
    "expires_at": "--expires",
}


class Command(GatewayCommand):
    help = "Create an API key (printed once) with optional route list, limits and budget."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="who or what the key is for")
        parser.add_argument(
            "--routes", default="", help="allowed routes, comma separated (default: all)"
        )
        parser.add_argument("--rpm", default=None, help="requests per minute")
        parser.add_argument("--tpm", default=None, help="tokens per minute")
        parser.add_argument("--budget", default=None, help="USD budget per period")
        parser.add_argument(
            "--period", default=ApiKey.Period.MONTH, help="budget period: day, month or total"
        )
        parser.add_argument("--expires", default=None, help="YYYY-MM-DD or ISO datetime (UTC)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            created = create_key(
                name=options["name"],
                routes=options["routes"],
                rpm_limit=options["rpm"],
                tpm_limit=options["tpm"],
                budget_usd=options["budget"],
                budget_period=options["period"],
                expires_at=options["expires"],
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{OPTION_FOR_FIELD.get(field, field)}: {' '.join(messages)}"
                for field, messages in exc.message_dict.items()
            )
            raise CommandError(f"key not created: {problems}") from None
        key = created.key
        self.stdout.write(f"Created key {key.name!r} (id {key.pk}). It is shown only once:")
        self.stdout.write(created.raw)
