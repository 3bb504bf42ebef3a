"""``manage.py import_config FILE [--dry-run] [--strict] [--add]``: import a LiteLLM proxy
config.yaml. Forgiving by default: what cannot be imported is listed as skipped and
the rest goes in; ``--strict`` imports all or nothing. A route the file names gets the
file's deployments (its others are removed) unless ``--add`` keeps them beside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from gateway.management.base import GatewayCommand, one_line
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.parse import ConfigError, parse_config
from gateway.ops.litellm.plan import ADD, REPLACE, plan_import


def read_config(file: str) -> str:
    """The file's text, or a CommandError saying why it cannot be read."""
    try:
        return Path(file).read_text(encoding="utf-8")
    except IsADirectoryError:
        raise CommandError(f"cannot read {file}: it is a directory") from None
    except OSError as exc:
        raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise CommandError(
            f"cannot read {file}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start})"
        ) from None


class Command(GatewayCommand):
    help = "Import a LiteLLM proxy config.yaml (routes, deployments, providers, master key)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path to the LiteLLM config.yaml")
        parser.add_argument(
            "--dry-run", action="store_true", help="print what would change and change nothing"
        )
        parser.add_argument(
            "--add",
            action="store_true",
            help="keep the deployments of existing routes that the file does not list "
            "(their traffic is then split with the file's); default: replace them",
        )
        parser.add_argument(
            "--allow-weak-master-key",
            action="store_true",
            help="import a short or well-known general_settings.master_key (sk-1234) as a "
            "live key anyway; default: it is left out with a warning",
        )
        parser.add_argument(
            "--strict",
            action="store_true",
            help="import nothing if any entry or setting cannot be imported",
        )

    def handle(
        self, *args: Any, file: str, dry_run: bool, strict: bool, add: bool, **options: Any
    ) -> None:
        text = read_config(file)
        try:
            config = parse_config(text)  # strict is checked once planned: every problem named
            config.strict = strict
            config.allow_weak_master_key = bool(options.get("allow_weak_master_key"))
            config.operator = True  # the operator's own file: stdio MCP servers may come in
            plan = plan_import(config, ADD if add else REPLACE)
            self.stdout.write(plan.describe())
            if dry_run:
                self.stdout.write(f"dry run, nothing was changed: {plan.summary('to import')}")
                return
            if not plan.has_changes:
                self.stdout.write(f"summary: {plan.summary('unchanged')}")
                return
            result = apply_plan(plan)
        except ConfigError as exc:
            raise CommandError(one_line(f"{file}: {exc}")) from None
        self.stdout.write(self.style.SUCCESS(f"imported: {result.summary()}"))
        self.stdout.write(f"summary: {result.totals}")
