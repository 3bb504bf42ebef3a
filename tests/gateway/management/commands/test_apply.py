"""``manage.py apply`` / ``switchyard apply``: exit codes a CI job relies on (2 on drift
in a dry run, 0 in sync, 1 on any error naming the place), ``-f -`` from stdin."""

from __future__ import annotations

import io
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from gateway.models import Route
from tests.gateway.ops.test_apply import CONFIG, MASTER, console_route


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DOCS_MCP_TOKEN"):
        monkeypatch.setenv(name, f"value-of-{name}")
    monkeypatch.setenv("APPLY_MASTER_KEY", MASTER)


def run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("apply", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


@pytest.mark.django_db
def test_command_dry_run_exits_2_on_drift_and_0_in_sync(env: None, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    code, out = run("-f", str(path), "--dry-run")
    assert code == 2 and "  + route chat" in out and "drift:" in out
    assert Route.objects.count() == 0
    code, out = run("-f", str(path))
    assert code == 0 and "applied:" in out
    code, out = run("-f", str(path), "--dry-run")
    assert (code, out.splitlines()[0]) == (0, f"no changes: the registry matches {path}")
    console_route()
    code, out = run("-f", str(path), "--dry-run", "--prune")
    assert code == 2 and "  - route console-made" in out


@pytest.mark.django_db
def test_command_errors_exit_1_naming_the_place(env: None, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.replace("os.environ/DOCS_MCP_TOKEN", "tok-literal"))
    code, out = run("-f", str(path))
    assert code == 1 and "mcp_servers.docs.auth_value: a literal secret" in out
    assert run("-f", str(tmp_path / "missing.yaml"))[0] == 1


@pytest.mark.django_db
def test_command_reads_the_file_from_stdin(env: None, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(CONFIG))
    code, out = run("-f", "-")
    assert code == 0 and "applied:" in out
    monkeypatch.setattr("sys.stdin", io.StringIO(CONFIG))
    code, out = run("-f", "-", "--dry-run")
    assert (code, out.splitlines()[0]) == (0, "no changes: the registry matches stdin")
