"""The ``switchyard`` command: ``up`` migrates, seeds and serves one worker a core (or
``SWITCHYARD_WORKERS``) with the arguments it was given; anything else is a management
command passed through; a bad setting is one line and exit status 1."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from gateway.ops import cli


def test_the_switchyard_cli_passes_apply_through(monkeypatch) -> None:
    from gateway.ops import cli

    seen: list[list[str]] = []
    monkeypatch.setattr(
        "django.core.management.execute_from_command_line", lambda argv: seen.append(argv)
    )
    cli.main(["apply", "-f", "config.yaml", "--dry-run"])
    assert seen == [["switchyard", "apply", "-f", "config.yaml", "--dry-run"]]


@pytest.fixture
def ran(monkeypatch) -> list:
    seen: list = []
    monkeypatch.setattr("django.setup", lambda: None)
    monkeypatch.setattr(
        "django.core.management.call_command", lambda *args, **kw: seen.append((args, kw))
    )
    monkeypatch.setattr(
        "django.core.management.execute_from_command_line", lambda argv: seen.append(argv)
    )
    return seen


def test_up_migrates_seeds_and_serves(ran, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SWITCHYARD_WORKERS", "3")
    cli.main(["up", "--port", "9000"])
    assert ran == [
        (("migrate",), {"interactive": False, "verbosity": 0}),
        (("seed_demo",), {}),
        ["switchyard", "serve", "--no-migrate", "--workers", "3", "--port", "9000"],
    ]
    assert capsys.readouterr().out.startswith("data folder: ")


def test_up_serves_one_worker_a_core_and_no_arguments_is_help(ran, monkeypatch) -> None:
    monkeypatch.delenv("SWITCHYARD_WORKERS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    cli.main(["up"])
    assert ran[-1] == ["switchyard", "serve", "--no-migrate", "--workers", "6"]
    cli.main([])
    assert ran[-1] == ["switchyard", "help"]


def test_a_bad_setting_is_one_line_and_exit_status_1(monkeypatch, capsys) -> None:
    def refuse(argv):
        raise ImproperlyConfigured("SWITCHYARD_X must be a number")

    monkeypatch.setattr("django.core.management.execute_from_command_line", refuse)
    with pytest.raises(SystemExit) as exited:
        cli.main(["check"])
    assert exited.value.code == 1
    assert capsys.readouterr().err == "configuration error: SWITCHYARD_X must be a number\n"
