"""``manage.py import_config FILE [--dry-run]``: import a LiteLLM proxy config.yaml."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway.litellm_config import ConfigError, apply_plan, parse_config, plan_import


class Command(BaseCommand):
    help = "Import a LiteLLM proxy config.yaml (routes, deployments, providers, master key)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path to the LiteLLM config.yaml")
        parser.add_argument(
            "--dry-run", action="store_true", help="print what would change and change nothing"
        )

    def handle(self, *args, file: str, dry_run: bool, **options) -> None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None
        try:
            plan = plan_import(parse_config(text))
            self.stdout.write(plan.describe())
            if dry_run:
                self.stdout.write("dry run: nothing was changed")
                return
            if not plan.has_changes:
                return
            result = apply_plan(plan)
        except ConfigError as exc:
            raise CommandError(f"{file}: {exc}") from None
        self.stdout.write(self.style.SUCCESS(f"imported: {result.summary()}"))
