"""``manage.py export_config [--output FILE]``: the registry as a LiteLLM config.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from gateway.management.base import GatewayCommand
from gateway.ops.litellm.export import export_config


class Command(GatewayCommand):
    help = "Write the registry as a LiteLLM proxy config.yaml (stdout by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="write to this file instead of stdout")
        parser.add_argument(
            "--include-secrets",
            action="store_true",
            help="write stored literal API keys in clear (default: os.environ/NAME references)",
        )

    def handle(self, *args: Any, output: str | None, include_secrets: bool, **options: Any) -> None:
        text = export_config(include_secrets=include_secrets)
        if not output:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror or exc}") from None
        self.stderr.write(f"wrote {output}")
