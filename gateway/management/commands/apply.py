"""``manage.py apply -f config.yaml [--dry-run] [--prune]`` (``switchyard apply``): make
the registry what a LiteLLM-compatible config file says, for config kept in git
(gateway.ops.apply). Applying the same file again changes nothing.

``--dry-run`` prints the plan (``+`` added, ``~`` changed, ``-`` removed) and exits 2
when the registry differs from the file (0 and "no changes" when it matches), so a CI
job can fail on drift; any error exits 1. ``-f -`` reads the file from stdin."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser

from gateway.management.base import GatewayCommand, one_line
from gateway.management.commands.import_config import read_config
from gateway.ops.apply import apply_config, plan_apply
from gateway.ops.litellm.parse import ConfigError, parse_config

DRIFT = 2  # the exit status of a dry run that found changes


class Command(GatewayCommand):
    help = (
        "Apply a LiteLLM-compatible config.yaml declaratively: create, change and remove "
        "what the file manages (config as code)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "-f", "--file", required=True, help="the config file (- reads standard input)"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print the plan and change nothing; exit 2 when there is drift, 0 when in sync",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="also remove routes, providers, teams, MCP servers and guardrails made in "
            "the console that the file does not name",
        )

    def handle(self, *args: Any, file: str, dry_run: bool, prune: bool, **options: Any) -> None:
        text = sys.stdin.read() if file == "-" else read_config(file)
        where = "stdin" if file == "-" else file
        try:
            config = parse_config(text)
            config.operator = True  # the operator's own file: stdio MCP servers may come in
            plan = plan_apply(config, prune=prune)
            if not plan.has_changes:
                self.stdout.write(f"no changes: the registry matches {where}")
                self.write_notes(plan.warnings, plan.notes)
                return
            self.stdout.write(plan.describe())
            if dry_run:
                raise CommandError(
                    f"drift: {where} differs from the registry (dry run, nothing was changed)",
                    returncode=DRIFT,
                )
            result = apply_config(config, prune=prune)
        except ConfigError as exc:
            raise CommandError(one_line(f"{where}: {exc}")) from None
        self.stdout.write(self.style.SUCCESS(f"applied: {result.summary()}"))

    def write_notes(self, warnings: list[str], notes: list[str]) -> None:
        for note in notes:
            self.stdout.write(f"note: {note}")
        for warning in warnings:
            self.stdout.write(f"warning: {warning}")
