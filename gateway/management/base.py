"""The base of Switchyard's management commands: every failure is one line on stderr
and a non-zero exit, never a traceback (``--traceback`` still shows one)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from gateway.telemetry import audit

_NO_TABLE = ("no such table", "does not exist")


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def database_problem(exc: DatabaseError) -> str:
    message = one_line(str(exc)) or type(exc).__name__
    if any(marker in message for marker in _NO_TABLE):
        message += " (is the database migrated? run: manage.py migrate)"
    return f"database error: {message}"


def _os_user() -> str:
    """Who runs the command, as the operating system knows them."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name (a container without /etc/passwd entry)
        return ""


class GatewayCommand(BaseCommand):
    # Django's system checks import the URL conf (the console's views, the API and its
    # schemas): 0.4-0.9 s of CPU before each command did its work, and before ``serve``
    # handed over to the supervisor. They are ``manage.py check``'s job (CI runs it:
    # tests/gateway/server/test_settings.py), not every command's.
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        """A usage mistake is argparse's one ``error:`` line (``--help`` shows usage)."""
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.print_usage = lambda file=None: None
        return parser

    def execute(self, *args: Any, **options: Any) -> Any:

        command = type(self).__module__.rpartition(".")[2]
        actor = audit.Actor("command", f"manage.py {command}", _os_user(), "command")
        try:
            with audit.acting(actor):  # changes it makes are in the audit log as its own
                return super().execute(*args, **options)
        except (CommandError, KeyboardInterrupt, SystemExit):
            raise
        except DatabaseError as exc:
            if options.get("traceback"):
                raise
            raise CommandError(database_problem(exc)) from None
        except Exception as exc:  # a bug or the environment: still one clear line
            if options.get("traceback"):
                raise
            detail = one_line(str(exc))
            raise CommandError(
                f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
            ) from None
